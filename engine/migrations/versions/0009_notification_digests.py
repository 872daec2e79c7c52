"""Notifications without storms: each staff user's choice per kind of notice (immediate, digest, none), and on
the outbox whom a staff message is for, its kind and the digest that carried it (held rows wait there).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notification_preference",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("username", sa.String(length=100),
                              sa.ForeignKey("app_user.username", ondelete="CASCADE"), nullable=False),
                    sa.Column("kind", sa.String(length=16), nullable=False),
                    sa.Column("mode", sa.String(length=16), nullable=False),
                    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
                    sa.UniqueConstraint("username", "kind", name="uq_notification_preference_user_kind"))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("recipient", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_outbox_digest_id_outbox", "outbox", ["digest_id"], ["id"])
        batch.create_index("ix_outbox_digest_id", ["digest_id"])
        batch.create_index("ix_outbox_recipient_status", ["recipient", "status"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_recipient_status")
        batch.drop_index("ix_outbox_digest_id")
        batch.drop_constraint("fk_outbox_digest_id_outbox", type_="foreignkey")
        batch.drop_column("digest_id")
        batch.drop_column("kind")
        batch.drop_column("recipient")
    op.drop_table("notification_preference")
