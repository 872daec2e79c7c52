"""Request limits every process shares: the portal's and the /my sign-in's "at most n requests per client address
in a sliding window", counted in the database (`login_throttle` rows, engine/throttle.py `Window`), so n servers on
one database give a client one allowance, not n.

A request that fits costs one short write transaction (the head row locked, one ring slot written). A request
refused is remembered in this process until the moment its slot frees: other processes only ever add requests, so
a refusal cannot end sooner, and a client hammering an exhausted limit costs no database work.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError

from .. import repository
from ..clock import Clock
from ..errors import Conflict
from ..kernel import Kernel
from ..models import LoginThrottle
from ..throttle import Window, allows
from .base import Service

REMEMBERED = 10_000  # refusals kept in memory at most (then forgotten at once: the database still knows)

log = logging.getLogger("aftercare.limits")


class RequestLimitService(Service):
    """Counts requests per key under a `Window`; on the wall clock, like the login throttle (engine/services/
    sessions.py), so a test moving the cases' clock days ahead does not reset them (a test gives `clock` its own)."""

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.clock = Clock()
        self._refused: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def allow(self, window: Window, key: str) -> bool:
        """Count one request of `key`; False (and not counted) when `window.limit` requests of it, from any process,
        fall within the last `window.seconds`."""
        now, remembered = self.clock.now(), (window.namespace, key)
        with self._lock:
            until = self._refused.get(remembered)
        if until is not None and now < until:
            return False
        with self.uow() as session:
            head = repository.locked_counter(session, window.head(key), now)
            slot = window.slot(key, head.failures)
            oldest = session.scalar(select(LoginThrottle.last_failure_at).where(LoginThrottle.key == slot))
            if not allows(oldest, now, window):
                assert oldest is not None
                self._remember(remembered, oldest + window.span)
                return False
            tidy = head.last_failure_at is None or now - head.last_failure_at >= window.span  # a new or returning
            row = repository.locked_counter(session, slot, now)
            row.last_failure_at, row.updated_at = now, now
            head.failures = (head.failures + 1) % window.limit
            head.last_failure_at, head.updated_at = now, now
        with self._lock:
            self._refused.pop(remembered, None)
        if tidy:
            self._forget_idle(window, now)  # a new or returning client: tidy up idle keys, after the count committed
        return True

    def _forget_idle(self, window: Window, now: datetime) -> None:
        """Remove this window's rows untouched for a whole window (they can refuse nobody any more), in a unit of its
        own that never waits: rows another request holds are skipped (PostgreSQL: SKIP LOCKED), so two clients tidying
        at once cannot deadlock. Best effort: a busy database leaves them for the next tidy."""
        idle = (select(LoginThrottle.key).where(LoginThrottle.updated_at <= now - window.span,
                                                LoginThrottle.key.startswith(window.prefix))
                .with_for_update(skip_locked=True))
        try:
            with self.uow() as session:
                session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(idle.scalar_subquery()))
                                .execution_options(synchronize_session=False))
        except (Conflict, OperationalError):
            log.info("request limits: idle counters left for the next tidy (the database was busy)")

    def reset(self, window: Window) -> int:
        """Forget every count of `window` (an operator's or a test's fresh start); the rows removed. Refusals other
        processes remember stand until their slot would have freed."""
        with self.uow() as session:
            result = session.execute(delete(LoginThrottle).where(LoginThrottle.key.startswith(window.prefix))
                                     .execution_options(synchronize_session=False))
        with self._lock:
            for remembered in [r for r in self._refused if r[0] == window.namespace]:
                del self._refused[remembered]
        return int(getattr(result, "rowcount", 0) or 0)

    def _remember(self, remembered: tuple[str, str], until: datetime) -> None:
        with self._lock:
            if len(self._refused) >= REMEMBERED:
                self._refused.clear()
            self._refused[remembered] = until

