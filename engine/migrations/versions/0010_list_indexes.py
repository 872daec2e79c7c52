"""Indexes for the ticket list at 100,000 tickets: sorting by last change, closing time and title, and the closed-on
filter, each walked in order instead of sorting every ticket (engine/ticket_list.py).

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = (("ix_ticket_updated_at", "updated_at"), ("ix_ticket_closed_at", "closed_at"), ("ix_ticket_title", "title"))


def upgrade() -> None:
    for name, column in INDEXES:
        op.create_index(name, "ticket", [column])


def downgrade() -> None:
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name="ticket")
