"""Customer contracts: tier, warranty, free-maintenance scope, calendar, inspection cadence, SLA overrides.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("warranty_end", sa.Date(), nullable=True),
        sa.Column("free_scope", sa.JSON(), nullable=False),
        sa.Column("calendar", sa.String(length=16), nullable=False),
        sa.Column("inspection_months", sa.Integer(), nullable=False),
        sa.Column("next_inspection_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_overrides", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index("ix_contract_customer_id", "contract", ["customer_id"])
    op.create_index("ix_contract_next_inspection_at", "contract", ["next_inspection_at"])
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("contract_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_ticket_contract", "contract", ["contract_id"], ["id"])
        batch.create_index("ix_ticket_contract_id", ["contract_id"])


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index("ix_ticket_contract_id")
        batch.drop_constraint("fk_ticket_contract", type_="foreignkey")
        batch.drop_column("contract_id")
    op.drop_index("ix_contract_next_inspection_at", table_name="contract")
    op.drop_index("ix_contract_customer_id", table_name="contract")
    op.drop_table("contract")
