"""The ticket list: status groups, every filter, sorting, paging, export rows, query parsing and saved views."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import NotFound, ValidationFailed
from engine.models import Ticket
from engine.ticket_list import TicketQuery, parse_query
from engine.users import Actor
from tests.support import Desk, complete_as_customer

DESK = Actor("service_desk", "service_desk")


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


@pytest.fixture
def tickets(desk: Desk, facade: Aftercare, clock: FakeClock) -> dict[str, int]:
    """Four tickets: a fault being worked, a question waiting on the customer, an untriaged one a day later
    (its triage claimed by the desk) and an archived question."""
    fault = desk.create(channel="phone")
    desk.triage(fault, category="fault", severity=1)
    waiting = desk.create(customer="青山医院", channel="wechat", title="报表导出为空")
    desk.triage(waiting, category="question")
    desk.complete(waiting, "answer_question", {"answer": "请先选择月份"})
    archived = desk.create(customer="青山医院", channel="web", title="如何导出月报")
    desk.triage(archived, category="question")
    desk.complete(archived, "answer_question", {"answer": "在报表菜单中选择导出"})
    complete_as_customer(facade, archived, {"accepted": True})
    complete_as_customer(facade, archived, {"score": 5})
    desk.complete(archived, "callback", {"recurred": False, "satisfaction": 5, "comment": "满意"})
    clock.advance(days=1)
    new = desk.create(customer="华东电网信息中心", channel="email", title="巡检报告缺页")
    facade.claim_task(task_id=desk.task(new, "triage")["id"], actor=DESK)
    return {"fault": fault, "waiting": waiting, "archived": archived, "new": new}


def ids(facade: Aftercare, **filters: Any) -> list[int]:
    """Ticket ids the list shows for `filters`, in its order."""
    return [r["id"] for r in facade.list_tickets(query=TicketQuery(**filters), actor=DESK).rows]


def test_status_groups_and_filters(facade: Aftercare, tickets: dict[str, int], desk: Desk) -> None:
    t = tickets
    assert desk.ticket(t["archived"])["status"] == "archived"
    assert ids(facade) == [t["new"], t["archived"], t["waiting"], t["fault"]]  # newest first
    assert sorted(ids(facade, status="open")) == sorted([t["fault"], t["new"]])
    assert ids(facade, status="waiting") == [t["waiting"]]
    assert ids(facade, status="archived") == [t["archived"]]
    assert ids(facade, status="closed") == []
    assert ids(facade, status="triage") == [t["new"]]
    assert ids(facade, category="question") == [t["archived"], t["waiting"]]
    assert ids(facade, severity=1) == [t["fault"]]
    assert ids(facade, customer="青山") == [t["archived"], t["waiting"]]
    assert ids(facade, channel="email") == [t["new"]]
    assert ids(facade, assignee="service_desk") == [t["new"]]
    assert ids(facade, q="导出", status="waiting") == [t["waiting"]]
    today, yesterday = facade.clock.now().date(), facade.clock.now().date() - timedelta(days=1)
    assert ids(facade, created_from=today) == [t["new"]]
    assert ids(facade, created_to=yesterday) == [t["archived"], t["waiting"], t["fault"]]
    assert ids(facade, closed_from=yesterday, closed_to=yesterday) == [t["archived"]]
    row = facade.list_tickets(query=TicketQuery(status="waiting"), actor=DESK).rows[0]
    assert {k: row[k] for k in ("customer", "status", "state", "category", "channel")} == {
        "customer": "青山医院", "status": "awaiting_acceptance", "state": "waiting", "category": "question",
        "channel": "wechat"}


def _set(facade: Aftercare, ticket_id: int, **columns: Any) -> None:
    def update(session: Any) -> None:
        ticket = session.get(Ticket, ticket_id)
        for name, value in columns.items():
            setattr(ticket, name, value)
    facade.run_in_unit(update, write=True)


def test_breached_and_at_risk(facade: Aftercare, tickets: dict[str, int]) -> None:
    now, t = facade.clock.now(), tickets
    _set(facade, t["fault"], created_at=now - timedelta(hours=9), resolve_due=now + timedelta(hours=1),
         resolved_at=None, breaches=[])  # 90 % used
    _set(facade, t["new"], created_at=now - timedelta(hours=1), resolve_due=now + timedelta(hours=9))  # 10 %
    _set(facade, t["waiting"], breaches=[{"kind": "response", "at": now.isoformat()}])
    assert ids(facade, at_risk=True) == [t["fault"]]
    assert ids(facade, breached=True) == [t["waiting"]]
    _set(facade, t["fault"], resolve_due=now - timedelta(minutes=1))  # overdue now, unresolved
    assert ids(facade, at_risk=True) == []
    assert sorted(ids(facade, breached=True)) == sorted([t["waiting"], t["fault"]])
    rows = {r["id"]: r for r in facade.list_tickets(query=TicketQuery(), actor=DESK).rows}
    assert rows[t["fault"]]["breached"] and not rows[t["new"]]["breached"] and not rows[t["new"]]["at_risk"]


def test_sorting_and_paging(facade: Aftercare, tickets: dict[str, int]) -> None:
    t = tickets
    assert ids(facade, sort="created", desc=False) == [t["fault"], t["waiting"], t["archived"], t["new"]]
    assert ids(facade, sort="customer", desc=False)[0] in (t["fault"],)  # "Demo Customer" sorts first
    assert ids(facade, sort="severity", desc=False)[0] == t["fault"]  # 1 is the most severe
    first = facade.list_tickets(query=TicketQuery(per_page=3), actor=DESK)
    second = facade.list_tickets(query=TicketQuery(per_page=3, page=2), actor=DESK)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (4, 2, 3, 1)
    assert [r["id"] for r in first.rows + second.rows] == ids(facade)
    assert facade.list_tickets(query=TicketQuery(page=99), actor=DESK).rows == []
    everything = facade.export_tickets(query=TicketQuery(per_page=1, page=3, category="question"), actor=DESK)
    assert [r["id"] for r in everything.rows] == [t["archived"], t["waiting"]]


def test_parse_query_names_each_bad_value() -> None:
    query, errors = parse_query({"q": " 登录 ", "status": "open", "severity": "2", "breached": "true",
                                 "created_from": "2026-11-01", "sort": "due", "desc": "false", "page": "3",
                                 "per_page": "50", "channel": "Phone"})
    assert errors == []
    assert (query.q, query.status, query.severity, query.breached, query.sort, query.desc, query.page,
            query.per_page, query.channel, str(query.created_from)) == (
        "登录", "open", 2, True, "due", False, 3, 50, "phone", "2026-11-01")
    assert query.params(page=1) == {"q": "登录", "status": "open", "severity": "2", "channel": "phone",
                                    "created_from": "2026-11-01", "breached": "true", "sort": "due",
                                    "desc": "false", "per_page": "50"}
    _, errors = parse_query({"severity": "x", "page": "99999999999999999999", "per_page": "201",
                             "created_to": "2026-13-01", "breached": "maybe", "sort": "nope", "channel": "fax",
                             "status": "<b>", "at_risk": "", "category": ""})
    assert sorted(e["field"] for e in errors) == ["breached", "channel", "created_to", "page", "per_page",
                                                  "severity", "sort", "status"]
    empty, errors = parse_query({"severity": "", "page": "", "status": "", "q": ""})
    assert errors == [] and empty == TicketQuery()


def test_strict_parse_refuses(facade: Aftercare) -> None:
    with pytest.raises(ValidationFailed) as caught:
        facade.tickets.parse_query(params={"per_page": "500"}, strict=True)
    assert caught.value.errors[0]["field"] == "per_page"


def test_saved_views_belong_to_their_user(facade: Aftercare) -> None:
    engineer = Actor("engineer", "engineer")
    view = facade.tickets.save_view(actor=DESK, name="我的超时", query="?breached=true&page=4&q=")
    assert view["query"] == "breached=true"
    facade.tickets.save_view(actor=DESK, name="我的超时", query="breached=true&severity=1")
    assert facade.tickets.saved_views(actor=DESK) == [{"id": view["id"], "name": "我的超时",
                                                       "query": "breached=true&severity=1"}]
    assert facade.tickets.saved_views(actor=engineer) == []
    with pytest.raises(NotFound):
        facade.tickets.delete_view(actor=engineer, view_id=view["id"])
    with pytest.raises(ValidationFailed):
        facade.tickets.save_view(actor=DESK, name=" ", query="a=1")
    facade.tickets.delete_view(actor=DESK, view_id=view["id"])
    assert facade.tickets.saved_views(actor=DESK) == []
