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
TIMER_BATCH = 100  # due instances per firing thread and pass
KEEP_SMTP_OPEN = 20.0  # seconds the mail loop keeps its SMTP connection for the next pass (servers allow minutes)


def default_timer_threads(facade: Aftercare) -> int:
    """Firing threads per process: 4 on PostgreSQL, where firings run side by side (each holds only its own row);
    1 on SQLite, where every write waits for the one before it, so more threads add only waiting (bench/timers.py)."""
    return 4 if facade.db.dialect.name == "postgresql" else 1


class Worker:
    """Fires due timers and sends due mail every `interval` seconds; idle cost is one indexed query each."""

    def __init__(self, facade: Aftercare, interval: float, timer_threads: int | None = None) -> None:
        self.facade = facade
        self.interval = interval
        self.timer_threads = timer_threads or default_timer_threads(facade)
        self.mailer = Mailer(facade, keep_open=KEEP_SMTP_OPEN)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def fire_timers(self) -> None:
        """Start the inspections and monthly reports that fell due, then fire every due timer, in batches of
        `TIMER_BATCH` per firing thread, until a batch fires nothing (nothing due, or all of it busy elsewhere)."""
        while self.facade.start_due_inspections(limit=20) == 20:
            pass
        while self.facade.start_due_reports(limit=20) == 20:
            pass
        threads = self.timer_threads
        while self.facade.fire_due_timers(limit=TIMER_BATCH * threads, threads=threads) > 0:
            pass

    def send_mail(self) -> None:
        """Send what the outbox holds."""
        while self.mailer.send_pending(limit=50) == 50:
            pass

    def tick(self) -> None:
        """One pass of both loops (tests and `aftercare worker --once`); its SMTP connection closed at the end."""
        self._guarded(self.fire_timers)
        self._guarded(self.send_mail)
        self._guarded(self.mailer.close)

    def _guarded(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            log.exception("background work failed; retrying at the next tick")

    def _loop(self, work: Callable[[], None], finish: Callable[[], None] | None = None) -> None:
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                self._guarded(work)
                next_at = max(next_at + self.interval, time.monotonic())
                self._stop.wait(next_at - time.monotonic())
        finally:
            if finish is not None:
                self._guarded(finish)

    def start(self) -> None:
        """Run both loops in daemon threads; the mail loop's thread closes its SMTP connection when it stops."""
        for name, work, finish in (("timers", self.fire_timers, None), ("mail", self.send_mail, self.mailer.close)):
            thread = threading.Thread(target=self._loop, args=(work, finish), name=f"aftercare-{name}", daemon=True)
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
