"""Tables of sessions and request guards: staff sessions, the login throttle's counters, idempotency keys.

Imported by engine/models.py (which re-exports them), so `Base.metadata` holds these tables whenever engine.models is
imported: alembic, `aftercare migrate` and the tests' truncation see every table.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models_base import Base


class StaffSession(Base):
    """A staff login: a browser's session or an API token (engine/services/sessions.py). Only the SHA-256 of the
    random token is stored; a request gets in while the row is not revoked, not idle too long, not expired."""

    __tablename__ = "staff_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # web | api
    address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]  # written at most once a minute (TOUCH_EVERY), so reads stay reads
    expires_at: Mapped[datetime]  # the absolute end; idleness is measured from last_seen_at
    revoked_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed logins counted per client address, per username and per (username, address); keyed by the SHA-256
    of the scope so any text a client sends fits (engine/throttle.py has the rule). Rows keyed `portal:…` and `my:…`
    are the portal's and the /my sign-in's request limits (engine/services/shared_limits.py)."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None]
    blocked_until: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]  # (username, address): the address is the user's own
    updated_at: Mapped[datetime] = mapped_column(index=True)


class IdempotencyKey(Base):
    """A ticket-creating request's `Idempotency-Key` (engine/idempotency.py): unique per caller, so a retry (or two
    requests racing with one key) opens one ticket and a repeat answers with it; kept 24 hours."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_key_scope_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(120))  # who asked: staff:<username> over the API, portal
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the request's fields
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(index=True)
