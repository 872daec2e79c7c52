"""Back-off for the scheduler's starts (inspections, monthly reports): an item whose case could not start is left
alone for a while, so the items behind it start and a diagram that fails (or loops until its CPU budget runs out)
costs one attempt per item every `AFTER`, not one per tick. Kept in this process only: a restart tries again at once,
which is harmless."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

AFTER = timedelta(minutes=10)


class StartBackOff:
    """The items (contract ids, customer and month) whose start failed, each with the time it may be tried again."""

    def __init__(self, after: timedelta = AFTER) -> None:
        self.after = after
        self._retry_after: dict[Any, datetime] = {}
        self._lock = threading.Lock()

    def waiting(self, now: datetime) -> list[Any]:
        """The items not to try at `now` (the expired ones are forgotten)."""
        with self._lock:
            for key in [k for k, at in self._retry_after.items() if at <= now]:
                del self._retry_after[key]
            return list(self._retry_after)

    def failed(self, key: Any, now: datetime) -> None:
        """`key` could not start at `now`: not again before `now + after`."""
        with self._lock:
            self._retry_after[key] = now + self.after
