"""Workbench: a note on each deployment (what changed, or which version it rolls back to), the index that
counts running cases per process version, and the processes directory's files as last deployed from there.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deployment", sa.Column("note", sa.String(length=500), nullable=True))
    op.create_index("ix_instance_version_status", "instance", ["version_id", "status"])
    op.create_table("directory_file",
                    sa.Column("name", sa.String(length=200), primary_key=True),
                    sa.Column("sha256", sa.String(length=64), nullable=False),
                    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False))


def downgrade() -> None:
    op.drop_table("directory_file")
    op.drop_index("ix_instance_version_status", table_name="instance")
    op.drop_column("deployment", "note")
