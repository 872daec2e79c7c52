"""The outbox's verbs (the mail sender claims messages and reports each one sent or failed) and each staff user's
choice of how they hear of things (immediate, digest or none per kind of notice)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .. import notifications, outbox
from ..errors import NotFound
from ..users import Actor
from .base import Service


class OutboxService(Service):
    """E-mails are rows written with the case; this is how the sender takes them out."""

    def claim_outbox(self, *, limit: int = 20) -> list[outbox.Envelope]:
        """Messages due for sending, marked as claimed; digests whose window ended are built here."""
        window = timedelta(minutes=_digest_minutes(self))
        with self.uow() as session:
            return outbox.claim(session, now=self.clock.now(), limit=limit, window=window)

    def outbox_sent(self, *, message_id: int, subject: str) -> None:
        """Record that a message went out."""
        with self.uow() as session:
            outbox.mark_sent(session, message_id=message_id, subject=subject, now=self.clock.now())

    def outbox_failed(self, *, message_id: int, error: str, permanent: bool = False) -> None:
        """Record a failed send; it is retried with backoff unless it can never succeed."""
        with self.uow() as session:
            outbox.mark_failed(session, message_id=message_id, error=error, now=self.clock.now(), permanent=permanent)

    def discard_unsent_mail(self, *, before: datetime) -> int:
        """Set aside every message queued before `before` and not yet sent (the demo's replayed history: its
        e-mails belong to the past); the number set aside."""
        with self.uow() as session:
            return outbox.discard_unsent(session, before=before)


class NotificationService(Service):
    """How each staff user hears of tasks, deadlines and reminders."""

    def notification_preferences(self, *, actor: Actor) -> dict[str, Any]:
        """The actor's mode per kind, with the choices each kind allows."""
        with self.uow(write=False) as session:
            return _described(notifications.preferences(session, actor.name), _digest_minutes(self))

    def set_notification_preferences(self, *, actor: Actor, modes: dict[str, str]) -> dict[str, Any]:
        """Save the actor's modes for the kinds given; `none` for escalations and breaches is refused."""
        if actor.kind != "staff":
            raise NotFound("no such user")
        with self.uow() as session:
            saved = notifications.set_preferences(session, username=actor.name, modes=modes, now=self.clock.now())
        return _described(saved, _digest_minutes(self))


def _digest_minutes(service: Service) -> int:
    """The digest window, AFTERCARE_DIGEST_MINUTES."""
    return service.settings.digest_minutes


def _described(modes: dict[str, str], digest_minutes: int) -> dict[str, Any]:
    return {"modes": modes, "digest_minutes": digest_minutes, "kinds": [
        {"kind": kind, "mode": modes[kind],
         "choices": [m for m in notifications.MODES if not (m == "none" and kind in notifications.NEVER_SILENT)]}
        for kind in notifications.KINDS]}
