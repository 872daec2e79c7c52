"""The outbox's verbs: the mail sender claims messages and reports each one sent or failed."""
from __future__ import annotations

from .. import outbox
from .base import Service


class OutboxService(Service):
    """E-mails are rows written with the case; this is how the sender takes them out."""

    def claim_outbox(self, *, limit: int = 20) -> list[outbox.Envelope]:
        """Messages due for sending, marked as claimed."""
        with self.uow() as session:
            return outbox.claim(session, now=self.clock.now(), limit=limit)

    def outbox_sent(self, *, message_id: int, subject: str) -> None:
        """Record that a message went out."""
        with self.uow() as session:
            outbox.mark_sent(session, message_id=message_id, subject=subject, now=self.clock.now())

    def outbox_failed(self, *, message_id: int, error: str, permanent: bool = False) -> None:
        """Record a failed send; it is retried with backoff unless it can never succeed."""
        with self.uow() as session:
            outbox.mark_failed(session, message_id=message_id, error=error, now=self.clock.now(), permanent=permanent)
