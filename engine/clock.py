"""The one clock of the engine, injectable so tests can travel in time.

SpiffWorkflow reads time only through `datetime.now(timezone.utc)` in its timer module and offers no hook,
so installing a clock also points that module at it.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _spiff_timer


class Clock:
    """Wall clock: aware UTC now."""

    def now(self) -> datetime:
        """The current time, aware UTC."""
        return datetime.now(UTC)


class FakeClock(Clock):
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """The current fake time."""
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to `when`."""
        self._now = when.astimezone(UTC)
        return self._now

    def advance(self, **delta: float) -> datetime:
        """Move forward by a timedelta given as keywords (hours=4)."""
        self._now = self._now + timedelta(**delta)
        return self._now


_current: Clock = Clock()


class _SpiffDatetime(datetime):
    """Stands in for `datetime` inside SpiffWorkflow's timer module."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        now = _current.now()
        return now.astimezone(tz) if tz else now.replace(tzinfo=None)


def install(clock: Clock) -> None:
    """Make `clock` the time source of the engine and of SpiffWorkflow's timers."""
    global _current
    _current = clock
    _spiff_timer.datetime = _SpiffDatetime


def now() -> datetime:
    """Current time of the installed clock."""
    return _current.now()
