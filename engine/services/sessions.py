"""Staff sessions: login with throttling, server-side sessions for browsers and API tokens, logout.

A login verifies the password with no transaction open (argon2 takes tens of milliseconds; on SQLite a write
transaction would hold the database's only write lock all that time), then writes its outcome in one short
transaction. Checking a session on a request is one indexed read; `last_seen_at` is written at most once a minute.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from .. import repository, rows
from ..clock import Clock
from ..errors import Conflict, Unauthorized
from ..kernel import Kernel
from ..models import LoginThrottle, StaffSession, User
from ..revocation import revoke_all
from ..throttle import Keys, TooManyAttempts, current
from ..users import (
    MAX_PASSWORD,
    Actor,
    Profile,
    decoy_profile,
    hash_password,
    hash_profile,
    needs_rehash,
    new_token,
    pad_refusal,
    token_digest,
    verify_nobody,
    verify_password,
)
from .base import Service

TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is at most this stale: idleness is measured to the minute
# Every staff request reads its session: the statement is built once (building it took a fifth of the check).
_LIVE_SESSION = (select(StaffSession.id, StaffSession.last_seen_at, StaffSession.expires_at, StaffSession.revoked_at,
                        User.username, User.role, User.active)
                 .join(User, User.id == StaffSession.user_id)
                 .where(StaffSession.token_hash == bindparam("digest")))
KEEP_ENDED = timedelta(days=30)  # ended sessions stay this long (who logged in from where), then go
KINDS = ("web", "api")
MIX_FRESH = timedelta(minutes=5)  # how long a process trusts its count of the stored hashes' argon2 parameters
WRONG = "wrong username or password"


@dataclass(frozen=True)
class _Found:
    id: int
    username: str
    role: str
    password_hash: str
    active: bool


@dataclass(frozen=True)
class _Counter:
    """A throttle counter as this attempt found it."""
    failures: int
    blocked_until: datetime | None
    last_success_at: datetime | None
    updated_at: datetime


def _plausible(username: str) -> bool:
    """Whether `username` could name a user at all: a NUL or 10 MB of text is nobody (and never reaches SQL)."""
    return 0 < len(username) <= 100 and username.isprintable()


class SessionService(Service):
    """Who is logged in, from where, until when; and how fast a client may guess passwords.

    Sessions and the throttle run on the wall clock, not the engine's business clock: a test that moves the cases
    days ahead must not log its users out (a test of expiry gives `clock` a FakeClock of its own)."""

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.clock = Clock()
        self._mix: tuple[datetime, dict[Profile, int]] | None = None  # when counted, and the count

    def authenticate(self, *, username: str, password: str, address: str = "") -> Actor:
        """The actor for a username and password, with no session (the CLI's check)."""
        return self.log_in(username=username, password=password, address=address, kind=None)[0]

    def log_in(self, *, username: str, password: str, address: str, kind: str | None) -> tuple[Actor, str]:
        """Check the password and start a session of `kind` (web or api); the session's token is returned once.

        Raises TooManyAttempts (429) while the throttle makes this client wait, Unauthorized otherwise. An unknown
        or disabled user costs the same argon2 work as a real one."""
        keys, now = Keys.of(username, address), self.clock.now()
        with self.uow(write=False) as session:
            user = repository.user_by_name(session, username) if _plausible(username) else None
            found = _Found(user.id, user.username, user.role, user.password_hash, user.active) if user else None
            mix = self._hash_mix(session, now)  # read for every login, known user or not: the same work either way
        # The attempt counts as a failure before the (slow) verify, under the counters' locks, in a short write of
        # its own: guesses sent in parallel queue there, so the sixth meets the block instead of all being verified
        # against the counts as they were. A good password takes its count back (_succeeded).
        wait = self._count_attempt(keys, now)
        if wait > timedelta(0):
            raise TooManyAttempts(wait)
        checkable = password[:MAX_PASSWORD]  # a longer one is wrong, after the same work
        started = time.perf_counter()
        if found is not None and found.active:
            ok = verify_password(found.password_hash, checkable) and len(password) <= MAX_PASSWORD
        else:
            ok = verify_nobody(checkable, decoy_profile(username, mix, self.settings.secret_key))
        if not ok or found is None:
            pad_refusal(started, mix)  # every refusal takes as long as the slowest stored hash's verify
            raise Unauthorized(WRONG)  # already counted
        rehash = hash_password(password) if needs_rehash(found.password_hash) else None
        token = self._succeeded(found, keys, now, kind=kind, address=address, rehash=rehash)
        return Actor(found.username, found.role), token

    def actor_for(self, *, token: str) -> Actor:
        """The staff user of a live session; Unauthorized when it was revoked, idled out or expired."""
        now = self.clock.now()
        if not 0 < len(token) <= 200:
            raise Unauthorized("the session has ended; log in again")
        with self.uow(write=False) as session:
            found = rows.read(session, _LIVE_SESSION, {"digest": token_digest(token)})
        row = found[0] if found else None
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        if row is None or row.revoked_at is not None or not row.active or now >= row.expires_at \
                or now - row.last_seen_at >= idle:
            raise Unauthorized("the session has ended; log in again")
        if now - row.last_seen_at >= TOUCH_EVERY:
            self._touch(row.id, now)
        return Actor(row.username, row.role)

    def log_out(self, *, token: str) -> None:
        """End every session of the token's user (each browser and API token): logout means logged out."""
        now = self.clock.now()
        with self.uow() as session:
            user_id = session.scalar(select(StaffSession.user_id).where(StaffSession.token_hash == token_digest(token)))
            if user_id is not None:
                revoke_all(session, user_id, now)

    def end_session(self, *, token: str) -> None:
        """End the one session `token` names (an API token revoked by its holder); the user's others live on."""
        with self.uow() as session:
            session.execute(update(StaffSession).where(StaffSession.token_hash == token_digest(token),
                                                       StaffSession.revoked_at.is_(None))
                            .values(revoked_at=self.clock.now()))

    def end_sessions(self, *, username: str) -> None:
        """End every session of `username`."""
        with self.uow() as session:
            user = repository.user_by_name(session, username) if _plausible(username) else None
            if user is not None:
                revoke_all(session, user.id, self.clock.now())

    def start(self, *, username: str, kind: str, address: str = "") -> str:
        """A new session for a user already known to be who they say (a fresh session after a password change)."""
        now = self.clock.now()
        with self.uow() as session:
            user = repository.user_by_name(session, username)
            if user is None or not user.active:
                raise Unauthorized("unknown user")
            return self._add_session(session, user.id, now, kind, address)

    def _hash_mix(self, session: Session, now: datetime) -> dict[Profile, int]:
        """How many active users' password hashes have each set of argon2 parameters, counted at most every few
        minutes (verify_nobody matches an unknown username's work to it)."""
        if self._mix is None or not now - MIX_FRESH < self._mix[0] <= now:
            hashes = session.scalars(select(User.password_hash).where(User.active.is_(True)))
            self._mix = now, dict(Counter(p for p in map(hash_profile, hashes) if p is not None))
        return self._mix[1]

    def _add_session(self, session: Session, user_id: int, now: datetime, kind: str, address: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"session kind must be one of {KINDS}")
        lifetime = timedelta(minutes=self.settings.token_minutes) if kind == "api" \
            else timedelta(hours=self.settings.session_max_hours)
        token = new_token()
        session.add(StaffSession(token_hash=token_digest(token), user_id=user_id, kind=kind,
                                 address=address[:64] or None, created_at=now, last_seen_at=now,
                                 expires_at=now + lifetime))
        session.execute(delete(StaffSession).where(StaffSession.user_id == user_id,
                                                   StaffSession.expires_at < now - KEEP_ENDED))
        return token

    def _touch(self, session_id: int, now: datetime) -> None:
        try:
            with self.uow() as session:
                session.execute(update(StaffSession).where(StaffSession.id == session_id,
                                                           StaffSession.last_seen_at < now - TOUCH_EVERY)
                                .values(last_seen_at=now))
        except Conflict:
            pass  # the database is busy: the next request a minute on records the visit

    def _count_attempt(self, keys: Keys, now: datetime) -> timedelta:
        """Lock this attempt's counters; if a block applies, the wait (nothing counted), else count the attempt as a
        failure and no wait."""
        with self.uow() as session:
            locked = {key: repository.locked_counter(session, key, now) for key in keys.rules()}
            before = {key: _Counter(row.failures, row.blocked_until, row.last_success_at, row.updated_at)
                      for key, row in locked.items()}
            wait = _wait(before, keys, now)
            if wait > timedelta(0):
                return wait
            for key, rule in keys.rules().items():
                row = locked[key]
                row.failures = current(row.failures, row.last_failure_at, now) + 1
                row.last_failure_at, row.updated_at = now, now
                block = rule.wait(row.failures)
                row.blocked_until = now + block if block else None
            session.execute(delete(LoginThrottle).where(LoginThrottle.updated_at < now - KEEP_ENDED))
            return timedelta(0)

    def _succeeded(self, found: _Found, keys: Keys, now: datetime, *,
                   kind: str | None, address: str, rehash: str | None) -> str:
        """Record a good login: the session, the address as the user's own, the username's counters cleared, and
        the attempt's own count taken back from the address's counter (an office of many users is not blocked by
        their good logins)."""
        with self.uow() as session:
            row = repository.locked_counter(session, keys.user_at_address, now)
            row.failures, row.blocked_until, row.last_success_at, row.updated_at = 0, None, now, now
            session.execute(update(LoginThrottle).where(LoginThrottle.key == keys.user)
                            .values(failures=0, blocked_until=None, updated_at=now))
            counter = repository.locked_counter(session, keys.address, now)
            counter.failures = max(0, counter.failures - 1)
            block = keys.rules()[keys.address].wait(counter.failures) if counter.failures else None
            counter.blocked_until = now + block if block else None
            if rehash:  # only if nobody changed the password since it was read
                session.execute(update(User).where(User.id == found.id, User.password_hash == found.password_hash)
                                .values(password_hash=rehash))
            return self._add_session(session, found.id, now, kind, address) if kind else ""


def _wait(rows: dict[str, _Counter], keys: Keys, now: datetime) -> timedelta:
    """How long this attempt must wait: the longest of its counters' blocks that apply."""
    known_address = keys.user_at_address in rows and rows[keys.user_at_address].last_success_at is not None
    waits = [timedelta(0)]
    for key, row in rows.items():
        if key == keys.user and known_address:
            continue  # the per-username counter only slows addresses the user never logged in from
        if row.blocked_until is not None and row.blocked_until > now:
            waits.append(row.blocked_until - now)
    return max(waits)

