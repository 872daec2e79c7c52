"""Idempotency keys for ticket creation (issue 11 item 5).

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("idempotency_key",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("scope", sa.String(length=120), nullable=False),
                    sa.Column("key", sa.String(length=255), nullable=False),
                    sa.Column("fingerprint", sa.String(length=64), nullable=False),
                    sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id", ondelete="CASCADE"),
                              nullable=True),
                    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
                    sa.UniqueConstraint("scope", "key", name="uq_idempotency_key_scope_key"))
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_created_at", table_name="idempotency_key")
    op.drop_table("idempotency_key")
