"""Ticket search: the tokens, finding tickets by every field on both databases, and the index behind it."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from engine import search
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import NotFound
from engine.models import Ticket
from engine.ticket_list import TicketQuery, _conditions
from engine.users import Actor
from tests.support import Desk

DESK = Actor("service_desk", "service_desk")


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def found(facade: Aftercare, q: str) -> list[str]:
    """Numbers of the tickets the query finds."""
    page = facade.list_tickets(query=TicketQuery(q=q, per_page=200), actor=DESK)
    return sorted(row["number"] for row in page.rows)


def test_tokens_split_words_and_make_cjk_bigrams() -> None:
    assert search.tokens("系统无法登录") == ["系统", "统无", "无法", "法登", "登录", "录"]
    assert search.tokens("ERP系统 Zhang.Wei@Example.com ＡＢＣ１２") == [
        "erp", "系统", "统", "zhang", "wei", "example", "com", "abc12"]
    assert search.tokens("AC-2026-000003") == ["ac", "2026", "000003"]
    assert search.tokens("a_b!? —— 。") == ["a", "b"]


def test_query_terms_and_the_query_languages() -> None:
    assert search.query_terms("登录") == [("登录", False)]
    assert search.query_terms("无法登录") == [("无法", False), ("法登", False), ("登录", False)]
    assert search.query_terms("登 wang") == [("登", True), ("wang", True)]
    assert search.query_terms("  -- ") == []
    assert search.fts5_query([("登录", False), ("wa", True)]) == '"登录" AND "wa"*'
    assert search.tsquery([("登录", False), ("wa", True)]) == "'登录' & 'wa':*"


def test_documents_take_nested_form_values_but_no_flags() -> None:
    assert search.document(["更换硬盘", {"items": [{"part": "SSD"}], "ok": True, "n": 3}, None]) == \
        "更换 换硬 硬盘 盘 ssd 3"


def test_search_finds_by_number_text_customer_contact_and_form(desk: Desk, facade: Aftercare) -> None:
    login = desk.create()
    printer = desk.create(customer="青山医院", title="打印机卡纸", description="门诊二楼打印机",
                          contact_name="李娜", contact_email="li.na@qingshan.example")
    numbers = {tid: desk.ticket(tid)["number"] for tid in (login, printer)}
    assert found(facade, "登录") == [numbers[login]]
    assert found(facade, "无法登") == [numbers[login]]
    assert found(facade, "卡纸 打印") == [numbers[printer]]
    assert found(facade, numbers[printer]) == [numbers[printer]]
    assert found(facade, numbers[printer].lower()) == [numbers[printer]]
    assert found(facade, "li.na@qingshan.example") == [numbers[printer]]
    assert found(facade, "qingsh") == [numbers[printer]]
    assert found(facade, "医院") == [numbers[printer]]
    assert found(facade, "李娜") == [numbers[printer]]
    assert found(facade, "500") == [numbers[login]]
    assert found(facade, "登录 打印机") == []
    assert found(facade, "没有的词") == []
    desk.triage(login, category="question")
    desk.complete(login, "answer_question", {"answer": "请清除浏览器缓存后重试 cache"})
    assert found(facade, "浏览器缓存") == [numbers[login]]
    assert found(facade, "CACHE") == [numbers[login]]


def test_a_number_opens_its_ticket(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    number = desk.ticket(tid)["number"]
    assert facade.ticket_by_number(number=number) == tid
    assert facade.ticket_by_number(number=f" {number.lower()} ") == tid
    assert facade.tickets.find_number(q=number) == tid
    assert facade.tickets.find_number(q="登录") is None
    with pytest.raises(NotFound):
        facade.ticket_by_number(number="AC-2026-999999")
    with pytest.raises(NotFound):
        facade.ticket_by_number(number="not a number")


def _plan(facade: Aftercare, query: TicketQuery) -> str:
    """The query plan of the list's filter, as the database reports it (PostgreSQL told to avoid scans)."""
    def run(session: Any) -> str:
        stmt = select(Ticket.id).where(*_conditions(session, query, facade.clock.now()))
        sql = str(stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            return "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
    return str(facade.run_in_unit(run))


@pytest.mark.parametrize("q", ["登录", "wang 登", "ac-2026"])
def test_search_goes_through_the_index(desk: Desk, facade: Aftercare, q: str) -> None:
    desk.create()
    plan = _plan(facade, TicketQuery(q=q))
    if facade.db.dialect.name == "sqlite":
        assert "VIRTUAL TABLE INDEX" in plan and "ticket_search_fts" in plan, plan
        assert not re.search(r"SCAN ticket\b(?! VIRTUAL| USING (COVERING )?INDEX)", plan), plan
    else:
        assert "ix_ticket_search_tsv" in plan, plan
        assert "Seq Scan" not in plan, plan


def test_the_migration_indexes_tickets_already_there(desk: Desk, facade: Aftercare) -> None:
    from engine.db import migrate

    tid = desk.create(title="旧工单打印机", contact_email="old.timer@example.com")
    desk.triage(tid, category="question")
    desk.complete(tid, "answer_question", {"answer": "更换硒鼓"})
    migrate(facade.db, "0006", down=True)  # down and up again with tickets, tasks and events in the tables
    facade.migrate()
    number = desk.ticket(tid)["number"]
    assert found(facade, "硒鼓") == found(facade, "old.timer") == found(facade, "旧工单") == [number]
