"""The login throttle's rule: how long a client waits after failed logins. Pure; the counters live in the
`login_throttle` table (engine/services/sessions.py reads and writes them), so every process shares them.

Three counters grow with each failed login and are forgotten `FORGET_AFTER` after their last failure:
- per client address (any username): after 20 failures, each next attempt from it waits 15 s, doubling to 15 min;
- per (username, address): after 5 failures, the same;
- per username (from any address): after 10 failures, an attempt from an address the user has not logged in
  from waits 1 s, doubling to at most 30 s: it slows a spread-out attack but never keeps the real user out.
A refused attempt answers 429 with Retry-After and is not counted. A successful login clears the
(username, address) and the username counters and marks the address as the user's own; the address counter is
left to fade, so one good password does not reset a client that tried many usernames. Nobody is locked out:
the real user's own address has its own counter, and the username counter only slows new addresses.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import AftercareError

FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Rule:
    """Failures allowed before waiting, the first wait, and the longest."""

    free: int
    first: timedelta
    longest: timedelta

    def wait(self, failures: int) -> timedelta:
        """How long to wait after the `failures`-th failure."""
        if failures < self.free:
            return timedelta(0)
        return min(self.longest, self.first * 2 ** min(failures - self.free, 20))


ADDRESS = Rule(20, timedelta(seconds=15), timedelta(minutes=15))
USER_AT_ADDRESS = Rule(5, timedelta(seconds=15), timedelta(minutes=15))
USER = Rule(10, timedelta(seconds=1), timedelta(seconds=30))


@dataclass(frozen=True)
class Keys:
    """The three counters' keys for one attempt (SHA-256 of the scope: any text fits the column)."""

    address: str
    user_at_address: str
    user: str

    @classmethod
    def of(cls, username: str, address: str) -> Keys:
        """The keys of `username` tried from `address` (usernames compare case-insensitively here)."""
        name = username.strip().casefold()
        return cls(_digest("address", address), _digest("user@address", name, address), _digest("user", name))

    def rules(self) -> dict[str, Rule]:
        """Each key with its rule."""
        return {self.address: ADDRESS, self.user_at_address: USER_AT_ADDRESS, self.user: USER}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def current(failures: int, last_failure_at: datetime | None, now: datetime) -> int:
    """A counter's failures as of `now`: zero once the last failure is `FORGET_AFTER` old."""
    if last_failure_at is None or now - last_failure_at >= FORGET_AFTER:
        return 0
    return failures


class TooManyAttempts(AftercareError):
    """Too many failed logins from this client: try again after `retry_after` seconds."""

    status = 429

    def __init__(self, wait: timedelta) -> None:
        seconds = max(1, math.ceil(wait.total_seconds()))
        super().__init__("too many failed logins; try again later", retry_after=seconds)
        self.retry_after = seconds


# --- request limits: at most n requests per client in a sliding window (the portal's, the /my sign-in's) ---------
# They share the `login_throttle` table (no table of their own): a key's last `limit` request times are a ring of
# `limit` rows, `<namespace>:<slot>:<digest>`, and a head row `<namespace>:n:<digest>` holds the next slot to write
# (`failures`) and locks the ring. The keys carry their namespace readably (a login counter's key is a bare digest,
# never with a colon), so the limits' rows can be told apart and forgotten (engine/services/shared_limits.py).


@dataclass(frozen=True)
class Window:
    """At most `limit` requests per key in any `seconds` long window (a sliding log: exact, not fixed slots)."""

    namespace: str
    limit: int
    seconds: float

    def __post_init__(self) -> None:
        if not (0 < len(self.namespace) <= 12 and self.namespace.isalnum()) or not 0 < self.limit <= 100:
            raise ValueError("a window needs a short alphanumeric namespace and a limit of 1-100")

    @property
    def span(self) -> timedelta:
        """The window's length."""
        return timedelta(seconds=self.seconds)

    def head(self, key: str) -> str:
        """The head row's key of `key` (fits the 64-character column whatever `key` is)."""
        return f"{self.namespace}:n:{_digest('window', self.namespace, key)[:40]}"

    def slot(self, key: str, index: int) -> str:
        """The key of ring slot `index` of `key`."""
        return f"{self.namespace}:{index % self.limit}:{_digest('window', self.namespace, key)[:40]}"

    @property
    def prefix(self) -> str:
        """What every key of this window's rows begins with."""
        return f"{self.namespace}:"


def allows(oldest: datetime | None, now: datetime, window: Window) -> bool:
    """Whether a request at `now` fits: the slot it would take holds the oldest of the key's last `limit` requests,
    so it fits when that one is missing or has left the window."""
    return oldest is None or now - oldest >= window.span
