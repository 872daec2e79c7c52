"""Issue 11 item 4, what was left: every table in `Base.metadata` whichever module is imported first, and a login for
an unknown username costing the argon2 parameters the stored hashes have (hashes made with argon2-cffi's old
defaults are rehashed only at their user's next login)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from engine import users
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Unauthorized
from engine.models import User
from engine.services.sessions import MIX_FRESH
from tests.api.test_login import CountingHasher

ROOT = Path(__file__).resolve().parents[2]
OLD = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)  # argon2-cffi's defaults, used until issue 11
OLD_PARAMETERS, TODAYS = "m=65536,t=3,p=4", "m=19456,t=2,p=1"
GUARD_TABLES = {"staff_session", "login_throttle", "idempotency_key"}


@pytest.mark.parametrize("first", ["engine.models", "engine.models_guard", "engine.models_base"])
def test_every_table_is_in_the_metadata_whichever_module_comes_first(first: str) -> None:
    code = (f"import {first}\nfrom engine.models import Base\n"
            "print(' '.join(sorted(Base.metadata.tables)))")
    tables = set(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.split())
    assert tables >= GUARD_TABLES | {"ticket", "app_user", "outbox"}
    assert len(tables) == 28


@pytest.fixture
def counting(facade: Aftercare, monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    hasher = CountingHasher(facade)
    monkeypatch.setattr(users, "hasher", hasher)
    return hasher


@pytest.fixture
def old_hashes_only(facade: Aftercare) -> None:
    """Every active user's hash made with the old parameters, as on an installation from before issue 11."""
    old = OLD.hash("demo")
    for user in facade.run_in_unit(lambda s: list(s.execute(select(User.username, User.role)).all())):
        facade.add_user(username=user.username, role=user.role, password="", password_hash=old)
    facade.add_user(username="olga", role="engineer", password="", password_hash=OLD.hash("olga-password"))


def _costs(counting: CountingHasher) -> list[str]:
    """The argon2 parameters of each hash verified so far, e.g. "m=65536,t=3,p=4"."""
    return [parameters.split("$")[3] for parameters, _ in counting.verified]


def _refused(facade: Aftercare, username: str, address: str) -> None:
    with pytest.raises(Unauthorized):
        facade.authenticate(username=username, password="wrong-password", address=address)


def test_an_unknown_username_costs_the_same_parameters_as_an_old_hash(facade: Aftercare, old_hashes_only: None,
                                                                      counting: CountingHasher) -> None:
    _refused(facade, "olga", "192.0.2.1")  # a real user, old hash, wrong password
    for n in range(3):
        _refused(facade, f"nobody-{n}", f"192.0.2.{10 + n}")
    assert _costs(counting) == [OLD_PARAMETERS] * 4  # before: the unknown ones cost today's, 5-10x cheaper


def test_once_the_old_hashes_are_rehashed_unknown_usernames_cost_todays(facade: Aftercare, old_hashes_only: None,
                                                                        counting: CountingHasher) -> None:
    wall = FakeClock(facade.sessions.clock.now())
    facade.sessions.clock = wall
    _refused(facade, "nobody", "192.0.2.1")
    facade.authenticate(username="olga", password="olga-password", address="198.51.100.1")  # rehashed
    for user in facade.run_in_unit(lambda s: list(s.execute(select(User.username, User.role)).all())):
        if user.username != "olga":  # as if each had logged in too (a password set today)
            facade.add_user(username=user.username, role=user.role, password="demo")
    wall.advance(seconds=MIX_FRESH.total_seconds() + 1)  # the count of the stored parameters is taken again
    _refused(facade, "nobody", "192.0.2.2")
    costs = _costs(counting)
    assert costs[0] == OLD_PARAMETERS and costs[-1] == TODAYS


def test_unknown_usernames_are_spread_over_the_stored_parameters_as_real_ones_are() -> None:
    old, today = users.hash_profile(OLD.hash("x")), users.todays_profile()
    assert old is not None and old != today
    mix = {old: 1, today: 3}
    picks = [users.decoy_profile(f"user{n}", mix, "key-one") for n in range(4000)]
    assert 0.2 < picks.count(old) / len(picks) < 0.3  # a quarter of the stored hashes are old
    assert [users.decoy_profile(f"user{n}", mix, "key-one") for n in range(100)] == picks[:100]  # the same each time
    others = [users.decoy_profile(f"user{n}", mix, "key-two") for n in range(400)]
    assert others != picks[:400]  # keyed with the secret: which names are slow cannot be worked out from the code
    assert users.decoy_profile("anyone", {old: 5}, "key-one") == old
    assert users.decoy_profile("anyone", {}, "key-one") == today  # no users yet


def test_a_refusal_takes_as_long_as_the_slowest_stored_hash_whoever_it_names(facade: Aftercare) -> None:
    facade.add_user(username="olga", role="engineer", password="", password_hash=OLD.hash("olga-password"))
    facade.add_user(username="tim", role="engineer", password="tim-password-1")  # today's parameters
    old = users.hash_profile(OLD.hash("x"))
    assert old is not None
    floor = users.failure_floor({old: 1, users.todays_profile(): 1})
    assert floor >= 1.25 * users.verify_cost(old) - 1e-9  # the old parameters decide
    for username, address in (("tim", "192.0.2.1"), ("nobody", "192.0.2.2"), ("olga", "192.0.2.3")):
        started = time.perf_counter()
        _refused(facade, username, address)
        assert time.perf_counter() - started >= floor, f"{username}'s refusal came back early"
    assert facade.authenticate(username="tim", password="tim-password-1", address="198.51.100.1").name == "tim"
