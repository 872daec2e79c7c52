"""Knowledge base: an article can be revised. A revision is a draft of its own, reviewed like any article; approved,
its text replaces the published article's (same address, same figures) and the revision is kept as "merged".

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_article") as batch:
        batch.add_column(sa.Column("revises_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("revised_status", sa.String(length=16), nullable=True))
        batch.create_index("ix_kb_article_revises_id", ["revises_id"])
        batch.create_foreign_key("fk_kb_article_revises_id", "kb_article", ["revises_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("kb_article") as batch:
        batch.drop_constraint("fk_kb_article_revises_id", type_="foreignkey")
        batch.drop_index("ix_kb_article_revises_id")
        batch.drop_column("revised_status")
        batch.drop_column("revises_id")
