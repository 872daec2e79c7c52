"""The save path's writes run on the database driver's cursor, each statement compiled once per dialect.

The rows a step writes (engine/rows.py) and the rows it appends (engine/appends.py) are plain UPDATEs and INSERTs
built once per table. Executed through SQLAlchemy's Connection, each still paid for an execution context, the
compiled-cache lookup, parameter processing through several layers and a result object: 29 µs for one UPDATE of an
instance where the cursor takes 11 µs (measured 2026-12-07, SQLite). Here the statement is compiled once for the
connection's dialect and the set of columns given, and each execution applies the columns' own bind processors (the
same functions SQLAlchemy applies: UTC datetimes, JSON) and hands the values to the driver's cursor.

Reads the same way (`read`): a prebuilt SELECT of columns, its rows built with the columns' own result processors
as plain named tuples, for the reads made on every request or e-mail (a session's check, an e-mail's facts).

What stays as it was: the statement text and parameters are those SQLAlchemy would send; a driver error is raised as
the exception SQLAlchemy would raise for it (sqlalchemy.exc.IntegrityError, OperationalError, DataError ...), so the
unit of work maps it as before (a busy database is a Conflict, a value the database refuses a 422). A connection
with listeners on its statements (tests that inject failures, the bench's statement counter) runs the statement
through SQLAlchemy, so they see it.
"""
from __future__ import annotations

import contextlib
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Select, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None
Query = Select[*tuple[Any, ...]]  # a SELECT of any columns


class _Compiled:
    """A statement's text for one dialect and set of parameters, with the processor of each parameter."""

    __slots__ = ("sql", "order", "positional")

    def __init__(self, statement: UpdateBase, connection: Connection, names: tuple[str, ...]) -> None:
        dialect = connection.dialect
        # compiled as for executemany: no RETURNING of the new key, which nothing here reads (PostgreSQL added one)
        compiled = statement.compile(dialect=dialect, column_keys=list(names), for_executemany=True)
        self.sql = compiled.string
        self.positional = compiled.positional
        binds = compiled.binds
        ordered = compiled.positiontup if compiled.positional else list(binds)
        self.order: list[tuple[str, Processor]] = [
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in ordered or ()]

    def arguments(self, values: dict[str, Any]) -> Any:
        if self.positional:
            return tuple(values[name] if process is None else process(values[name]) for name, process in self.order)
        return {name: values[name] if process is None else process(values[name]) for name, process in self.order}


_compiled: dict[tuple[UpdateBase, tuple[str, ...], Any], _Compiled | None] = {}
_inserts: dict[Table, Insert] = {}


def _dialect_key(connection: Connection) -> tuple[str, str, str]:
    """What a compiled statement and its processors depend on: the database, the driver and its parameter style."""
    dialect = connection.dialect
    return dialect.name, dialect.driver, dialect.paramstyle


def insert_of(table: Table) -> Insert:
    """The one INSERT statement of `table` (its columns are those each execution gives)."""
    statement = _inserts.get(table)
    if statement is None:
        statement = _inserts[table] = insert(table)
    return statement


def execute(connection: Connection, statement: UpdateBase, values: dict[str, Any] | Sequence[dict[str, Any]]) -> int:
    """Run `statement` (built once, not a new object per call) with one set of `values` or, for a list, with each
    set (every set naming the same parameters); the number of rows it matched."""
    many = not isinstance(values, dict)
    first: dict[str, Any] = values[0] if many else values  # type: ignore[index,assignment]
    names = tuple(first)
    key = (statement, names, _dialect_key(connection))
    if key not in _compiled:
        _compiled[key] = _compile(statement, connection, names)
    compiled = _compiled[key]
    if compiled is None or connection.dispatch.before_cursor_execute:
        return int(connection.execute(statement, values).rowcount)
    return _run(connection, compiled, values, many)


def _compile(statement: UpdateBase, connection: Connection, names: tuple[str, ...]) -> _Compiled | None:
    compiled = _Compiled(statement, connection, names)
    # a statement whose parameters SQLAlchemy renames or expands at execution (none of the save path's) keeps its path
    plain = {name for name, _ in compiled.order} <= set(names) and "POSTCOMPILE" not in compiled.sql
    return compiled if plain else None


