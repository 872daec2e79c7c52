"""Rows the save path writes with plain statements instead of through the ORM's flush.

Saving a step changes a handful of rows it already holds as objects (the instance, its ticket, the open tasks, the
search document) and opens a task or two. Through the ORM each change waited for the flush at commit, whose
bookkeeping (change histories, dependency sort, one statement built per object) took some 15 % of a lifecycle's
CPU in a profile, the statements it ran 2 %. Here each change is one prepared UPDATE or INSERT run at once on the
unit's connection, and the object is told the new values as committed, so the flush finds nothing to do and the
object still reads as the row now is. Changes made through the ORM to an object written here, and not flushed yet,
go out in the same statement, so the row is written once.

What the ORM still does: objects that are not yet rows (pending), writes inside a savepoint (the ORM expires what a
savepoint rolled back; an object told a value here as committed would keep it after its row lost it), and every
change made elsewhere. The instance's optimistic version check is kept: an UPDATE that finds the row at another
version raises the ORM's own StaleDataError (a Conflict to the caller, engine/uow.py), as does an UPDATE that finds
no row at all.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.dml import Update

from . import appends, plain_sql
from .models_base import Base

_KEY, _VERSION = "rows_key", "rows_version"  # bind names that cannot clash with a column's
_updates: dict[tuple[Table, bool], Update] = {}
_selects: dict[Any, Select[Any]] = {}


def _update_of(table: Table, versioned: bool) -> Update:
    """One UPDATE per table; the columns it sets are the parameters it is given, so SQLAlchemy caches one compiled
    form per set of columns."""
    statement = _updates.get((table, versioned))
    if statement is None:
        (key,) = table.primary_key.columns
        where = key == bindparam(_KEY)
        if versioned:
            where = where & (table.c.lock_version == bindparam(_VERSION))
        statement = _updates[(table, versioned)] = table.update().where(where)
    return statement


def update(session: Session, obj: Base, values: dict[str, Any]) -> None:
    """Write the columns of `values` that differ from `obj`'s into its row now, `obj` showing them as committed.
    An object that is not a row yet, or one changed inside a savepoint, takes them as plain attributes (the flush
    writes them)."""
    changed = {name: value for name, value in values.items() if getattr(obj, name) != value}
    if changed:
        _write(session, obj, changed, versioned=False)


def update_versioned(session: Session, obj: Base, values: dict[str, Any]) -> None:
    """`update` for a row under optimistic locking (`lock_version`): the row is written only at the version `obj`
    was read at, and moves to the next; found at another version, StaleDataError (someone else saved it)."""
    _write(session, obj, dict(values), versioned=True)


def write_changes(session: Session, obj: Base) -> None:
    """Write the columns changed on `obj` through the ORM and not flushed yet now, with one plain UPDATE (the flush
    at commit then finds nothing to do); left to the flush when a relationship changed too or `obj` is not a row."""
    state = sa_inspect(obj)
    columns = {prop.key for prop in _attributes(type(obj))}
    if state.persistent and state.committed_state and set(state.committed_state) <= columns:
        _write(session, obj, {}, versioned=False)


def _write(session: Session, obj: Base, values: dict[str, Any], *, versioned: bool) -> None:
    state = sa_inspect(obj)
    if not state.persistent or session.in_nested_transaction():
        for name, value in values.items():
            setattr(obj, name, value)
        return
    for name in list(state.committed_state):  # changed through the ORM and not flushed yet: in the same statement
        values.setdefault(name, getattr(obj, name))
    table: Table = obj.__table__  # type: ignore[assignment]
    (key,) = table.primary_key.columns
    ident = getattr(obj, key.key)
    params = {_KEY: ident}
    if versioned:
        version: int = obj.lock_version  # type: ignore[attr-defined]
        values["lock_version"] = version + 1
        params[_VERSION] = version
    matched = plain_sql.execute(session.connection(), _update_of(table, versioned), {**values, **params})
    if matched != 1:  # as the ORM's flush: a row saved or deleted behind the object's back is not overwritten
        raise StaleDataError(f"{table.name} {ident} was changed or removed by someone else")
    for name, value in values.items():
        set_committed_value(obj, name, value)
    if not state.committed_state and state.modified and hasattr(state, "_commit_all"):
        # nothing of it left unwritten: off the session's list of changed objects, as a flush leaves it (else the
        # commit's flush walks it to find nothing, some 0.15 ms); not public API, hence the guard
        state._commit_all(state.dict, session.identity_map)


def value(session: Session, column: Any, key: Any) -> Any:
    """`column` of the row with primary key `key` (None when there is no such row): from the object the session
    holds for it, which shows the unit's own changes, else read with one plain SELECT instead of loading an object.
    Inside a savepoint, through the ORM."""
    model = column.class_
    orm, row = _through_orm(session, model, key)
    if orm:
        return getattr(row, column.key) if row is not None else None
    statement = _selects.get(column)
    if statement is None:
        (primary,) = model.__table__.primary_key.columns
        statement = _selects[column] = select(column).where(primary == bindparam(_KEY))
    found = plain_sql.read(session.connection(), statement, {_KEY: key})
    return found[0][0] if found else None


def read(session: Session, statement: plain_sql.Query, params: dict[str, Any]) -> list[Any]:
    """The rows of a prebuilt SELECT of columns, read below SQLAlchemy's result machinery (plain_sql.read) when the
    unit has nothing waiting to be written; otherwise through the session, which writes it first (autoflush, appended
    rows) so the read sees the unit's own changes. Inside `session.no_autoflush` it reads what is stored: changes
    not yet flushed are not seen (a caller turning autoflush off says they cannot matter; `ticket_detail` at archive
    flushes first)."""
    if _through_session(session):
        return list(session.execute(statement, params))
    return plain_sql.read(session.connection(), statement, params)


def _through_session(session: Session) -> bool:
    """Whether a read must go through the session: it would write something first (autoflush, appended rows), or the
    unit is inside a savepoint."""
    return (session.autoflush and bool(session.new or session.dirty or session.deleted)) or \
        appends.pending(session) or session.in_nested_transaction()


def _columns_of(model: type[Base]) -> list[Any]:
    """The columns of `model`'s table in the order `load` builds objects from them."""
    return [prop.columns[0] for prop in _attributes(model)]


