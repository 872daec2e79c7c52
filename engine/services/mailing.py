"""The outbox's verbs (the mail sender claims messages and reports each one sent or failed) and each staff user's
choice of how they hear of things (immediate, digest or none per kind of notice)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .. import conversation, links, mail_context, notifications, outbox
from ..errors import NotFound
from ..users import Actor
from .base import Service


class OutboxService(Service):
    """E-mails are rows written with the case; this is how the sender takes them out."""

    def claim_outbox(self, *, limit: int = 20) -> list[outbox.Envelope]:
        """Messages due for sending, leased to the caller; digests whose window ended are built here. The due rows
        are looked up in a read transaction first, so an idle or busy outbox never holds SQLite's write lock while
        it reads; the write transaction claims by primary key (PostgreSQL: FOR UPDATE SKIP LOCKED on the index)."""
        window, claimed = timedelta(minutes=_digest_minutes(self)), list[outbox.Envelope]()
        while len(claimed) < limit:  # again while staff notices were held instead of claimed
            need = limit - len(claimed)
            with self.uow(write=False) as session:
                ids = outbox.candidates(session, now=self.clock.now(), limit=need)
                sqlite = session.get_bind().dialect.name == "sqlite"
            if ids is None:
                break
            with self.uow() as session:
                envelopes, examined = outbox.claim(session, now=self.clock.now(), limit=need, window=window,
                                                   lease=self._lease(), ids=ids if sqlite else None,
                                                   message_id=self._message_id)
            claimed += envelopes
            if examined < need or (sqlite and len(ids) < need):
                break  # every due row was looked at
        return claimed

    def mail_parts(self, *, envelope: outbox.Envelope) -> dict[str, Any]:
        """What rendering one claimed e-mail reads, in one read transaction: the ticket's facts (no timeline, no
        internal notes), the customer link's token, and the thread headers (Message-ID, In-Reply-To, References)."""
        ticket_id, link_id = envelope.context.get("ticket_id"), envelope.context.get("link_id")
        with self.uow(write=False) as session:
            link = links.signing_facts(session, link_id) if link_id else None
            return {"ticket": mail_context.ticket_facts(session, ticket_id) if ticket_id else {},
                    "link_token": links.token_for(self.settings.secret_key, link) if link else None,
                    "headers": conversation.thread_headers(session, self.settings, envelope)}

    def renew_outbox_lease(self, *, ids: list[int], token: str) -> set[int]:
        """Extend the sender's lease on the messages it still works on; the ids it still holds."""
        with self.uow() as session:
            return outbox.renew(session, ids=ids, token=token, now=self.clock.now(), lease=self._lease())

    def _lease(self) -> timedelta:
        return timedelta(seconds=self.settings.mail_lease_seconds)

    def _message_id(self, row: Any) -> str:
        """The Message-ID a row keeps on every attempt: a staff reply's stored one, else derived from the row."""
        return str((row.context or {}).get("email_message_id") or "") or \
            conversation.outbox_message_id(self.settings, row.id)

    def outbox_sent(self, *, message_id: int, subject: str) -> None:
        """Record that a message went out."""
        with self.uow() as session:
            outbox.mark_sent(session, message_id=message_id, subject=subject, now=self.clock.now())

    def outbox_failed(self, *, message_id: int, error: str, permanent: bool = False, token: str | None = None) -> None:
        """Record a failed send; it is retried with backoff unless it can never succeed. With the claim's token,
        only while that claim still holds the message."""
        with self.uow() as session:
            outbox.mark_failed(session, message_id=message_id, error=error, now=self.clock.now(), permanent=permanent,
                               token=token)

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
