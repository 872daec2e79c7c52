"""Outbox: a stable Message-ID per row, short renewable claims, a due-rows index (issue 11 items 3, 6).

The sender used to find due mail through `next_attempt_at` alone and walked every sent row to do it. Partial
indexes now hold only the rows still to send: pending and held ones by due time, those being sent by lease expiry;
they replace both single-column indexes. (recipient, claimed_at) serves the digest rule's look at what a
person was sent in the last minutes. A row being sent carries a lease (expiry and the claiming sender's token)
instead of a fixed claim timeout; a claim older than this migration (its sender stopped for the upgrade) counts as
expired at once.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

PARTIAL = (("pending", "next_attempt_at"), ("held", "next_attempt_at"), ("sending", "lease_until"))


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("message_id", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_token", sa.String(length=32), nullable=True))
        batch.drop_index("ix_outbox_next_attempt_at")
        batch.drop_index("ix_outbox_status")
        batch.create_index("ix_outbox_recipient_claimed", ["recipient", "claimed_at"])
    op.execute("UPDATE outbox SET lease_until = claimed_at WHERE status = 'sending'")
    for status, column in PARTIAL:
        where = sa.text(f"status = '{status}'")
        op.create_index(f"ix_outbox_{status}", "outbox", [column], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for status, _column in PARTIAL:
        op.drop_index(f"ix_outbox_{status}", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_recipient_claimed")
        batch.create_index("ix_outbox_status", ["status"])
        batch.create_index("ix_outbox_next_attempt_at", ["next_attempt_at"])
        batch.drop_column("lease_token")
        batch.drop_column("lease_until")
        batch.drop_column("message_id")
