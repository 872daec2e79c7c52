"""Paging the task list (issue 11 item 6): `GET /api/tasks` pages by `limit` and `offset` in due order; the staff
page walks forward and back over a list too long to count by keyset cursors without losing or repeating a task; each
filter gives exactly its tasks; the ticket facts the filters read are copied onto open tasks by the projection."""
from __future__ import annotations

import html
import random
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from engine import worklist
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.models import Customer, HumanTask, Ticket
from engine.users import Actor
from engine.worklist import WorklistQuery
from tests.api.conftest import login
from tests.support import Desk

ROLES = ("service_desk", "engineer", "expert", "manager", "customer")
MANAGER, ENGINEER = Actor("manager", "manager"), Actor("engineer", "engineer")
SEEDED = 250


def seed(facade: Aftercare, count: int = SEEDED) -> list[dict[str, Any]]:
    """`count` tickets with one open task each, as the projection writes them, varied by a fixed seed: every role,
    severities on faults only, three customers, due times past and future and some none, some tasks claimed, equal due
    times (ties broken by id). Returns the tasks as the expectations read them."""
    rng, now = random.Random(11), facade.clock.now()
    template = Desk(facade, facade.clock).create(title="template")
    instance_id = facade.run_in_unit(lambda s: s.get(Ticket, template).instance_id)
    customers = facade.run_in_unit(lambda s: list(s.scalars(select(Customer.id).order_by(Customer.id))))[:3]
    facade.run_in_unit(lambda s: s.execute(update(HumanTask).values(state="done")), write=True)  # only the seeded
    tickets, tasks = [], []
    for n in range(count):
        fault = rng.random() < 0.7
        due = None if rng.random() < 0.1 else now + timedelta(minutes=rng.choice([-90, -30, 5, 60, 60, 600, 3000]))
        resolve = None if rng.random() < 0.2 else now + timedelta(minutes=rng.choice([-10, 30, 900]))
        ticket = {"id": 500_000 + n, "number": f"T-{rng.randrange(10**6):06d}-{n:03d}",
                  "customer_id": rng.choice(customers), "severity": rng.choice([1, 2, 3]),
                  "category": "fault" if fault else "question", "resolve_due": resolve}
        tickets.append({**ticket, "instance_id": instance_id, "contact_name": "x", "contact_email": "x@example.com",
                        "channel": "web", "title": f"seeded {n}", "description": "", "status": "in_progress",
                        "tier": "standard", "breaches": [], "escalation_level": 0, "created_at": now,
                        "updated_at": now})
        tasks.append({"id": f"seed-{rng.randrange(16**8):08x}-{n:03d}", "instance_id": instance_id,
                      "ticket_id": ticket["id"], "bpmn_id": "engineer_resolution", "title": "Fault resolution",
                      "role": rng.choice(ROLES), "state": "open", "due_at": due,
                      "created_at": now - timedelta(minutes=rng.randrange(500)),
                      "assignee": rng.choice([None, None, None, "engineer", "expert"]),
                      "ticket_number": ticket["number"], "ticket_customer_id": ticket["customer_id"],
                      "ticket_severity": ticket["severity"] if fault else None, "ticket_resolve_due": resolve})

    def insert_rows(session: Any) -> None:
        session.execute(insert(Ticket), tickets)
        session.execute(insert(HumanTask), tasks)
    facade.run_in_unit(insert_rows, write=True)
    return tasks


def in_order(tasks: list[dict[str, Any]], key: str = "due_at", descending: bool = False) -> list[str]:
    """Task ids as the list orders them: by `key` (nulls last either way), then by id in the same direction."""
    keyed = sorted((t for t in tasks if t[key] is not None), key=lambda t: (t[key], t["id"]), reverse=descending)
    unkeyed = sorted((t for t in tasks if t[key] is None), key=lambda t: t["id"], reverse=descending)
    return [t["id"] for t in keyed + unkeyed]


@pytest.fixture
def seeded(facade: Aftercare) -> list[dict[str, Any]]:
    return seed(facade)


