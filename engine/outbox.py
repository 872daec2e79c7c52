"""E-mails as rows: written in the case's transaction, sent after commit with retries and backoff.

A staff message (one with a recipient and a kind) may wait as "held" and leave inside a digest: the rule is in
engine/notifications.py, applied here when the sender claims. A digest is a row of its own; the rows it carries
are marked "digested" with its id in the same unit of work, so each is sent once, and only with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from .models import OutboxMessage, TimelineEvent
from .notifications import DIGEST_MINUTES, DIGEST_TEMPLATE, Dispatcher

MAX_BACKOFF = timedelta(minutes=30)
CLAIM_TIMEOUT = timedelta(minutes=5)
DIGEST_WINDOW = timedelta(minutes=DIGEST_MINUTES)


@dataclass
class Envelope:
    """One claimed message, detached from the session, for the sender."""

    id: int
    ticket_id: int | None
    to_addr: str
    template: str
    language: str
    context: dict[str, Any]
    attempts: int


def enqueue(session: Session, *, to_addr: str, template: str, language: str, context: dict[str, Any],
            ticket_id: int | None, now: datetime, recipient: str | None = None,
            kind: str | None = None) -> OutboxMessage:
    """Queue one e-mail; it leaves only if the surrounding transaction commits. Staff mail names its recipient
    (a username) and kind, so the sender can fold it into a digest; customer mail has neither."""
    message = OutboxMessage(to_addr=to_addr, template=template, language=language, context=context,
                            ticket_id=ticket_id, next_attempt_at=now, created_at=now, status="pending", attempts=0,
                            recipient=recipient, kind=kind)
    session.add(message)
    return message


def claim(session: Session, *, now: datetime, limit: int, window: timedelta = DIGEST_WINDOW) -> list[Envelope]:
    """Mark due messages as being sent: first the digests whose window ended, then pending messages (a staff
    message taken out for the first time may be held or skipped instead, by its recipient's choice). A claim
    older than CLAIM_TIMEOUT (a crashed sender) is taken over."""
    dispatcher = Dispatcher(session, now=now, window=window)
    claimed = [_envelope(message) for message in dispatcher.release_due(limit=limit)]
    while len(claimed) < limit:
        batch = list(session.scalars(_due(now, limit - len(claimed))))
        if not batch:
            break
        for message in batch:
            if message.claimed_at is None and not dispatcher.admit(message):
                continue  # held or skipped: no longer due, so the next query moves on
            message.status, message.claimed_at = "sending", now
            claimed.append(_envelope(message))
    return claimed


def _due(now: datetime, limit: int) -> Select[OutboxMessage]:
    return (select(OutboxMessage)
            .where(or_(OutboxMessage.status == "pending",
                       (OutboxMessage.status == "sending") & (OutboxMessage.claimed_at < now - CLAIM_TIMEOUT)),
                   OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
            .with_for_update(skip_locked=True))


def _envelope(message: OutboxMessage) -> Envelope:
    return Envelope(message.id, message.ticket_id, message.to_addr, message.template, message.language,
                    dict(message.context), message.attempts)


def mark_sent(session: Session, *, message_id: int, subject: str, now: datetime) -> None:
    """Record delivery, and put it on the timeline of its ticket (of every ticket a digest listed)."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.status == "sent":
        return
    message.status, message.sent_at, message.subject = "sent", now, subject
    message.attempts += 1
    for carried in [message, *_carried(session, message)]:
        carried.sent_at = now
        _on_timeline(session, carried, now, "email_sent", {"to": message.to_addr, "subject": subject}, message)


def mark_failed(session: Session, *, message_id: int, error: str, now: datetime, permanent: bool = False) -> None:
    """Put a message back in the queue with exponential backoff; a message that can never be built (a bad
    address, a broken template) is set aside as failed and shown on the ticket instead of retried forever
    (a digest's on every ticket it listed, so no notice vanishes unseen)."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.status == "sent":
        return
    message.attempts += 1
    if permanent:
        message.status, message.last_error = "failed", error[:2000]
        for carried in [message, *_carried(session, message)]:
            carried.status = "failed"
            _on_timeline(session, carried, now, "email_failed", {"to": message.to_addr, "error": error[:300]},
                         message)
        return
    delay = min(timedelta(seconds=5 * 2 ** min(message.attempts - 1, 12)), MAX_BACKOFF)
    message.status, message.last_error, message.next_attempt_at = "pending", error[:2000], now + delay


def _carried(session: Session, message: OutboxMessage) -> list[OutboxMessage]:
    """The rows a digest carries (none for any other message)."""
    if message.template != DIGEST_TEMPLATE:
        return []
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.digest_id == message.id)
                                .order_by(OutboxMessage.id)))


def _on_timeline(session: Session, carried: OutboxMessage, now: datetime, kind: str, data: dict[str, Any],
                 sent: OutboxMessage) -> None:
    if carried.ticket_id is None:
        return
    extra = {"digest": sent.id} if carried is not sent else {}
    session.add(TimelineEvent(ticket_id=carried.ticket_id, at=now, kind=kind, actor="system",
                              data={**data, "template": carried.template, **extra}))


def discard_unsent(session: Session, *, before: datetime) -> int:
    """Mark every unsent message queued before `before` as discarded; the number marked."""
    result = session.execute(update(OutboxMessage).where(
        OutboxMessage.created_at < before, OutboxMessage.status.not_in(("sent", "failed", "discarded")))
        .values(status="discarded", last_error="discarded: demo history"))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
