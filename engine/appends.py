"""Rows a unit of work only appends (timeline events, queued e-mail), written together instead of one by one.

The ORM inserts each new timeline event on its own (`INSERT … RETURNING id`: it must learn every row's key), and a
step adds three to six of them with its mail; profiling a lifecycle put a tenth of its time there. Nothing in a
unit needs these rows as objects, so a session that opted in (`enable`, done by engine/uow.py) collects their
values and writes them with one multi-row INSERT per table:

- before any statement the session executes at its outermost level, so every read in the unit sees them, and before
  a flush there, so rows the ORM writes later get later ids; except inside `held` (a block whose reads do not
  depend on what it appends: saving a case, engine/projection.py);
- before the unit commits;
- just before a savepoint begins, on the enclosing transaction's connection, so rolling back the savepoint
  cannot take rows that were added outside it.

Rows added inside a savepoint are plain ORM objects (`session.add`): they come and go with it. A unit that
rolls back drops what it collected. A session that did not opt in gets plain ORM objects too.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from . import plain_sql
from .models_base import Base

_ROWS = "aftercare_appends"
_ENABLED = "aftercare_appends_on"
_HELD = "aftercare_appends_held"


def enable(session: Session) -> None:
    """Let `add` collect rows of this session (its unit of work writes them; see the module docstring)."""
    session.info[_ENABLED] = True


def add(session: Session, model: type[Base], **values: Any) -> None:
    """Append one row of `model` in this unit of work."""
    if not session.info.get(_ENABLED) or session.in_nested_transaction():
        session.add(model(**values))
        return
    session.info.setdefault(_ROWS, []).append((model.__table__, values))


def pending(session: Session) -> bool:
    """Whether the session holds collected rows that a read through it now would write first (not inside `held`)."""
    return bool(session.info.get(_ROWS)) and not session.info.get(_HELD)


@contextmanager
def held(session: Session) -> Iterator[None]:
    """A block whose reads need none of the rows it appends: they are written after it, together."""
    outer = session.info.get(_HELD, False)
    session.info[_HELD] = True
    try:
        yield
    finally:
        session.info[_HELD] = outer


def write(session: Session, connection: Connection | None = None) -> None:
    """Insert what the session collected, one statement per run of rows of the same table and columns, in the order
    added."""
    rows: list[tuple[Table, dict[str, Any]]] | None = session.info.pop(_ROWS, None)
    if not rows:
        return
    conn = connection if connection is not None else session.connection()
    start = 0
    for end in range(1, len(rows) + 1):
        if end == len(rows) or rows[end][0] is not rows[start][0] or rows[end][1].keys() != rows[start][1].keys():
            plain_sql.execute(conn, plain_sql.insert_of(rows[start][0]), [values for _, values in rows[start:end]])
            start = end


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    session = state.session
    if _ROWS in session.info and not session.info.get(_HELD) and not session.in_nested_transaction():
        write(session)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _flush_context: object, _instances: object) -> None:
    # an explicit flush writes ORM rows (a message, its own timeline event): what was appended before goes first,
    # so ids keep the order things happened in
    if _ROWS in session.info and not session.info.get(_HELD) and not session.in_nested_transaction():
        write(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if _ROWS in session.info and not session.in_nested_transaction():
        write(session)


@event.listens_for(Session, "after_transaction_create")
def _before_savepoint(session: Session, transaction: SessionTransaction) -> None:
    # the savepoint is not on the connection yet: the enclosing transaction's connection writes before it
    if transaction.nested and _ROWS in session.info and transaction.parent is not None:
        write(session, transaction.parent.connection(None))


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if not previous.nested:  # the unit rolled back: what it collected goes with it
        session.info.pop(_ROWS, None)