def _run(connection: Connection, compiled: _Compiled, values: Any, many: bool) -> int:
    with _cursor(connection, compiled.sql, values) as cursor:
        if many:
            cursor.executemany(compiled.sql, [compiled.arguments(v) for v in values])
        else:
            cursor.execute(compiled.sql, compiled.arguments(values))
        return int(cursor.rowcount)


@contextlib.contextmanager
def _cursor(connection: Connection, sql: str, values: Any) -> Iterator[Any]:
    """A cursor of the connection's driver connection; a driver error raised as SQLAlchemy raises it."""
    dialect = connection.dialect
    driver_error = dialect.loaded_dbapi.Error
    driver_connection = connection.connection.dbapi_connection
    cursor = None
    try:
        cursor = driver_connection.cursor()  # type: ignore[union-attr]
        yield cursor
    except driver_error as exc:
        # as SQLAlchemy does: a lost connection is invalidated, so rolling the unit back does not fail again and the
        # pool does not hand it out; the error says so (connection_invalidated)
        lost = dialect.is_disconnect(exc, driver_connection, cursor)
        error = DBAPIError.instance(sql, values, exc, driver_error, connection_invalidated=lost, dialect=dialect)
        if lost:
            connection.invalidate(exc)
        raise error from exc
    finally:
        if cursor is not None:
            with contextlib.suppress(driver_error):
                cursor.close()


# -- reads ---------------------------------------------------------------------------------------------------------


class _Read:
    """A SELECT of columns compiled for one dialect: its text, how to bind its parameters, how to build its rows."""

    __slots__ = ("sql", "positional", "order", "types", "row", "processors")

    def __init__(self, statement: Query, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql, self.positional = compiled.string, compiled.positional
        binds = compiled.binds
        names = compiled.positiontup if compiled.positional else list(binds)
        # (name, the value written into the statement or _GIVEN when the caller gives it, processor)
        self.order = [(name, _GIVEN if binds[name].required else binds[name].effective_value,
                       binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names or ()]
        self.types: list[TypeEngine[Any]] = [column.type for column in statement.selected_columns]
        self.row: Any = namedtuple("Row", list(statement.selected_columns.keys()), rename=True)  # type: ignore[misc]
        self.processors: list[Processor] | None = None  # on the first run: they may depend on the driver's types

    def arguments(self, params: dict[str, Any]) -> Any:
        values = [(name, params.get(name, fixed), process) for name, fixed, process in self.order]
        missing = [name for name, value, _ in values if value is _GIVEN]
        if missing:
            raise KeyError(f"no value for the parameter(s) {', '.join(missing)}")
        if self.positional:
            return tuple(value if process is None else process(value) for _, value, process in values)
        return {name: value if process is None else process(value) for name, value, process in values}


_reads: dict[tuple[Query, Any], _Read | None] = {}
_GIVEN = object()  # a parameter the caller gives


def read(connection: Connection, statement: Query, params: dict[str, Any]) -> list[Any]:
    """The rows of `statement` (a SELECT of columns, built once) with `params`, as named tuples (attributes by the
    columns' keys, unpacking by position); values as SQLAlchemy would give them. A statement of whole entities, or
    one SQLAlchemy expands at execution (IN of a list), runs through SQLAlchemy, as on a connection with listeners."""
    key = (statement, _dialect_key(connection))
    if key not in _reads:
        _reads[key] = _compile_read(statement, connection.dialect)
    compiled = _reads[key]
    if compiled is None or connection.dispatch.before_cursor_execute:
        return list(connection.execute(statement, params))
    arguments = compiled.arguments(params)
    with _cursor(connection, compiled.sql, arguments) as cursor:
        cursor.execute(compiled.sql, arguments)
        found = cursor.fetchall()
        processors = compiled.processors
        if processors is None:
            dialect = connection.dialect
            processors = compiled.processors = [type_.dialect_impl(dialect).result_processor(dialect, described[1])
                                                for type_, described in zip(compiled.types, cursor.description,
                                                                            strict=True)]
    make = compiled.row._make
    if not any(processors):
        return [make(row) for row in found]
    return [make([value if process is None else process(value) for value, process in zip(row, processors, strict=True)])
            for row in found]


def _compile_read(statement: Query, dialect: Any) -> _Read | None:
    if not all(isinstance(described["type"], TypeEngine) for described in statement.column_descriptions):
        return None  # whole entities: ORM objects, not rows
    compiled = _Read(statement, dialect)
    return None if "POSTCOMPILE" in compiled.sql else compiled
