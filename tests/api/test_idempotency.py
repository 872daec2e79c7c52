"""Idempotent ticket creation (issue 11 item 5): `POST /api/tickets` and the portal take an `Idempotency-Key`; a
repeat answers with the first ticket, also when two requests race, on SQLite and PostgreSQL."""
from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import ValidationFailed
from engine.models import IdempotencyKey, Ticket
from engine.users import Actor
from tests.api.conftest import login

TICKET = {"customer": "Demo Customer", "contact_name": "王工", "contact_email": "wang@demo-customer.example",
          "channel": "phone", "title": "系统无法登录", "description": "所有用户登录报 500"}
PORTAL = {"organization": "demo customer", "contact_name": "周工", "contact_email": "zhou@demo-customer.example",
          "title": "打印模板错位", "description": "升级后打印出来的单据错位"}


def _tickets(facade: Aftercare) -> int:
    return int(facade.run_in_unit(lambda s: s.query(Ticket).count()))


def _post(client: TestClient, headers: dict[str, str], key: str, **changes: Any) -> Any:
    return client.post("/api/tickets", json={**TICKET, **changes}, headers={**headers, "Idempotency-Key": key})


def test_a_retry_with_the_same_key_answers_with_the_first_ticket(client: TestClient, facade: Aftercare) -> None:
    desk = login(client, "service_desk")
    first = _post(client, desk, "retry-1")
    again = _post(client, desk, "retry-1")
    assert first.status_code == again.status_code == 201
    assert (again.json()["id"], again.json()["number"]) == (first.json()["id"], first.json()["number"])
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert _tickets(facade) == 1
    other = _post(client, desk, "retry-2")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"] and _tickets(facade) == 2


def test_without_a_key_every_request_opens_a_ticket(client: TestClient, facade: Aftercare) -> None:
    desk = login(client, "service_desk")
    assert {client.post("/api/tickets", json=TICKET, headers=desk).json()["id"] for _ in range(2)} == {1, 2}


def test_the_same_key_with_other_fields_is_refused(client: TestClient, facade: Aftercare) -> None:
    desk = login(client, "service_desk")
    assert _post(client, desk, "k").status_code == 201
    changed = _post(client, desk, "k", title="另一个问题")
    assert changed.status_code == 422 and [e["field"] for e in changed.json()["errors"]] == ["Idempotency-Key"]
    assert _tickets(facade) == 1


def test_a_key_belongs_to_its_caller(client: TestClient, facade: Aftercare) -> None:
    mine = _post(client, login(client, "service_desk"), "shared")
    theirs = _post(client, login(client, "admin"), "shared")
    assert theirs.status_code == 201 and theirs.json()["id"] != mine.json()["id"] and _tickets(facade) == 2


def test_a_refused_request_leaves_the_key_free(client: TestClient, facade: Aftercare) -> None:
    desk = login(client, "service_desk")
    refused = _post(client, desk, "fix-and-retry", customer="Nobody Ltd")
    assert refused.status_code == 422 and _tickets(facade) == 0
    assert _post(client, desk, "fix-and-retry").status_code == 201 and _tickets(facade) == 1


def test_a_key_is_kept_for_24_hours(client: TestClient, facade: Aftercare, clock: FakeClock) -> None:
    desk = login(client, "service_desk")
    first = _post(client, desk, "daily").json()["id"]
    clock.advance(hours=23)
    assert _post(client, login(client, "service_desk"), "daily").json()["id"] == first
    clock.advance(hours=2)
    later = _post(client, login(client, "service_desk"), "daily")
    assert later.status_code == 201 and later.json()["id"] != first and _tickets(facade) == 2
    assert facade.run_in_unit(lambda s: s.query(IdempotencyKey).count()) == 1  # the expired one is gone


@pytest.mark.parametrize("key", ["", "a" * 256, "with space", "非ASCII"])
def test_a_key_that_is_not_one_is_refused(client: TestClient, facade: Aftercare, key: str) -> None:
    headers = {**login(client, "service_desk"), "Idempotency-Key": key}
    response = client.post("/api/tickets", json=TICKET, headers={k: v.encode() if k == "Idempotency-Key" else v
                                                                  for k, v in headers.items()})
    assert response.status_code == 422 and [e["field"] for e in response.json()["errors"]] == ["Idempotency-Key"]
    assert _tickets(facade) == 0


