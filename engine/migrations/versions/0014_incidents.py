"""Incidents: cases parked when diagram code fails or exceeds its budget (issue 11 item 1).

A parked case has status "incident"; `error` (already there) holds the error, `incident_element` the diagram element
it failed at and `incident_at` since when. The index serves the incidents list; only parked cases have a value.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instance") as batch:
        batch.add_column(sa.Column("incident_element", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("incident_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_instance_incident_at", ["incident_at"])


def downgrade() -> None:
    with op.batch_alter_table("instance") as batch:
        batch.drop_index("ix_instance_incident_at")
        batch.drop_column("incident_at")
        batch.drop_column("incident_element")
