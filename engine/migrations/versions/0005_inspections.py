"""Inspections: one row per contract and due date (the scheduler's guard against duplicates), the report
projected from the case, and tickets opened from an inspection's risks.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inspection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("signed_by", sa.String(length=200), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contract.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_id", "due_at", name="uq_inspection_contract_due"),
    )
    op.create_index("ix_inspection_ticket_id", "inspection", ["ticket_id"], unique=True)
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("origin_ticket_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_ticket_origin", "ticket", ["origin_ticket_id"], ["id"])
        batch.create_index("ix_ticket_origin_ticket_id", ["origin_ticket_id"])


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index("ix_ticket_origin_ticket_id")
        batch.drop_constraint("fk_ticket_origin", type_="foreignkey")
        batch.drop_column("origin_ticket_id")
    op.drop_index("ix_inspection_ticket_id", table_name="inspection")
    op.drop_table("inspection")
