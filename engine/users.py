"""Staff users: argon2 password hashes and role checks."""
from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .effects import CUSTOMER_LANE, ROLES

_hasher = PasswordHasher()
SUPERVISORS = ("manager", "admin")
ON_BEHALF_OF_CUSTOMER = ("service_desk", "manager", "admin")


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user, a customer through a link, or the system (timers)."""

    name: str
    role: str
    kind: str = "staff"


SYSTEM = Actor("system", "system", "system")


def hash_password(password: str) -> str:
    """An argon2 hash of `password`."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches the hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


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
