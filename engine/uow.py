"""The unit of work: the only place in Aftercare that commits."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .errors import Conflict


class UnitOfWork:
    """Opens one transaction per command, timer firing or outbox send; commits once at the end."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write = engine.execution_options(aftercare_write=True)
        self._read = engine.execution_options(aftercare_write=False)

    @contextmanager
    def __call__(self, *, write: bool = True) -> Iterator[Session]:
        """Yield a session; commit if the block succeeds, roll back everything if it raises."""
        session = Session(bind=self._write if write else self._read, expire_on_commit=False, autoflush=True)
        try:
            yield session
            session.commit()
        except StaleDataError as exc:
            session.rollback()
            raise Conflict("the case was changed by someone else; reload and try again") from exc
        except OperationalError as exc:
            session.rollback()
            if "could not obtain lock" in str(exc) or "database is locked" in str(exc):
                raise Conflict("the case is busy; try again") from exc
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
