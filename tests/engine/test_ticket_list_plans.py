"""The ticket list's query plans, which keep it fast at 100,000 tickets (bench/search.py): each sort walks its index,
a search alone is counted on the search index, and on SQLite the count picks the page's plan (few matches: found
through the filters' indexes, then sorted; many: the sort's index walked, the id sets probed). Every plan gives the
same tickets in the same order."""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from engine import ticket_list
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.models import Ticket
from engine.ticket_list import TicketQuery
from engine.users import Actor
from tests.support import Desk

DESK = Actor("service_desk", "service_desk")
SORT_INDEXES = {"created": "ix_ticket_created_at", "updated": "ix_ticket_updated_at",
                "closed": "ix_ticket_closed_at", "title": "ix_ticket_title", "due": "ix_ticket_resolve_due",
                "severity": "ix_ticket_severity", "status": "ix_ticket_status"}


@pytest.fixture
def tickets(facade: Aftercare, clock: FakeClock) -> list[int]:
    """Six tickets over two customers and two titles, an hour apart, one claimed, one closed, one near its
    deadline, one past its response deadline."""
    desk = Desk(facade, clock)
    made = []
    for n in range(6):
        made.append(desk.create(customer=("青山医院", "Demo Customer")[n % 2],
                                title=("系统无法登录", "打印机卡纸")[n % 3 == 0], description="现场反馈"))
        clock.advance(hours=1)
    facade.claim_task(task_id=desk.task(made[1], "triage")["id"], actor=DESK)
    now = facade.clock.now()

    def adjust(session: Any) -> None:
        closed, risky, late = (session.get(Ticket, made[n]) for n in (2, 4, 0))
        late.breaches = [{"kind": "response", "at": now.isoformat()}]
        closed.resolved_at = closed.closed_at = now - timedelta(minutes=30)
        risky.created_at, risky.resolve_due, risky.breaches = now - timedelta(hours=9), now + timedelta(hours=1), []
    facade.run_in_unit(adjust, write=True)
    return made


