"""The portal's and the /my sign-in's request limits are counted in the database: two app processes (here two
facades, each with its own engine and connection pool, behind two apps) on one database give a client one count."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.portal import limiter
from api.self_service import sign_in_limiter
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Unauthorized
from engine.models import LoginThrottle, Ticket
from engine.settings import Settings
from engine.throttle import Keys, Window
from tests.conftest import MONDAY_10AM

FORM = {"organization": "demo customer", "contact_name": "周工", "contact_email": "zhou@demo-customer.example",
        "title": "打印模板错位", "description": "升级后打印出来的单据错位"}
TOO_MANY = "提交过于频繁，请稍后再试。"


@pytest.fixture
def other(settings: Settings, facade: Aftercare) -> Iterator[Aftercare]:
    """A second facade on the test's database: what another `aftercare serve` process holds."""
    second = Aftercare(settings, facade.clock)
    yield second
    second.close()


@pytest.fixture
def other_client(other: Aftercare) -> Iterator[TestClient]:
    """A client of a second app, over the second facade."""
    with TestClient(create_app(other, run_worker=False)) as test_client:
        yield test_client


def _tickets(facade: Aftercare) -> int:
    with facade.kernel.uow(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(Ticket)) or 0)


def test_the_portal_limit_is_one_count_across_servers(client: TestClient, other_client: TestClient,
                                                      facade: Aftercare, other: Aftercare) -> None:
    before = _tickets(facade)
    codes = [c.post("/portal", data={**FORM, "title": f"打印模板错位 {n}"}).status_code  # five different requests
             for n, c in enumerate((client, other_client, client, other_client, client))]
    assert codes == [200] * 5 and _tickets(facade) == before + 5
    for server in (other_client, client, other_client):  # the sixth, wherever it goes, is one too many
        refused = server.post("/portal", data=FORM)
        assert refused.status_code == 429 and TOO_MANY in refused.text
        assert 'id="ticket-number"' not in refused.text
    assert _tickets(facade) == before + 5  # refused requests opened nothing
    assert other.limits.reset(limiter.rule) == 6  # the count lives in the database (a head row and five slots):
    assert other_client.post("/portal", data=FORM).status_code == 200  # forgotten there, the address may post again


def test_the_sign_in_limit_is_one_count_across_servers(client: TestClient, other_client: TestClient) -> None:
    servers = [client, other_client] * 5
    for n, server in enumerate(servers):
        page = server.post("/my", data={"email": f"nobody{n}@qingshan-hospital.example"})
        assert page.status_code == 200 and 'id="sent"' in page.text
    for server in (client, other_client):
        refused = server.post("/my", data={"email": "li@qingshan-hospital.example"})
        assert refused.status_code == 429 and TOO_MANY in refused.text and 'id="sent"' not in refused.text
    assert client.post("/portal", data=FORM).status_code == 200  # each limit counts on its own


def _stopped(*facades: Aftercare) -> FakeClock:
    """One fake wall clock for the limits of every facade given."""
    clock = FakeClock(MONDAY_10AM)
    for each in facades:
        each.limits.clock = clock
    return clock


def test_the_window_slides_the_same_for_every_process(facade: Aftercare, other: Aftercare) -> None:
    clock = _stopped(facade, other)
    rule = limiter.rule
    assert (rule.limit, rule.seconds) == (5, 600) and (sign_in_limiter.rule.limit, sign_in_limiter.rule.seconds) \
        == (10, 600)
    allowed = []
    for n in range(5):  # one a minute, alternating between the processes
        allowed.append((facade if n % 2 else other).limits.allow(rule, "198.51.100.7"))
        clock.advance(minutes=1)
    assert allowed == [True] * 5
    assert not facade.limits.allow(rule, "198.51.100.7") and not other.limits.allow(rule, "198.51.100.7")
    assert facade.limits.allow(rule, "198.51.100.8")  # another address has its own count
    clock.set(MONDAY_10AM + timedelta(minutes=10) - timedelta(seconds=1))  # the first is still inside the window
    assert not other.limits.allow(rule, "198.51.100.7") and not facade.limits.allow(rule, "198.51.100.7")
    clock.set(MONDAY_10AM + timedelta(minutes=10))  # the first left it: room for exactly one more
    assert other.limits.allow(rule, "198.51.100.7")
    assert not facade.limits.allow(rule, "198.51.100.7")  # this process refused before and learns of the new one
    clock.advance(minutes=1)  # the second left too
    assert facade.limits.allow(rule, "198.51.100.7") and not other.limits.allow(rule, "198.51.100.7")


def test_concurrent_requests_through_two_processes_get_exactly_the_limit(facade: Aftercare, other: Aftercare) -> None:
    rule = Window("portal", 5, 600)
    results: list[bool] = []
    lock = threading.Lock()

    def hammer(each: Aftercare) -> None:
        for _ in range(8):
            fits = each.limits.allow(rule, "203.0.113.9")
            with lock:
                results.append(fits)

    threads = [threading.Thread(target=hammer, args=(each,)) for each in (facade, other, facade, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 32 and results.count(True) == 5


def test_limits_leave_the_login_throttle_alone(facade: Aftercare, other: Aftercare) -> None:
    clock = _stopped(facade, other)
    facade.sessions.clock = clock
    with pytest.raises(Unauthorized):
        facade.sessions.authenticate(username="admin", password="wrong", address="198.51.100.7")
    login_keys = set(Keys.of("admin", "198.51.100.7").rules())
    for _ in range(5):
        assert other.limits.allow(limiter.rule, "198.51.100.7")
    clock.advance(hours=1)  # every limit row is idle now; a new client tidies them away
    assert other.limits.allow(limiter.rule, "192.0.2.1")
    with facade.kernel.uow(write=False) as session:
        keys = set(session.scalars(select(LoginThrottle.key)))
        assert login_keys <= keys  # the login counters survive the tidying
        assert len([k for k in keys if k.startswith("portal:")]) == 2  # the new client's head and one slot
    assert facade.limits.reset(limiter.rule) == 2
    with facade.kernel.uow(write=False) as session:
        assert session.scalar(select(func.count()).select_from(LoginThrottle)) == len(login_keys)


def test_clients_tidying_at_once_never_deadlock(facade: Aftercare, other: Aftercare) -> None:
    """New clients tidy up idle counters; many at once through two processes must all be answered (on PostgreSQL
    two tidies deleting the same idle rows in different orders used to deadlock, and the portal answered 500)."""
    import time

    window = Window("race", 3, 0.05)  # a short window: every round finds the last rounds' rows idle
    rounds, clients = 12, 6
    barrier = threading.Barrier(clients)
    errors: list[BaseException] = []
    answers: list[bool] = []

    def client(facade_: Aftercare, name: str) -> None:
        try:
            for round_ in range(rounds):
                barrier.wait()  # all at the same moment, each a new client (a tidy every time)
                answers.append(facade_.limits.allow(window, f"{name}-{round_}"))
                time.sleep(0.06)
        except BaseException as exc:  # noqa: BLE001 - any error is the failure this test looks for
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=client, args=(f, f"10.0.0.{i}"))
               for i, f in enumerate([facade, other] * (clients // 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(answers) == rounds * clients and all(answers)
