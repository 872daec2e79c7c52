"""Search and saved views: each ticket's search document (engine/search.py) with its index (FTS5 on SQLite, GIN on
PostgreSQL), the documents of the tickets already there, and the ticket lists users keep under a name.

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from engine.search import FTS_TABLE, TEXT_EVENTS, document

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SQLITE = [
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(document, content='ticket_search', content_rowid='ticket_id', "
    "tokenize='unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER ticket_search_ai AFTER INSERT ON ticket_search BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, document) VALUES (new.ticket_id, new.document); END",
    f"CREATE TRIGGER ticket_search_ad AFTER DELETE ON ticket_search BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, document) VALUES ('delete', old.ticket_id, old.document); END",
    f"CREATE TRIGGER ticket_search_au AFTER UPDATE ON ticket_search BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, document) VALUES ('delete', old.ticket_id, old.document); "
    f"INSERT INTO {FTS_TABLE}(rowid, document) VALUES (new.ticket_id, new.document); END",
]
_POSTGRES = ["CREATE INDEX ix_ticket_search_tsv ON ticket_search "
             "USING gin (array_to_tsvector(string_to_array(document, ' ')))"]

ticket = sa.table("ticket", sa.column("id", sa.Integer), sa.column("number", sa.String),
                  sa.column("title", sa.String), sa.column("description", sa.Text),
                  sa.column("customer_id", sa.Integer), sa.column("contact_name", sa.String),
                  sa.column("contact_email", sa.String))
customer = sa.table("customer", sa.column("id", sa.Integer), sa.column("name", sa.String))
timeline = sa.table("timeline_event", sa.column("ticket_id", sa.Integer), sa.column("kind", sa.String),
                    sa.column("data", sa.JSON))
search = sa.table("ticket_search", sa.column("ticket_id", sa.Integer), sa.column("document", sa.Text))


def upgrade() -> None:
    op.create_table("ticket_search",
                    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("ticket.id", ondelete="CASCADE"),
                              primary_key=True),
                    sa.Column("document", sa.Text, nullable=False))
    op.create_table("saved_view",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("username", sa.String(100), nullable=False),
                    sa.Column("name", sa.String(100), nullable=False),
                    sa.Column("query", sa.String(2000), nullable=False),
                    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
                    sa.UniqueConstraint("username", "name", name="uq_saved_view_user_name"))
    op.create_index("ix_saved_view_username", "saved_view", ["username"])
    bind = op.get_bind()
    for statement in _SQLITE if bind.dialect.name == "sqlite" else _POSTGRES:
        op.execute(statement)
    for rows in _backfill(bind):
        bind.execute(sa.insert(search), rows)


def _backfill(bind: Any, batch: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """The documents of the tickets already there, a batch at a time (the same texts engine.search indexes)."""
    names = dict(bind.execute(sa.select(customer.c.id, customer.c.name)).all())
    last = 0
    while True:
        rows = bind.execute(sa.select(ticket).where(ticket.c.id > last).order_by(ticket.c.id).limit(batch)).all()
        if not rows:
            return
        last = rows[-1].id
        texts: dict[int, list[Any]] = {r.id: [] for r in rows}
        for ticket_id, data in bind.execute(sa.select(timeline.c.ticket_id, timeline.c.data).where(
                timeline.c.ticket_id.in_(list(texts)), timeline.c.kind.in_(TEXT_EVENTS))):
            if isinstance(data, dict):
                texts[ticket_id].append(data.get("data") or data.get("body"))
        yield [{"ticket_id": r.id, "document": document([r.number, r.title, r.description, names.get(r.customer_id),
                                                         r.contact_name, r.contact_email, *texts[r.id]])}
               for r in rows]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("ticket_search_ai", "ticket_search_ad", "ticket_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    op.drop_table("saved_view")
    op.drop_table("ticket_search")
