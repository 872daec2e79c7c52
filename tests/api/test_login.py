"""Login: the same argon2 work whoever the username names, no transaction held while hashing, and throttling that
slows a guesser without locking the real user out."""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from api.app import create_app
from engine import users
from engine.commands import Aftercare
from engine.errors import Unauthorized
from engine.throttle import TooManyAttempts
from tests.api.test_attachments import csrf_of


class CountingHasher(PasswordHasher):
    """argon2-cffi's real hasher, noting each verify: the hash's parameters and how many database connections were
    checked out meanwhile (a unit of work holds one for as long as its transaction lasts)."""

    def __init__(self, facade: Aftercare) -> None:
        super().__init__(time_cost=users.hasher.time_cost, memory_cost=users.hasher.memory_cost,
                         parallelism=users.hasher.parallelism)
        self.facade = facade
        self.verified: list[tuple[str, int]] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 (argon2-cffi's name)
        parameters = str(hash).rsplit("$", 2)[0]  # $argon2id$v=19$m=...,t=...,p=...
        self.verified.append((parameters, self.facade.db.pool.checkedout()))  # type: ignore[attr-defined]
        return super().verify(hash, password)


@pytest.fixture
def counting(facade: Aftercare, monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    hasher = CountingHasher(facade)
    monkeypatch.setattr(users, "hasher", hasher)
    facade.add_user(username="zoe", role="engineer", password="zoe-password")  # hashed by the counting hasher
    facade.add_user(username="gone", role="engineer", password="gone-password")
    facade.people.set_active(actor=users.Actor("admin", "admin"), username="gone", active=False)
    return hasher


def _from(facade: Aftercare, address: str) -> Iterator[TestClient]:
    with TestClient(create_app(facade, run_worker=False), client=(address, 40000)) as client:
        yield client


@pytest.fixture
def attacker(facade: Aftercare) -> Iterator[TestClient]:
    yield from _from(facade, "203.0.113.9")


@pytest.fixture
def office(facade: Aftercare) -> Iterator[TestClient]:
    yield from _from(facade, "198.51.100.20")


def _token(client: TestClient, username: str, password: str) -> Any:
    return client.post("/api/token", data={"username": username, "password": password})


def test_every_login_costs_one_verify_against_a_hash_of_the_same_parameters(counting: CountingHasher,
                                                                          client: TestClient,
                                                                          facade: Aftercare) -> None:
    assert _token(client, "zoe", "zoe-password").status_code == 200
    assert _token(client, "zoe", "wrong-one").status_code == 401
    assert _token(client, "nobody-here", "wrong-one").status_code == 401
    assert _token(client, "gone", "gone-password").status_code == 401  # disabled: refused after the same work
    assert _token(client, "x" * 5000, "wrong-one").status_code == 401
    with pytest.raises(Unauthorized):  # the HTTP edge refuses a NUL with 422; the engine never sends it to SQL
        facade.authenticate(username="a\x00b", password="wrong-one")
    assert len(counting.verified) == 6
    assert {parameters for parameters, _ in counting.verified} == {f"$argon2id$v=19$m={users.hasher.memory_cost},"
                                                                  f"t={users.hasher.time_cost},"
                                                                  f"p={users.hasher.parallelism}"}


def test_no_transaction_is_open_while_argon2_runs(counting: CountingHasher, client: TestClient) -> None:
    assert _token(client, "zoe", "zoe-password").status_code == 200
    csrf = csrf_of(client.get("/login").text)
    assert client.post("/login", data={"username": "zoe", "password": "nope", "csrf": csrf}).status_code == 401
    assert [held for _, held in counting.verified] == [0, 0]


def test_an_old_hash_is_rehashed_once_with_todays_parameters(facade: Aftercare, counting: CountingHasher) -> None:
    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)  # argon2-cffi's default until issue 11
    facade.add_user(username="olga", role="engineer", password="", password_hash=old.hash("olga-password"))
    assert facade.authenticate(username="olga", password="olga-password").name == "olga"
    assert facade.authenticate(username="olga", password="olga-password").name == "olga"
    assert [p.split("$")[3] for p, _ in counting.verified] == ["m=65536,t=3,p=4", "m=19456,t=2,p=1"]


def test_a_guesser_gets_429_while_the_real_user_logs_in_from_elsewhere(attacker: TestClient, office: TestClient,
                                                                        facade: Aftercare) -> None:
    for _ in range(5):
        assert _token(attacker, "engineer", "guess").status_code == 401
    refused = _token(attacker, "engineer", "demo")  # even the right password waits: the guesser learns nothing
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 15
    assert _token(office, "engineer", "demo").status_code == 200  # no lockout for the real user

    csrf = csrf_of(attacker.get("/login").text)
    page = attacker.post("/login", data={"username": "engineer", "password": "demo", "csrf": csrf})
    assert page.status_code == 429 and page.headers["Retry-After"] and "请等待" in page.text


def test_an_address_trying_many_usernames_is_slowed_down(attacker: TestClient, office: TestClient) -> None:
    for n in range(20):
        assert _token(attacker, f"user{n}", "guess").status_code == 401
    refused = _token(attacker, "manager", "demo")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert _token(office, "manager", "demo").status_code == 200


def test_a_spread_out_attack_slows_new_addresses_only(facade: Aftercare) -> None:
    facade.sessions.log_in(username="engineer", password="demo", address="198.51.100.20", kind="web")  # her own
    for n in range(10):
        with pytest.raises(Unauthorized):
            facade.authenticate(username="engineer", password="guess", address=f"203.0.113.{n}")
    with pytest.raises(TooManyAttempts) as slowed:
        facade.authenticate(username="engineer", password="guess", address="203.0.113.99")
    assert 1 <= slowed.value.retry_after <= 30  # a slow-down, not a lockout
    assert facade.authenticate(username="engineer", password="demo", address="198.51.100.20").name == "engineer"
    facade.authenticate(username="engineer", password="demo", address="192.0.2.1")  # her success cleared it


def test_a_success_clears_the_users_count_at_that_address(facade: Aftercare) -> None:
    for _ in range(4):
        with pytest.raises(Unauthorized):
            facade.authenticate(username="engineer", password="typo", address="198.51.100.20")
    facade.authenticate(username="engineer", password="demo", address="198.51.100.20")
    for _ in range(4):  # four more typos are fine again: the count restarted
        with pytest.raises(Unauthorized):
            facade.authenticate(username="engineer", password="typo", address="198.51.100.20")
    assert facade.authenticate(username="engineer", password="demo", address="198.51.100.20").name == "engineer"


def test_guesses_sent_in_parallel_are_counted_before_they_are_verified(facade: Aftercare) -> None:
    """Twenty guesses at once from one address: each counts before its argon2 verify, so only as many are verified as
    the per-user-and-address rule allows (5); the rest are told to wait (before, most of them were verified)."""
    import threading

    outcomes: list[str] = []
    barrier = threading.Barrier(20)

    def guess() -> None:
        barrier.wait()
        try:
            facade.authenticate(username="engineer", password="guess", address="203.0.113.7")
        except TooManyAttempts:
            outcomes.append("429")
        except Unauthorized:
            outcomes.append("401")

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 20
    assert outcomes.count("401") == 5 and outcomes.count("429") == 15


def test_an_office_of_good_logins_is_never_blocked(facade: Aftercare) -> None:
    """Every login counts before its verify; a good one takes its count back from the address, so thirty colleagues
    logging in from one office address never reach the address's limit (20)."""
    for n in range(30):
        facade.add_user(username=f"desk{n}", role="service_desk", password="correct horse battery")
        assert facade.authenticate(username=f"desk{n}", password="correct horse battery",
                                   address="198.51.100.1").name == f"desk{n}"


def test_a_wrong_password_keeps_the_username_on_the_form(client: TestClient) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    wrong = client.post("/login", data={"username": "engineer", "password": "typo", "csrf": csrf.group(1)})
    assert wrong.status_code == 401
    assert re.search(r'id="username"[^>]*value="engineer"', wrong.text)  # only the password is typed again
    assert re.search(r'id="password"[^>]*autofocus', wrong.text)
