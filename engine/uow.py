"""The unit of work: the only place in Aftercare that commits."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import appends
from .errors import Conflict, ValidationFailed
from .writers import Writers, writers_for

_AFTER_COMMIT = "aftercare_after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Call `callback` once the unit of work `session` belongs to has committed (never if it rolls back). Cheaper
    than a listener on the session's "after_commit" event, which SQLAlchemy registers and removes per session."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


class UnitOfWork:
    """Opens one transaction per command, timer firing or outbox send; commits once at the end."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write = engine.execution_options(aftercare_write=True)
        self._read = engine.execution_options(aftercare_write=False)
        # SQLite takes one writer at a time (BEGIN IMMEDIATE). Threads and processes queue for it here instead of in
        # SQLite's busy handler, which polls with sleeps of up to 100 ms (engine/writers.py). Re-entrant, so a write
        # unit opened inside another in the same thread behaves as it did before.
        self._writer: Writers | None = writers_for(engine.url.database) if engine.dialect.name == "sqlite" else None

    def _writing(self, write: bool) -> AbstractContextManager[object]:
        return self._writer if write and self._writer is not None else nullcontext()

    @contextmanager
    def __call__(self, *, write: bool = True) -> Iterator[Session]:
        """Yield a session; commit if the block succeeds, roll back everything if it raises."""
        with self._writing(write):
            yield from self._unit(write)

    def _unit(self, write: bool) -> Iterator[Session]:
        session = Session(bind=self._write if write else self._read, expire_on_commit=False, autoflush=True)
        appends.enable(session)
        try:
            yield session
            session.commit()
            for callback in session.info.pop(_AFTER_COMMIT, ()):
                callback()
        except StaleDataError as exc:
            session.rollback()
            raise Conflict("the case was changed by someone else; reload and try again") from exc
        except OperationalError as exc:
            session.rollback()
            if "could not obtain lock" in str(exc) or "database is locked" in str(exc):
                raise Conflict("the case is busy; try again") from exc
            raise
        except (DataError, OverflowError, UnicodeEncodeError) as exc:
            session.rollback()
            refused = _refused_value(exc)
            if refused is None:
                raise
            raise refused from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def _refused_value(exc: Exception) -> ValidationFailed | None:
    """A value the database would not take (a NUL in text on PostgreSQL, a number beyond the column, text longer than
    its column, a lone surrogate): the request's fault, a 422, never a server error. The edge refuses these first
    (api/validation.py); this is the net under it."""
    text = str(exc)
    if isinstance(exc, DataError) or "SQLite INTEGER" in text or "surrogates not allowed" in text:
        reason = ("a text contains a NUL character" if "NUL" in text else "a number is out of range"
                  if "out of range" in text or "INTEGER" in text else "a text is too long" if "too long" in text
                  else "a value the database cannot store")
        return ValidationFailed(f"the request has a value that cannot be stored: {reason}",
                                [{"field": "(request)", "message": reason}])
    return None
