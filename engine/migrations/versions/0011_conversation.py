"""Talking with the customer (issue 10): contacts of customers and the customer's own e-mail domains; the
ticket's conversation (messages, attachments sent with one); the log of inbound mail; the pause of the resolve
clock while waiting for the customer; the knowledge base (articles and their readings).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("domains", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table("contact",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customer.id"), nullable=False),
                    sa.Column("name", sa.String(length=200), nullable=False),
                    sa.Column("email", sa.String(length=320), nullable=False, unique=True),
                    sa.Column("phone", sa.String(length=50), nullable=True),
                    sa.Column("language", sa.String(length=8), nullable=False, server_default="zh-CN"),
                    sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
                    sa.Column("created_at", TZ, nullable=False))
    op.create_index("ix_contact_customer_id", "contact", ["customer_id"])
    op.create_table("message",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
                    sa.Column("at", TZ, nullable=False),
                    sa.Column("author", sa.String(length=320), nullable=False),
                    sa.Column("author_kind", sa.String(length=16), nullable=False),
                    sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.false()),
                    sa.Column("body", sa.Text(), nullable=False),
                    sa.Column("source", sa.String(length=16), nullable=False),
                    sa.Column("email_message_id", sa.String(length=300), nullable=True, unique=True))
    op.create_index("ix_message_ticket_at", "message", ["ticket_id", "at"])
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("contact_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("contact_phone", sa.String(length=50), nullable=True))
        batch.add_column(sa.Column("paused_at", TZ, nullable=True))
        batch.add_column(sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0"))
        batch.create_foreign_key("fk_ticket_contact_id_contact", "contact", ["contact_id"], ["id"])
        batch.create_index("ix_ticket_contact_id", ["contact_id"])
    with op.batch_alter_table("attachment") as batch:
        batch.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_attachment_message_id_message", "message", ["message_id"], ["id"])
        batch.create_index("ix_attachment_message_id", ["message_id"])
    op.create_table("inbound_mail",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("message_id", sa.String(length=300), nullable=True, unique=True),
                    sa.Column("from_addr", sa.String(length=320), nullable=False),
                    sa.Column("subject", sa.String(length=500), nullable=False, server_default=""),
                    sa.Column("size", sa.Integer(), nullable=False, server_default="0"),
                    sa.Column("outcome", sa.String(length=32), nullable=False),
                    sa.Column("reason", sa.Text(), nullable=True),
                    sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=True),
                    sa.Column("received_at", TZ, nullable=False))
    op.create_index("ix_inbound_mail_ticket_id", "inbound_mail", ["ticket_id"])
    op.create_index("ix_inbound_mail_received_at", "inbound_mail", ["received_at"])
    op.create_table("kb_article",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("title", sa.String(length=300), nullable=False),
                    sa.Column("body", sa.Text(), nullable=False),
                    sa.Column("module", sa.String(length=100), nullable=True),
                    sa.Column("tags", sa.JSON(), nullable=False),
                    sa.Column("status", sa.String(length=16), nullable=False, server_default="draft"),
                    sa.Column("source_ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=True),
                    sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=True, unique=True),
                    sa.Column("author", sa.String(length=100), nullable=False),
                    sa.Column("reviewed_by", sa.String(length=100), nullable=True),
                    sa.Column("published_at", TZ, nullable=True),
                    sa.Column("views", sa.Integer(), nullable=False, server_default="0"),
                    sa.Column("deflections", sa.Integer(), nullable=False, server_default="0"),
                    sa.Column("created_at", TZ, nullable=False),
                    sa.Column("updated_at", TZ, nullable=False))
    op.create_index("ix_kb_article_status", "kb_article", ["status"])
    op.create_index("ix_kb_article_source_ticket_id", "kb_article", ["source_ticket_id"])
    op.create_table("kb_view",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("article_id", sa.Integer(), sa.ForeignKey("kb_article.id"), nullable=False),
                    sa.Column("visit", sa.String(length=64), nullable=False),
                    sa.Column("source", sa.String(length=16), nullable=False),
                    sa.Column("filed_ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=True),
                    sa.Column("at", TZ, nullable=False))
    op.create_index("ix_kb_view_article_id", "kb_view", ["article_id"])
    op.create_index("ix_kb_view_visit", "kb_view", ["visit"])


def downgrade() -> None:
    op.drop_table("kb_view")
    op.drop_table("kb_article")
    op.drop_table("inbound_mail")
    with op.batch_alter_table("attachment") as batch:
        batch.drop_index("ix_attachment_message_id")
        batch.drop_constraint("fk_attachment_message_id_message", type_="foreignkey")
        batch.drop_column("message_id")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index("ix_ticket_contact_id")
        batch.drop_constraint("fk_ticket_contact_id_contact", type_="foreignkey")
        for column in ("paused_seconds", "paused_at", "contact_phone", "contact_id"):
            batch.drop_column(column)
    op.drop_table("message")
    op.drop_table("contact")
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("domains")
