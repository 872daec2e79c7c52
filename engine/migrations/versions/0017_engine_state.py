"""What the engine saves per step (issue 11 item 6): no schema change.

An instance's state already names its spec by hash (the spec stored once in process_spec) and SpiffWorkflow stores
each task's data as a delta against its parent, so the format stays. A state written with the spec inside still
loads (engine/runtime.py) and is saved by reference at its next step, so no stored state needs rewriting here.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
