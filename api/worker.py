"""The background loops: due timers and the outbox, in `serve` and in `aftercare worker`.

Timers and mail run on their own threads so a slow SMTP server never delays an SLA timer, and each loop
ticks at a fixed rate rather than sleeping a full interval after its work.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from engine.commands import Aftercare

from .mail import Mailer

log = logging.getLogger("aftercare.worker")


class Worker:
    """Fires due timers and sends due mail every `interval` seconds; idle cost is one indexed query each."""

    def __init__(self, facade: Aftercare, interval: float) -> None:
        self.facade = facade
        self.interval = interval
        self.mailer = Mailer(facade)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def fire_timers(self) -> None:
        """Start the inspections and monthly reports that fell due, then fire every due timer, in batches."""
        while self.facade.start_due_inspections(limit=20) == 20:
            pass
        while self.facade.start_due_reports(limit=20) == 20:
            pass
        while self.facade.fire_due_timers(limit=100) == 100:
            pass

    def send_mail(self) -> None:
        """Send what the outbox holds."""
        while self.mailer.send_pending(limit=50) == 50:
            pass

    def tick(self) -> None:
        """One pass of both loops (tests and `aftercare worker --once`)."""
        self._guarded(self.fire_timers)
        self._guarded(self.send_mail)

    def _guarded(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            log.exception("background work failed; retrying at the next tick")

    def _loop(self, work: Callable[[], None]) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._guarded(work)
            next_at = max(next_at + self.interval, time.monotonic())
            self._stop.wait(next_at - time.monotonic())

    def start(self) -> None:
        """Run both loops in daemon threads."""
        for name, work in (("timers", self.fire_timers), ("mail", self.send_mail)):
            thread = threading.Thread(target=self._loop, args=(work,), name=f"aftercare-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def run_forever(self) -> None:
        """Run until the process is stopped."""
        self.start()
        try:
            while not self._stop.wait(3600):
                pass
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        """Stop and wait for the current ticks."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
