"""Staff users: argon2 password hashes, session tokens and role checks."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import astuple, dataclass
from functools import cache
from typing import Any

from argon2 import Parameters, PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION

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


Profile = tuple[Any, ...]  # a hash's argon2 parameters (type, version, salt and hash length, time, memory, lanes)


def hash_profile(password_hash: str) -> Profile | None:
    """The argon2 parameters a stored hash was made with; None for what is no argon2 hash."""
    try:
        return astuple(extract_parameters(password_hash))
    except InvalidHashError:
        return None


def todays_profile() -> Profile:
    """The parameters new hashes are made with."""
    return astuple(Parameters(hasher.type, ARGON2_VERSION, hasher.salt_len, hasher.hash_len, hasher.time_cost,
                              hasher.memory_cost, hasher.parallelism))


@cache
def decoy_hash(profile: Profile) -> str:
    """A hash no password matches, made with `profile`'s parameters (once per process and profile)."""
    return PasswordHasher.from_parameters(Parameters(*profile)).hash(secrets.token_urlsafe(16))


def decoy_profile(username: str, mix: Mapping[Profile, int], key: str) -> Profile:
    """The parameters a login for `username` verifies with when no active user has that name.

    Drawn from `mix` (how many active users' hashes have each profile), weighted by those counts, at a point a keyed
    digest of the username fixes: an unknown username costs the same every time, and unknown usernames cost what
    real ones do, in the same proportions. While some users still have hashes made with older, slower parameters
    (rehashed only at their next login), the slow ones therefore do not stand out as the usernames that exist."""
    total = sum(mix.values())
    if total <= 0:
        return todays_profile()
    digest = hmac.new(key.encode(), username[:200].encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for profile in sorted(mix, key=repr):  # a fixed order: a change in the counts moves few usernames
        point -= mix[profile]
        if point < 0:
            return profile
    return todays_profile()  # not reached: the point lies below the total


_COSTS: dict[Profile, float] = {}
_COSTS_LOCK = threading.Lock()


def verify_cost(profile: Profile) -> float:
    """Seconds one verify with `profile`'s parameters takes here: the median of three decoy verifies, measured once
    per process and profile."""
    with _COSTS_LOCK:
        if profile not in _COSTS:
            decoy, samples = decoy_hash(profile), []
            own = PasswordHasher.from_parameters(Parameters(*profile))
            for _ in range(3):
                started = time.perf_counter()
                with contextlib.suppress(VerificationError):
                    own.verify(decoy, "-")
                samples.append(time.perf_counter() - started)
            _COSTS[profile] = sorted(samples)[1]
        return _COSTS[profile]


def failure_floor(mix: Mapping[Profile, int]) -> float:
    """How long a refused login takes at least: a verify with the slowest parameters any active user's hash has
    (today's if none), with a margin for a busy machine."""
    return 1.25 * max((verify_cost(p) for p, n in mix.items() if n > 0), default=verify_cost(todays_profile()))


def pad_refusal(started: float, mix: Mapping[Profile, int]) -> None:
    """Sleep until a refused login begun at `started` (perf_counter) has taken `failure_floor(mix)`: a refusal then
    takes as long whoever the username names, even while a few users still have older, slower hashes (a decoy drawn
    from the mix matches the crowd, not one name). A sleep costs no CPU; a good password is never delayed."""
    remaining = failure_floor(mix) - (time.perf_counter() - started)
    if remaining > 0:
        time.sleep(remaining)


def verify_nobody(password: str, profile: Profile | None = None) -> bool:
    """The same argon2 work as a real verify (with `profile`'s parameters, today's if none), against a hash no
    password matches: a login for an unknown or disabled user takes as long as one for a real user, so the time does
    not tell which usernames exist."""
    verify_password(decoy_hash(profile or todays_profile()), password)
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
