"""E-mails as rows: written in the case's transaction, sent after commit with retries and backoff."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .models import OutboxMessage, TimelineEvent

MAX_BACKOFF = timedelta(minutes=30)
CLAIM_TIMEOUT = timedelta(minutes=5)


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
            ticket_id: int | None, now: datetime) -> OutboxMessage:
    """Queue one e-mail; it leaves only if the surrounding transaction commits."""
    message = OutboxMessage(to_addr=to_addr, template=template, language=language, context=context,
                            ticket_id=ticket_id, next_attempt_at=now, created_at=now, status="pending", attempts=0)
    session.add(message)
    return message


def claim(session: Session, *, now: datetime, limit: int) -> list[Envelope]:
    """Mark due messages as being sent; a claim older than CLAIM_TIMEOUT (a crashed sender) is taken over."""
    query = (select(OutboxMessage)
             .where(or_(OutboxMessage.status == "pending",
                        (OutboxMessage.status == "sending") & (OutboxMessage.claimed_at < now - CLAIM_TIMEOUT)),
                    OutboxMessage.next_attempt_at <= now)
             .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
             .with_for_update(skip_locked=True))
    claimed = []
    for message in session.scalars(query):
        message.status, message.claimed_at = "sending", now
        claimed.append(Envelope(message.id, message.ticket_id, message.to_addr, message.template,
                                message.language, dict(message.context), message.attempts))
    return claimed


def mark_sent(session: Session, *, message_id: int, subject: str, now: datetime) -> None:
    """Record delivery, and put it on the ticket's timeline."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.status == "sent":
        return
    message.status, message.sent_at, message.subject = "sent", now, subject
    message.attempts += 1
    if message.ticket_id is not None:
        session.add(TimelineEvent(ticket_id=message.ticket_id, at=now, kind="email_sent", actor="system",
                                  data={"to": message.to_addr, "template": message.template, "subject": subject}))


def mark_failed(session: Session, *, message_id: int, error: str, now: datetime, permanent: bool = False) -> None:
    """Put a message back in the queue with exponential backoff; a message that can never be built (a bad
    address, a broken template) is set aside as failed and shown on the ticket instead of retried forever."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.status == "sent":
        return
    message.attempts += 1
    if permanent:
        message.status, message.last_error = "failed", error[:2000]
        if message.ticket_id is not None:
            session.add(TimelineEvent(ticket_id=message.ticket_id, at=now, kind="email_failed", actor="system",
                                      data={"to": message.to_addr, "template": message.template, "error": error[:300]}))
        return
    delay = min(timedelta(seconds=5 * 2 ** min(message.attempts - 1, 12)), MAX_BACKOFF)
    message.status, message.last_error, message.next_attempt_at = "pending", error[:2000], now + delay
