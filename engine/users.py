"""Staff users: argon2 password hashes, session tokens and role checks."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .effects import CUSTOMER_LANE, ROLES

# OWASP's Password Storage Cheat Sheet: argon2id with 19 MiB, 2 passes, 1 lane (one of its equivalent
# configurations; its 46 MiB / 1 pass one measured twice as slow here). One verify takes ~30-50 ms on the 2-core
# test machine (bench/login.py) where argon2-cffi's default (RFC 9106's low-memory profile: 64 MiB, 3 passes,
# 4 lanes) took 200-500 ms, which made a login cost 1.3 s on a busy machine. Hashes made with other parameters
# still verify (they carry their own) and are rehashed with these at the next successful login.
hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
SUPERVISORS = ("manager", "admin")
ON_BEHALF_OF_CUSTOMER = ("service_desk", "manager", "admin")
MAX_PASSWORD = 1024  # characters; a longer "password" is refused before argon2 sees it (a 10 MB form field)
MIN_PASSWORD = 8  # for passwords set from now on (the demo's "demo" predates the rule and is set directly)


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user, a customer through a link, or the system (timers)."""

    name: str
    role: str
    kind: str = "staff"


SYSTEM = Actor("system", "system", "system")


def hash_password(password: str) -> str:
    """An argon2 hash of `password`."""
    return hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches the hash."""
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's."""
    try:
        return hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def _dummy_hash(parameters: tuple[int, int, int]) -> str:
    return hasher.hash(secrets.token_urlsafe(16))


def verify_nobody(password: str) -> bool:
    """The same argon2 work as a real verify, against a hash no password matches: a login for an unknown or
    disabled user takes as long as one for a real user, so the time does not tell which usernames exist."""
    verify_password(_dummy_hash((hasher.time_cost, hasher.memory_cost, hasher.parallelism)), password)
    return False


def new_token() -> str:
    """A random session token (256 bits) for a cookie or a bearer token."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the database keeps of a session token: its SHA-256 (a stolen table holds no usable token)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def may_work_on(role: str, lane: str) -> bool:
    """Whether a staff role may complete a task of `lane`: its own, any for supervisors,
    and the customer's on their behalf (a phone call) for the desk."""
    if role == lane or role in SUPERVISORS and lane != CUSTOMER_LANE:
        return True
    return lane == CUSTOMER_LANE and role in ON_BEHALF_OF_CUSTOMER


def visible_lanes(role: str) -> list[str] | None:
    """Lanes whose tasks a role sees in its list; None means all."""
    if role in SUPERVISORS:
        return None
    return [lane for lane in (*ROLES, CUSTOMER_LANE) if may_work_on(role, lane)]
