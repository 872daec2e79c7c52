"""Alembic environment: runs on the connection the engine hands over (see engine.db.migrate)."""
from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from engine.models import Base

config = context.config
connection = config.attributes.get("connection")


def _run(conn: Any) -> None:
    context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is None:  # alembic CLI: -x url=...
    url = context.get_x_argument(as_dictionary=True)["url"]
    with create_engine(url).connect() as conn:
        _run(conn)
else:
    _run(connection)