def statements(facade: Aftercare, query: TicketQuery, exact: bool = False) -> tuple[list[int], str, str]:
    """The ids the list shows for `query`, and the plans of its count and of its page statement."""
    seen: list[tuple[str, Any]] = []

    def spy(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    event.listen(facade.db, "before_cursor_execute", spy)
    try:
        ids = [r["id"] for r in facade.list_tickets(query=query, actor=DESK, exact=exact).rows]
    finally:
        event.remove(facade.db, "before_cursor_execute", spy)
    count = next(s for s in seen if "count(*)" in s[0])
    page = [s for s in seen if s[0].startswith("SELECT ticket.id \n") and "LIMIT" in s[0]]
    return ids, plan(facade, *count), plan(facade, *page[0]) if page else "no page statement: nothing matched"


def plan(facade: Aftercare, statement: str, parameters: Any) -> str:
    """The plan the database reports for one statement (PostgreSQL told to avoid scans)."""
    def run(session: Any) -> str:
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            return "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    return str(facade.run_in_unit(run))


@pytest.mark.parametrize("desc", [True, False])
@pytest.mark.parametrize("sort", list(SORT_INDEXES))
def test_each_sort_walks_its_index(facade: Aftercare, tickets: list[int], sort: str, desc: bool) -> None:
    ids, _, page = statements(facade, TicketQuery(sort=sort, desc=desc))
    assert sorted(ids) == sorted(tickets)
    if facade.db.dialect.name == "sqlite":
        assert f"INDEX {SORT_INDEXES[sort]}" in page and "TEMP B-TREE" not in page, page
    elif sort in ("created", "updated", "title", "status"):  # not null: no NULLS LAST, the index walks both ways
        assert SORT_INDEXES[sort] in page, page


def test_sorts_keep_nulls_last_both_ways(facade: Aftercare, tickets: list[int]) -> None:
    closed = tickets[2]
    assert statements(facade, TicketQuery(sort="closed"))[0][0] == closed
    assert statements(facade, TicketQuery(sort="closed", desc=False))[0][0] == closed
    risky = tickets[4]  # created nine hours ago, before the others
    assert statements(facade, TicketQuery(sort="created", desc=False))[0] == [risky, *(t for t in tickets
                                                                                       if t != risky)]


def test_a_search_alone_is_counted_on_the_search_index(facade: Aftercare, tickets: list[int]) -> None:
    alone = statements(facade, TicketQuery(q="登录"), exact=True)
    through_tickets = statements(facade, TicketQuery(q="登录", created_from=date(2000, 1, 1)), exact=True)
    assert alone[0] == through_tickets[0] and len(alone[0]) == 4
    assert "ticket_search" in alone[1] and not re.search(r"\b(SCAN|SEARCH|on) ticket\b", alone[1]), alone[1]
    assert re.search(r"\b(SCAN|SEARCH|on) ticket\b", through_tickets[1]), through_tickets[1]
    assert facade.list_tickets(query=TicketQuery(q="登录"), actor=DESK).total == 4
    assert facade.list_tickets(query=TicketQuery(q="!!"), actor=DESK).total == 0


def test_few_at_risk_tickets_are_found_by_their_deadline(facade: Aftercare, tickets: list[int]) -> None:
    ids, count, page = statements(facade, TicketQuery(at_risk=True))
    assert ids == [tickets[4]]
    if facade.db.dialect.name == "sqlite":
        for one in (count, page):
            assert "ix_ticket_resolve_due" in one and "ix_ticket_closed_at" not in one, one
        assert "TEMP B-TREE FOR ORDER BY" in page, page


QUERIES = [TicketQuery(q="登录"), TicketQuery(q="登录", sort="title", desc=False), TicketQuery(q="卡纸", sort="due"),
           TicketQuery(customer="医院", sort="customer"), TicketQuery(assignee="service_desk"),
           TicketQuery(task="triage", sort="updated", desc=False), TicketQuery(at_risk=True),
           TicketQuery(q="登录", status="open", per_page=2, page=2), TicketQuery(breached=True),
           TicketQuery(sort="closed", desc=False, per_page=4)]


@pytest.mark.parametrize("query", QUERIES, ids=[str(ticket_list.query_dict(q)) for q in QUERIES])
def test_every_plan_lists_the_same_tickets(facade: Aftercare, tickets: list[int], query: TicketQuery,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    sorted_after = [r["id"] for r in facade.list_tickets(query=query, actor=DESK).rows]
    monkeypatch.setattr(ticket_list, "SPARSE", 0)  # every list counts as many matches: walk the sort's index
    ids, _, page = statements(facade, query)
    assert ids == sorted_after
    if facade.db.dialect.name == "sqlite" and query.q:
        assert "SEARCH ticket USING INTEGER PRIMARY KEY" not in page and "LIST SUBQUERY" in page, page


def test_many_search_matches_walk_the_sort_index(facade: Aftercare, tickets: list[int],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ticket_list, "SPARSE", 0)
    ids, _, page = statements(facade, TicketQuery(q="登录"))
    assert ids == [tickets[5], tickets[2], tickets[1], tickets[4]]  # newest first; the fifth is nine hours old
    if facade.db.dialect.name == "sqlite":
        assert "ix_ticket_created_at" in page and "TEMP B-TREE" not in page, page


def test_few_search_matches_are_collected_through_the_index_then_sorted(facade: Aftercare,
                                                                        tickets: list[int]) -> None:
    ids, _, page = statements(facade, TicketQuery(q="卡纸"))
    assert ids == [tickets[3], tickets[0]]
    if facade.db.dialect.name == "sqlite":
        assert "ticket_search_fts" in page and "TEMP B-TREE FOR ORDER BY" in page, page
    else:  # the matches once, through the index: never a tsvector built for each ticket walked
        assert "ix_ticket_search_tsv" in page and "ix_ticket_created_at" not in page, page
