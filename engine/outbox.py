"""E-mails as rows: written in the case's transaction, sent after commit with retries and backoff.

A staff message (one with a recipient and a kind) may wait as "held" and leave inside a digest: the rule is in
engine/notifications.py, applied here when the sender claims. A digest is a row of its own; the rows it carries
are marked "digested" with its id in the same unit of work, so each is sent once, and only with it.

Claims are leases. A sender marks the rows it takes "sending" with a random token and an expiry `lease` seconds
ahead, and renews the lease of the rows it still holds before each message (unless it set it less than lease/3 ago)
and every lease/3 seconds while one is on the wire; a row whose lease expired (its sender died or froze) is claimed
again by any sender. A sender only starts a message, and only records a failure, while its token still holds the
row, so outside SMTP DATA nothing leaves twice; a message accepted by the server just before its sender died leaves
again under the same Message-ID (`message_id`, fixed at the first claim), which receiving systems can recognise.

Finding due rows reads partial indexes that hold only the rows still to send (models.OutboxMessage): the sent
history is never walked. On SQLite the sender picks candidate ids in a read transaction first
(`candidates`) and takes the write lock only to claim those by primary key; PostgreSQL claims with FOR UPDATE SKIP
LOCKED, so parallel senders take different rows.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, select, update
from sqlalchemy.orm import Session

from . import appends, rows
from .models import OutboxMessage, TimelineEvent
from .notifications import DIGEST_MINUTES, DIGEST_TEMPLATE, Dispatcher

MAX_BACKOFF = timedelta(minutes=30)
LEASE = timedelta(seconds=30)
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
    message_id: str | None = None
    lease_token: str | None = None
    recipient: str | None = None  # a staff user's name; None for the customer's mail
    created_at: datetime | None = None  # when it was queued: a customer mail threads after what came before


def enqueue(session: Session, *, to_addr: str, template: str, language: str, context: dict[str, Any],
            ticket_id: int | None, now: datetime, recipient: str | None = None,
            kind: str | None = None) -> None:
    """Queue one e-mail; it leaves only if the surrounding transaction commits. Staff mail names its recipient
    (a username) and kind, so the sender can fold it into a digest; customer mail has neither."""
    appends.add(session, OutboxMessage, to_addr=to_addr, template=template, language=language, context=context,
                ticket_id=ticket_id, next_attempt_at=now, created_at=now, status="pending", attempts=0,
                recipient=recipient, kind=kind)


def candidates(session: Session, *, now: datetime, limit: int) -> list[int] | None:
    """Ids a claim may take, read without locking (expired leases first, then due pending rows in due order);
    None when there is nothing to do, not even a digest to release."""
    expired = [row.id for row in rows.read(session, _EXPIRED_IDS, {"now": now, "limit": limit})]
    pending = [row.id for row in rows.read(session, _PENDING_IDS, {"now": now, "limit": limit - len(expired)})] \
        if len(expired) < limit else []
    if expired or pending:
        return [*expired, *pending]
    return [] if rows.read(session, _HELD_DUE, {"now": now}) else None  # only digests to release


def claim(session: Session, *, now: datetime, limit: int, window: timedelta = DIGEST_WINDOW,
          lease: timedelta = LEASE, ids: Sequence[int] | None = None,
          message_id: Callable[[OutboxMessage], str] | None = None) -> tuple[list[Envelope], int]:
    """Lease due messages to this sender: first the digests whose window ended, then expired leases and pending
    messages (a staff message taken out for the first time may be held or skipped instead, by its recipient's
    choice). With `ids` only those rows are considered, each again checked to be claimable. Returns the leased
    messages and how many due rows were looked at (leased, held or skipped): fewer than `limit` means no more."""
    dispatcher = Dispatcher(session, now=now, window=window)
    token = secrets.token_hex(8)
    taken = dispatcher.release_due(limit=limit)
    examined = len(taken)
    for condition in ("expired", "pending"):
        if examined >= limit:
            break
        params: dict[str, Any] = {"now": now, "limit": limit - examined}
        if ids is not None:  # SQLite: the candidates read before the write lock, looked up by primary key
            params["ids"] = list(ids)
        for message in session.scalars(_CLAIMABLE[condition, ids is not None], params):
            examined += 1
            if message.claimed_at is None and not dispatcher.admit(message):
                continue  # held or skipped: no longer due
            message.status, message.claimed_at = "sending", now
            taken.append(message)
    for message in taken:
        message.lease_until, message.lease_token = now + lease, token
        if message.message_id is None and message_id is not None:  # a digest built just now is flushed: it has an id
            message.message_id = message_id(message)
    return [_envelope(message) for message in taken], examined


def renew(session: Session, *, ids: Sequence[int], token: str, now: datetime, lease: timedelta = LEASE) -> set[int]:
    """Extend this sender's lease on the rows it still holds; the ids it still holds (a row whose lease ran out
    and was taken by another sender is not among them)."""
    if not ids:
        return set()
    mine = and_(OutboxMessage.id.in_(ids), OutboxMessage.status == "sending", OutboxMessage.lease_token == token)
    session.execute(update(OutboxMessage).where(mine).values(lease_until=now + lease)
                    .execution_options(synchronize_session=False))
    return set(session.scalars(select(OutboxMessage.id).where(mine)))


# The statements of a claim pass, built once (the worker runs them every half second): with `now` and `limit` bound.
def _pending_due() -> ColumnElement[bool]:
    return and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= bindparam("now"))


def _lease_expired() -> ColumnElement[bool]:
    return and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < bindparam("now"))


_EXPIRED_IDS = select(OutboxMessage.id).where(_lease_expired()).limit(bindparam("limit"))
_PENDING_IDS = select(OutboxMessage.id).where(_pending_due()).order_by(
    OutboxMessage.next_attempt_at, OutboxMessage.id).limit(bindparam("limit"))
_HELD_DUE = select(OutboxMessage.id).where(
    OutboxMessage.status == "held", OutboxMessage.next_attempt_at <= bindparam("now")).limit(1)


def _claimable(condition: ColumnElement[bool], by_id: bool) -> Select[Any]:
    query = select(OutboxMessage).where(condition)
    if by_id:  # SQLite: the candidates read before the write lock, looked up by primary key
        query = query.where(OutboxMessage.id.in_(bindparam("ids", expanding=True)))
    return query.order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(bindparam("limit")).with_for_update(
        skip_locked=True)


_CLAIMABLE = {(name, by_id): _claimable(condition, by_id)
              for name, condition in (("expired", _lease_expired()), ("pending", _pending_due()))
              for by_id in (False, True)}


def _envelope(message: OutboxMessage) -> Envelope:
    return Envelope(message.id, message.ticket_id, message.to_addr, message.template, message.language,
                    dict(message.context), message.attempts, message.message_id, message.lease_token,
                    message.recipient, message.created_at)


# what recording a message as sent reads of it (a row, not an object: one per e-mail)
_SENDING = select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.template,
                  OutboxMessage.ticket_id, OutboxMessage.to_addr).where(OutboxMessage.id == bindparam("message_id"))


def mark_sent(session: Session, *, message_id: int, subject: str, now: datetime) -> None:
    """Record delivery, and put it on the timeline of its ticket (of every ticket a digest listed)."""
    found = rows.read(session, _SENDING, {"message_id": message_id})
    if not found or found[0].status == "sent":
        return
    message = found[0]
    rows.update_key(session, OutboxMessage, message_id, {
        "status": "sent", "sent_at": now, "subject": subject, "attempts": message.attempts + 1, "lease_until": None,
        "lease_token": None})
    logged: set[int | None] = set()  # a digest listing a ticket twice is one line on that ticket's timeline
    for carried in [message, *_carried(session, message)]:
        if carried is not message:
            rows.update(session, carried, {"sent_at": now})
        if carried.ticket_id not in logged:
            logged.add(carried.ticket_id)
            _on_timeline(session, carried, now, "email_sent", {"to": message.to_addr, "subject": subject}, message)


def mark_failed(session: Session, *, message_id: int, error: str, now: datetime, permanent: bool = False,
                token: str | None = None) -> None:
    """Put a message back in the queue with exponential backoff; a message that can never be built (a bad
    address, a broken template) is set aside as failed and shown on the ticket instead of retried forever
    (a digest's on every ticket it listed, so no notice vanishes unseen). With `token`, only while that claim
    still holds the row: a sender whose lease was taken over must not put another sender's row back."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.status == "sent" or (token is not None and message.lease_token != token):
        return
    message.attempts += 1
    message.lease_until = message.lease_token = None
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
    appends.add(session, TimelineEvent, ticket_id=carried.ticket_id, at=now, kind=kind, actor="system",
                data={**data, "template": carried.template, **extra})


def discard_unsent(session: Session, *, before: datetime) -> int:
    """Mark every unsent message queued before `before` as discarded; the number marked."""
    result = session.execute(update(OutboxMessage).where(
        OutboxMessage.created_at < before, OutboxMessage.status.not_in(("sent", "failed", "discarded")))
        .values(status="discarded", last_error="discarded: demo history"))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