def _attributes(model: type[Base]) -> list[Any]:
    found = _mapped.get(model)
    if found is None:
        found = _mapped[model] = list(sa_inspect(model).column_attrs)
    return found


_mapped: dict[type[Base], list[Any]] = {}


def load(session: Session, statement: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of `statement`, a prebuilt query of whole entities, as objects of the session, each built from a
    plain row of their columns without the ORM's loading (None for an entity an outer join left empty), as the
    query itself would give them. Through the query when the session already holds one of the objects (the ORM
    keeps it, or overwrites it with populate_existing), or when plain reads cannot see the unit's own changes."""
    if _through_session(session):
        return [tuple(row) for row in session.execute(statement, params)]
    models, plain = _plain_form(statement)
    parts: list[list[tuple[type[Base], Any, tuple[Any, ...]]]] = []
    for row in plain_sql.read(session.connection(), plain, params):
        start, part = 0, list[tuple[type[Base], Any, tuple[Any, ...]]]()
        for model in models:
            width = len(_attributes(model))
            values = tuple(row[start:start + width])
            start += width
            identity = sa_inspect(model).identity_key_from_primary_key(
                tuple(values[i] for i, prop in enumerate(_attributes(model)) if prop.columns[0].primary_key))
            if identity[1] == (None,) * len(identity[1]):
                part.append((model, None, values))
            elif identity in session.identity_map:
                return [tuple(r) for r in session.execute(statement, params)]
            else:
                part.append((model, identity, values))
        parts.append(part)
    built: dict[Any, Base] = {}  # a row repeated by a join is one object, as the ORM makes it
    return [tuple(None if identity is None else built.get(identity) or
                  built.setdefault(identity, _adopt(session, model, identity, values))
                  for model, identity, values in part) for part in parts]


def _plain_form(statement: Any) -> tuple[tuple[type[Base], ...], plain_sql.Query]:
    """The entities `statement` selects and the same query selecting their columns instead (its joins, conditions
    and locking kept), made once per query."""
    found = _plain_forms.get(statement)
    if found is None:
        models = tuple(described["entity"] for described in statement.column_descriptions)
        columns = [column for model in models for column in _columns_of(model)]
        found = _plain_forms[statement] = (models, statement.with_only_columns(*columns))
    return found


_plain_forms: dict[Any, tuple[tuple[type[Base], ...], plain_sql.Query]] = {}


def _adopt(session: Session, model: type[Base], identity: Any, values: tuple[Any, ...]) -> Base:
    """A persistent object of `model` in `session` with the row's `values`, as loaded (no statement). As the ORM's
    loading does it (its identity key, its session, into the identity map): session.add of a detached object does
    the same with cascades and events, a third of the time saved; that public way where this SQLAlchemy has not the
    identity map's method (it is not public API)."""
    obj: Base = sa_inspect(model).class_manager.new_instance()
    state = instance_state(obj)
    state.dict.update(zip((prop.key for prop in _attributes(model)), values, strict=True))
    identity_map: Any = session.identity_map
    if not hasattr(identity_map, "_add_unpresent"):
        make_transient_to_detached(obj)
        session.add(obj)
        return obj
    state.key, state.session_id = identity, session.hash_key
    identity_map._add_unpresent(state, identity)
    return obj


def update_key(session: Session, model: type[Base], key: Any, values: dict[str, Any]) -> None:
    """`update` for the row of `model` with primary key `key`, whether or not the session holds it as an object."""
    orm, row = _through_orm(session, model, key)
    if orm:
        if row is not None:
            update(session, row, values)
        return
    table: Table = model.__table__  # type: ignore[assignment]
    plain_sql.execute(session.connection(), _update_of(table, False), {**values, _KEY: key})


def _through_orm(session: Session, model: type[Base], key: Any) -> tuple[bool, Base | None]:
    """(True, the object or None) when the row is to be read and written through the ORM: the session holds it
    as an object (which shows the unit's own changes), or the unit is inside a savepoint; else (False, None)."""
    held: Base | None = session.identity_map.get(sa_inspect(model).identity_key_from_primary_key((key,)))
    if held is not None:
        return True, held
    if session.in_nested_transaction():
        return True, session.get(model, key)
    return False, None


def insert_row(session: Session, model: type[Base], values: dict[str, Any]) -> None:
    """Insert one row of `model` now (columns left out get their defaults); inside a savepoint, an ORM object the
    flush inserts."""
    if session.in_nested_transaction():
        session.add(model(**values))
        return
    table: Table = model.__table__  # type: ignore[assignment]
    plain_sql.execute(session.connection(), plain_sql.insert_of(table), values)
