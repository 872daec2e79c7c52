"""Idempotent ticket creation (issue 11 item 5): a client that retries after a lost answer sends the same
`Idempotency-Key` and gets the ticket its first request opened, not a second one.

A key belongs to a caller (`scope`: the staff user over the API, or the public portal) and is taken inside the unit
of work that opens the ticket: its row commits with the ticket or not at all (a refused request leaves the key
free). The unique constraint on (scope, key) settles a race: on PostgreSQL the second insert waits for the first
transaction and fails once it commits, then reads the winner's ticket; on SQLite write transactions already run
one at a time. A key is remembered 24 hours; reused with a different request it is refused.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import Conflict, ValidationFailed
from .models import IdempotencyKey, Ticket

TTL = timedelta(hours=24)
FIELD = "Idempotency-Key"


@dataclass
class Claim:
    """A key taken for this request (`row`), or the ticket an earlier request with it opened (`earlier`)."""

    row: IdempotencyKey | None = None
    earlier: Ticket | None = None

    def opened(self, ticket: Ticket) -> None:
        """Remember the ticket this request opened under the key."""
        if self.row is not None:
            self.row.ticket_id = ticket.id


def fingerprint(request: Any) -> str:
    """What makes two requests the same: a hash of their fields."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def claim(session: Session, *, scope: str, key: str | None, request: Any, now: datetime) -> Claim:
    """Take `key` for this request (its fields, `request`) inside the caller's unit of work, or find the ticket an
    earlier request with the same key and fields opened; a key used with other fields is refused (422 naming the
    header). Without a key, nothing to take."""
    if not key:
        return Claim()
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= now - TTL))
    digest = fingerprint(request)
    earlier = _find(session, scope, key)
    if earlier is None:
        row = IdempotencyKey(scope=scope, key=key, fingerprint=digest, created_at=now)
        try:
            with session.begin_nested():
                session.add(row)
            return Claim(row=row)
        except IntegrityError:  # a request with the same key committed meanwhile
            earlier = _find(session, scope, key)
            if earlier is None:
                raise Conflict("a request with this Idempotency-Key is in progress; try again") from None
    if earlier.fingerprint != digest:
        raise ValidationFailed("the Idempotency-Key was used for a different request", [{
            "field": FIELD, "message": "this key was already used with different fields; use a new key"}])
    ticket = session.get(Ticket, earlier.ticket_id) if earlier.ticket_id is not None else None
    if ticket is None:
        raise Conflict("a request with this Idempotency-Key is in progress; try again")
    return Claim(earlier=ticket)


def seen(session: Session, *, scope: str, keys: list[str], now: datetime) -> bool:
    """Whether a request under one of `keys` opened its ticket within the keys' 24 hours: sending it again creates
    nothing (the first ticket answers, or other fields under the key are refused)."""
    query = (select(IdempotencyKey.id).where(IdempotencyKey.scope == scope, IdempotencyKey.key.in_(keys),
                                            IdempotencyKey.ticket_id.is_not(None),
                                            IdempotencyKey.created_at > now - TTL).limit(1))
    return session.scalar(query) is not None


def _find(session: Session, scope: str, key: str) -> IdempotencyKey | None:
    return session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key))
