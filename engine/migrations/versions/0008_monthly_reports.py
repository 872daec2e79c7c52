"""Monthly service reports (月度服务报告): one per customer and month, started by the scheduler on the first
working day of the next month; the figures frozen when the case starts, the manager's analysis and measures,
an internal note that never reaches the customer, and when it was sent.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("monthly_report",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customer.id"), nullable=False),
                    sa.Column("month", sa.String(length=7), nullable=False),
                    sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=True, unique=True),
                    sa.Column("figures", sa.JSON(), nullable=False),
                    sa.Column("analysis", sa.Text(), nullable=True),
                    sa.Column("measures", sa.Text(), nullable=True),
                    sa.Column("internal_note", sa.Text(), nullable=True),
                    sa.Column("reviewed_by", sa.String(length=100), nullable=True),
                    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
                    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
                    sa.UniqueConstraint("customer_id", "month", name="uq_monthly_report_customer_month"))
    op.create_index("ix_monthly_report_month", "monthly_report", ["month"])
    op.create_index("ix_human_task_step_state", "human_task", ["bpmn_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_human_task_step_state", table_name="human_task")
    op.drop_index("ix_monthly_report_month", table_name="monthly_report")
    op.drop_table("monthly_report")