# -- GET /api/tasks ----------------------------------------------------------------------------------------------


def test_the_json_list_pages_by_100_in_due_order(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    headers = login(client, "manager")
    expected = in_order(seeded)
    first = client.get("/api/tasks", headers=headers)
    assert first.status_code == 200 and [t["id"] for t in first.json()] == expected[:100]
    assert set(first.json()[0]) >= {"id", "ticket_id", "name", "title", "role", "form_key", "due_at", "created_at"}
    pages = [client.get("/api/tasks", params={"offset": offset}, headers=headers).json()
             for offset in (100, 200, 300)]
    assert [t["id"] for page in pages for t in page] == expected[100:]
    assert [len(page) for page in pages] == [100, 50, 0]
    assert [t["id"] for t in client.get("/api/tasks", params={"limit": 1000}, headers=headers).json()] == expected
    odd = client.get("/api/tasks", params={"limit": 7, "offset": 221}, headers=headers).json()
    assert [t["id"] for t in odd] == expected[221:228]  # across the tasks without a due time


def test_the_json_list_keeps_its_filters(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    manager, engineer = login(client, "manager"), login(client, "engineer")
    experts = in_order([t for t in seeded if t["role"] == "expert"])
    assert [t["id"] for t in client.get("/api/tasks", params={"role": "expert", "limit": 1000},
                                        headers=manager).json()] == experts
    mine = in_order([t for t in seeded if t["role"] == "engineer"])
    assert [t["id"] for t in client.get("/api/tasks", params={"limit": 1000}, headers=engineer).json()] == mine
    assert client.get("/api/tasks", params={"role": "expert"}, headers=engineer).json() == []
    assert client.get("/api/tasks", params={"role": "nobody"}, headers=manager).json() == []
    one = seeded[17]
    assert [t["id"] for t in client.get("/api/tasks", params={"ticket_id": one["ticket_id"]},
                                        headers=manager).json()] == [one["id"]]


def test_one_tickets_tasks_page_in_due_order_and_keep_the_role_filter(
        client: TestClient, facade: Aftercare, seeded: list[dict[str, Any]]) -> None:
    """The `ticket_id` filter reads the ticket's few tasks in one statement and orders them itself: the same order,
    paging and lanes as the index walk (due time, none last, then id)."""
    ticket_id = seeded[0]["ticket_id"]
    facade.run_in_unit(lambda s: s.execute(update(HumanTask).values(ticket_id=ticket_id)), write=True)
    manager, engineer = login(client, "manager"), login(client, "engineer")

    def ids(headers: dict[str, str], **params: Any) -> list[str]:
        answer = client.get("/api/tasks", params={"ticket_id": ticket_id, **params}, headers=headers)
        assert answer.status_code == 200, answer.text
        return [t["id"] for t in answer.json()]
    everything = in_order(seeded)
    assert ids(manager, limit=1000) == everything
    assert ids(manager) == everything[:100]
    assert ids(manager, limit=9, offset=221) == everything[221:230]  # across the tasks without a due time
    assert ids(manager, offset=250) == []
    assert ids(engineer, limit=1000) == in_order([t for t in seeded if t["role"] == "engineer"])
    assert ids(manager, role="expert", limit=1000) == in_order([t for t in seeded if t["role"] == "expert"])


@pytest.mark.parametrize(("name", "value"), [
    ("limit", "0"), ("limit", "-5"), ("limit", "1001"), ("limit", "ten"), ("limit", "1.5"),
    ("offset", "-1"), ("offset", "x"), ("offset", str(2**31)), ("ticket_id", "0"), ("ticket_id", str(2**40)),
])
def test_a_bad_limit_or_offset_answers_422_naming_it(client: TestClient, seeded: list[dict[str, Any]], name: str,
                                                     value: str) -> None:
    response = client.get("/api/tasks", params={name: value}, headers=login(client, "manager"))
    assert response.status_code == 422
    assert name in response.text


# -- the staff page ----------------------------------------------------------------------------------------------


def _ids(response: Any) -> list[str]:
    return re.findall(r'<a href="/tasks/([^"]+)" class="task-link">', response.text)


def _link(response: Any, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', response.text)
    return "/" + html.unescape(found.group(1)) if found else None


def walk(client: TestClient, start: str, rel: str) -> tuple[list[list[str]], list[str]]:
    """Follow `rel` links from `start` to the end: each page's task ids and the pager texts."""
    pages, pagers, address = [], [], start
    while address:
        response = client.get(address)
        assert response.status_code == 200 and 'class="notice"' not in response.text
        pages.append(_ids(response))
        pager = re.search(r'<nav class="pager"[^>]*>(.*?)</nav>', response.text, re.S)
        assert pager is not None
        pagers.append(" ".join(re.sub(r"<[^>]+>", "", pager.group(1)).split()))
        address = _link(response, rel) or ""
        assert len(pages) < 100
    return pages, pagers


@pytest.mark.parametrize(("params", "pick", "key", "descending"), [
    ({"view": "all"}, lambda t, now: True, "due_at", False),
    ({"view": "all", "sort": "number", "desc": "true"}, lambda t, now: True, "ticket_number", True),
    ({"view": "all", "sort": "severity"}, lambda t, now: True, "ticket_severity", False),
    ({"view": "all", "sort": "created", "desc": "true"}, lambda t, now: True, "created_at", True),
    ({"view": "all", "breached": "true"}, lambda t, now: breached(t, now), "due_at", False),
])
def test_the_page_walks_forward_and_back_by_cursor_without_loss_or_repeat(
        client: TestClient, facade: Aftercare, seeded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
        params: dict[str, str], pick: Any, key: str, descending: bool) -> None:
    monkeypatch.setattr(worklist, "COUNT_CAP", 60)  # past the counted range after two pages
    expected = in_order([t for t in seeded if pick(t, facade.clock.now())], key, descending)
    assert len(expected) > 100
    _staff_login(client, "manager")
    forward, pagers = walk(client, "/?" + "&".join(f"{k}={v}" for k, v in params.items()), "next")
    assert [i for page in forward for i in page] == expected
    assert all(len(page) == 25 for page in forward[:-1]) and "60+" in pagers[0]
    assert pagers[0].endswith("下一页 › 最后一页 »") and "第 1 页" in pagers[0]
    assert "第 3 页" in pagers[2] and "after=" in (_link(client.get(_last_address(client, params, 2)), "next") or "")
    backward, back_pagers = walk(client, _link_of(client, params, "last"), "prev")
    assert [i for page in reversed(backward) for i in page] == expected
    assert "倒数第 1 页" in back_pagers[0] and "倒数第 2 页" in back_pagers[1]


def _staff_login(client: TestClient, username: str) -> None:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf is not None
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf.group(1), "next": "/"})


def _link_of(client: TestClient, params: dict[str, str], rel: str) -> str:
    link = _link(client.get("/", params=params), rel)
    assert link is not None
    return link


def _last_address(client: TestClient, params: dict[str, str], hops: int) -> str:
    address = "/?" + "&".join(f"{k}={v}" for k, v in params.items())
    for _ in range(hops):
        address = _link(client.get(address), "next") or ""
    return address


def test_a_cursor_link_stays_valid_when_tasks_come_and_go(client: TestClient, facade: Aftercare,
                                                          seeded: list[dict[str, Any]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worklist, "COUNT_CAP", 60)
    _staff_login(client, "manager")
    expected = in_order(seeded)
    third = client.get(_last_address(client, {"view": "all"}, 2))
    assert _ids(third) == expected[50:75]
    following = _link(third, "next")
    assert following is not None and "after=" in following
    gone = expected[74], expected[10], expected[80]  # the cursor's own task, one before it and one after it, done

    def close(session: Any) -> None:
        session.execute(update(HumanTask).where(HumanTask.id.in_(gone)).values(state="done"))
    facade.run_in_unit(close, write=True)
    assert _ids(client.get(following)) == [i for i in expected[75:101] if i not in gone][:25]


def test_a_cursor_that_means_nothing_is_left_out_with_a_notice(client: TestClient,
                                                               seeded: list[dict[str, Any]]) -> None:
    _staff_login(client, "manager")
    response = client.get("/", params={"view": "all", "after": "bm9wZQ", "end": "x"})
    assert response.status_code == 200 and _ids(response) == in_order(seeded)[:25]
    notice = re.search(r'<p class="notice" role="status">(.*?)</p>', response.text, re.S)
    assert notice is not None and "bm9wZQ" in notice.group(1) and "页码" in notice.group(1)


# -- each filter, exactly --------------------------------------------------------------------------------------


def _everything(facade: Aftercare, actor: Actor, **choices: Any) -> list[str]:
    page = facade.worklist(actor=actor, query=WorklistQuery(per_page=1000, **choices))
    return [row["id"] for row in page.rows]


def breached(task: dict[str, Any], now: datetime) -> bool:
    """Whether the task's deadline or its ticket's has passed."""
    return any(at is not None and at < now for at in (task["due_at"], task["ticket_resolve_due"]))


def test_each_filter_gives_exactly_its_tasks(facade: Aftercare, seeded: list[dict[str, Any]]) -> None:
    now = facade.clock.now()
    customers = facade.run_in_unit(lambda s: {cid: name for cid, name in s.execute(select(Customer.id, Customer.name))})
    some = customers[seeded[0]["ticket_customer_id"]]
    cases: list[tuple[Actor, dict[str, Any], Any]] = [
        (MANAGER, {"view": "all"}, lambda t: True),
        (ENGINEER, {"view": "queue"}, lambda t: t["role"] == "engineer" and t["assignee"] in (None, "engineer")),
        (ENGINEER, {"view": "mine"}, lambda t: t["assignee"] == "engineer"),
        (ENGINEER, {"view": "all"}, lambda t: t["role"] == "engineer"),
        (MANAGER, {"view": "all", "role": "customer"}, lambda t: t["role"] == "customer"),
        (MANAGER, {"view": "all", "severity": 2}, lambda t: t["ticket_severity"] == 2),
        (MANAGER, {"view": "all", "customer": some[1:3]}, lambda t: some[1:3] in customers[t["ticket_customer_id"]]),
        (MANAGER, {"view": "all", "breached": True}, lambda t: breached(t, now)),
        (MANAGER, {"view": "all", "breached": True, "severity": 1, "role": "expert"},
         lambda t: breached(t, now) and t["ticket_severity"] == 1 and t["role"] == "expert"),
        (MANAGER, {"view": "all", "customer": "nobody at all"}, lambda t: False),
    ]
    for actor, choices, pick in cases:
        assert _everything(facade, actor, **choices) == in_order([t for t in seeded if pick(t)]), choices
    counted = facade.worklist(actor=MANAGER, query=WorklistQuery(view="all", breached=True))
    assert counted.total == sum(breached(t, now) for t in seeded)


def test_the_projection_copies_the_ticket_facts_onto_its_open_tasks(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    ticket_id = desk.create(customer="Demo Customer", title="copies")
    desk.triage(ticket_id, severity=1)

    def facts(session: Any) -> tuple[Any, list[Any]]:
        ticket = session.get(Ticket, ticket_id)
        tasks = session.scalars(select(HumanTask).where(HumanTask.ticket_id == ticket_id,
                                                        HumanTask.state == "open")).all()
        return ((ticket.number, ticket.customer_id, ticket.severity, ticket.resolve_due),
                [(t.ticket_number, t.ticket_customer_id, t.ticket_severity, t.ticket_resolve_due) for t in tasks])
    ticket, tasks = facade.run_in_unit(facts)
    assert tasks and all(task == ticket for task in tasks) and isinstance(ticket[3], datetime)
    assert _everything(facade, MANAGER, view="all", severity=1) == [desk.task(ticket_id, desk.names(ticket_id)[0])
                                                                     ["id"]]