def test_requests_racing_with_one_key_open_one_ticket(facade: Aftercare) -> None:
    """Threads, each its own unit of work, released together: the unique key lets one ticket through."""
    desk = Actor("service_desk", "service_desk")
    for round_ in range(3):
        start, results = threading.Barrier(4), []

        def create(key: str, start: threading.Barrier = start, results: list[Any] = results) -> None:
            start.wait()
            try:
                results.append(facade.create_ticket(**TICKET, actor=desk, idempotency_key=key)["id"])
            except Exception as exc:  # noqa: BLE001 (every outcome is recorded and asserted on)
                results.append(exc)

        threads = [threading.Thread(target=create, args=(f"race-{round_}",)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 4 and len(set(results)) == 1 and isinstance(results[0], int), results
    assert _tickets(facade) == 3


def test_the_same_key_with_other_fields_is_refused_by_the_engine(facade: Aftercare) -> None:
    desk = Actor("service_desk", "service_desk")
    facade.create_ticket(**TICKET, actor=desk, idempotency_key="engine")
    with pytest.raises(ValidationFailed) as refused:
        facade.create_ticket(**{**TICKET, "description": "changed"}, actor=desk, idempotency_key="engine")
    assert refused.value.errors[0]["field"] == "Idempotency-Key"


def _key_in(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _portal_key(client: TestClient) -> str:
    return _key_in(client.get("/portal").text)


def test_the_portal_form_sent_twice_opens_one_ticket(client: TestClient, facade: Aftercare) -> None:
    key = _portal_key(client)
    assert key != _portal_key(client)  # a new key with each page
    first = client.post("/portal", data={**PORTAL, "idempotency_key": key})
    again = client.post("/portal", data={**PORTAL, "idempotency_key": key})
    number = re.compile(r'id="ticket-number">([^<]+)<')
    assert first.status_code == again.status_code == 200
    assert number.search(first.text).group(1) == number.search(again.text).group(1)  # type: ignore[union-attr]
    assert _tickets(facade) == 1
    changed = client.post("/portal", data={**PORTAL, "title": "另一件事", "idempotency_key": key})  # back, edited
    assert changed.status_code == 422 and "此表单已用其他内容提交过" in changed.text and _tickets(facade) == 1
    resent = client.post("/portal", data={**PORTAL, "title": "另一件事", "idempotency_key": _key_in(changed.text)})
    assert resent.status_code == 200 and _tickets(facade) == 2  # sent again with the page's new key: a new ticket
    header = client.post("/portal", data=PORTAL, headers={"Idempotency-Key": key})
    assert number.search(header.text).group(1) == number.search(first.text).group(1)  # type: ignore[union-attr]


def test_the_portal_keeps_the_key_when_it_shows_the_form_again(client: TestClient) -> None:
    key = _portal_key(client)
    missing = client.post("/portal", data={**PORTAL, "title": "", "idempotency_key": key})
    assert missing.status_code == 422 and f'name="idempotency_key" value="{key}"' in missing.text


def test_the_same_words_sent_again_from_a_fresh_form_show_the_first_ticket(client: TestClient,
                                                                            facade: Aftercare) -> None:
    """Back, then Send: the browser fetched a new form (a new key) but kept what the customer typed. The same request
    is not opened twice; the customer sees the number of the first."""
    number = re.compile(r'id="ticket-number">([^<]+)<')
    first = client.post("/portal", data={**PORTAL, "idempotency_key": _portal_key(client)})
    again = client.post("/portal", data={**PORTAL, "idempotency_key": _portal_key(client)})
    assert first.status_code == again.status_code == 200
    assert number.search(again.text).group(1) == number.search(first.text).group(1)  # type: ignore[union-attr]
    assert _tickets(facade) == 1
    other = client.post("/portal", data={**PORTAL, "title": "另一件事", "idempotency_key": _portal_key(client)})
    assert other.status_code == 200 and _tickets(facade) == 2  # other words: another request
