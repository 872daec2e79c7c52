"""The background loop: fires due timers and sends the outbox, in `serve` and in `aftercare worker`."""
from __future__ import annotations

import logging
import threading

from engine.commands import Aftercare

from .mail import Mailer

log = logging.getLogger("aftercare.worker")


class Worker:
    """Ticks every `interval` seconds; idle cost is one indexed query for timers and one for mail."""

    def __init__(self, facade: Aftercare, interval: float) -> None:
        self.facade = facade
        self.interval = interval
        self.mailer = Mailer(facade)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """Fire due timers, then send due mail."""
        try:
            while self.facade.fire_due_timers(limit=100) == 100:
                pass
            self.mailer.send_pending()
        except Exception:
            log.exception("worker tick failed; retrying at the next tick")

    def run_forever(self) -> None:
        """Tick until stopped."""
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run_forever, name="aftercare-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the current tick."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
