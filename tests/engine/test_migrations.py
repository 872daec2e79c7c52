"""The Alembic migrations build exactly the schema the models describe, on every backend."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.db import make_engine
from engine.models import Base

# The search index is one database's own kind of object (FTS5 tables on SQLite, a GIN expression index on
# PostgreSQL), made by migration 0007 only: no model can describe both.
SEARCH_INDEX = ("ticket_search_fts", "ix_ticket_search_tsv")


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    structural = [d for d in diff if isinstance(d, tuple) and d[0] in (
        "add_table", "remove_table", "add_column", "remove_column", "add_index", "remove_index")
        and not str(getattr(d[1], "name", "")).startswith(SEARCH_INDEX)]
    assert structural == []
