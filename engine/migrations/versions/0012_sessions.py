"""Server-side staff sessions and login throttling (issue 11 item 4): `staff_session` (browser sessions and API
tokens, stored hashed, revocable), `login_throttle` (failures per address, username and both); the per-user
lockout columns of 0001 go, since anyone could lock anyone out with them.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("staff_session",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
                    sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
                    sa.Column("kind", sa.String(length=8), nullable=False),
                    sa.Column("address", sa.String(length=64), nullable=True),
                    sa.Column("created_at", TZ, nullable=False),
                    sa.Column("last_seen_at", TZ, nullable=False),
                    sa.Column("expires_at", TZ, nullable=False),
                    sa.Column("revoked_at", TZ, nullable=True))
    op.create_index("ix_staff_session_user_id", "staff_session", ["user_id"])
    op.create_table("login_throttle",
                    sa.Column("key", sa.String(length=64), primary_key=True),
                    sa.Column("failures", sa.Integer(), nullable=False),
                    sa.Column("last_failure_at", TZ, nullable=True),
                    sa.Column("blocked_until", TZ, nullable=True),
                    sa.Column("last_success_at", TZ, nullable=True),
                    sa.Column("updated_at", TZ, nullable=False))
    op.create_index("ix_login_throttle_updated_at", "login_throttle", ["updated_at"])
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("failed_logins")
        batch.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", TZ, nullable=True))
    op.drop_index("ix_login_throttle_updated_at", table_name="login_throttle")
    op.drop_table("login_throttle")
    op.drop_index("ix_staff_session_user_id", table_name="staff_session")
    op.drop_table("staff_session")
