"""Task list at 100,000 tickets: covering indexes for each filter and keyset paging (issue 11 item 6).

The list filters on ticket facts (a fault's severity, the customer, the resolve deadline) and sorts by the ticket
number; joined from `ticket` no index could serve a filter and the order together. Each open task now carries a copy
of those facts (kept current by engine/projection.py while the task is open), and every filter the list offers has an
index that starts with `state` and the filter and ends with the sort key and `id`, the keyset (engine/worklist.py).
The role index (state, role, due_at, id, ...) replaces 0003's (state, role, due_at).

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COLUMNS = (("ticket_number", sa.String(length=32)), ("ticket_customer_id", sa.Integer()),
           ("ticket_severity", sa.Integer()), ("ticket_resolve_due", sa.DateTime(timezone=True)))
INDEXES = (
    ("ix_human_task_list_due", ["state", "due_at", "id", "role", "assignee", "ticket_severity", "ticket_customer_id",
                                "ticket_resolve_due"]),
    ("ix_human_task_list_role", ["state", "role", "due_at", "id", "assignee", "ticket_severity",
                                 "ticket_customer_id", "ticket_resolve_due"]),
    ("ix_human_task_list_assignee", ["state", "assignee", "due_at", "id"]),
    ("ix_human_task_list_severity", ["state", "ticket_severity", "due_at", "id"]),
    ("ix_human_task_list_customer", ["state", "ticket_customer_id", "due_at", "id"]),
    ("ix_human_task_list_resolve_due", ["state", "ticket_resolve_due", "due_at", "id", "role", "assignee",
                                        "ticket_severity", "ticket_customer_id"]),
    ("ix_human_task_list_created", ["state", "created_at", "id"]),
    ("ix_human_task_list_by_severity", ["state", "ticket_severity", "id"]),
    ("ix_human_task_list_number", ["state", "ticket_number", "id"]),
)
# The copies for the tasks open now; later ones are written by the projection.
BACKFILL = """
UPDATE human_task SET
  ticket_number = (SELECT t.number FROM ticket t WHERE t.id = human_task.ticket_id),
  ticket_customer_id = (SELECT t.customer_id FROM ticket t WHERE t.id = human_task.ticket_id),
  ticket_severity = (SELECT CASE WHEN t.category = 'fault' THEN t.severity END FROM ticket t
                     WHERE t.id = human_task.ticket_id),
  ticket_resolve_due = (SELECT t.resolve_due FROM ticket t WHERE t.id = human_task.ticket_id)
WHERE state = 'open' AND ticket_id IS NOT NULL
"""


def upgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.execute(BACKFILL)
    with op.batch_alter_table("human_task") as batch:
        batch.drop_index("ix_human_task_open_role_due")
        for name, columns in INDEXES:
            batch.create_index(name, columns)


def downgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        for name, _ in reversed(INDEXES):
            batch.drop_index(name)
        batch.create_index("ix_human_task_open_role_due", ["state", "role", "due_at"])
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
