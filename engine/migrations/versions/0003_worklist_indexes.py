"""Indexes for the task list at 100,000 tickets.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_human_task_open_role_due", "human_task", ["state", "role", "due_at"])
    op.create_index("ix_human_task_assignee_state", "human_task", ["assignee", "state"])
    op.create_index("ix_ticket_severity", "ticket", ["severity"])


def downgrade() -> None:
    op.drop_index("ix_ticket_severity", table_name="ticket")
    op.drop_index("ix_human_task_assignee_state", table_name="human_task")
    op.drop_index("ix_human_task_open_role_due", table_name="human_task")
