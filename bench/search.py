"""Search and the ticket list with 100,000 tickets on SQLite: each query as a ratio to a trivial unit of work
measured in the same run (the machine is shared and noisy; ratios travel, absolute times drift). Median and p95 are
printed for the record; nothing is asserted on them.

Run: `.venv/bin/python -m bench.search [--tickets N]`.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from bench.lifecycle import open_facade
from bench.worklist import timings_ms
from engine import search
from engine.commands import Aftercare
from engine.models import Customer, Ticket, TicketSearch
from engine.ticket_list import TicketQuery
from engine.users import Actor

FAULTS = ("系统无法登录", "报表导出为空", "打印机卡纸", "接口调用超时", "数据库连接失败", "页面加载缓慢",
          "审批流程卡住", "移动端闪退", "账号被锁定", "证书即将过期", "备份任务失败", "短信验证码收不到")
WORDS = ("printer", "timeout", "login", "backup", "gateway", "report", "invoice", "certificate", "vpn", "cluster")
STATUSES = ("triage", "in_progress", "in_progress", "awaiting_acceptance", "callback", "closed", "archived",
            "archived")


def populate(facade: Aftercare, count: int) -> None:
    """`count` tickets with search documents, spread over faults, words, customers, statuses and deadlines."""
    now = facade.clock.now()
    template = facade.create_ticket(customer="Demo Customer", contact_name="x", contact_email="x@example.com",
                                    channel="web", title="template", description="", actor=Actor("bench", "admin"))
    customers = facade.run_in_unit(lambda s: list(s.execute(select(Customer.id, Customer.name))))
    instance_id = facade.run_in_unit(lambda s: s.scalar(select(Ticket.instance_id).where(
        Ticket.id == template["id"])))
    for start in range(0, count, 10_000):
        tickets, docs = [], []
        for n in range(start, min(count, start + 10_000)):
            customer_id, customer = customers[n % len(customers)]
            ticket = {"id": 1_000_000 + n, "number": f"AC-2025-{1_000_000 + n:06d}", "customer_id": customer_id,
                      "instance_id": instance_id, "contact_name": f"联系人{n % 97}",
                      "contact_email": f"user{n % 997}@example.com", "channel": ("web", "phone", "email")[n % 3],
                      "title": f"{FAULTS[n % len(FAULTS)]} {WORDS[n % len(WORDS)]}",
                      "description": f"第 {n} 号现场反馈 {WORDS[(n * 7) % len(WORDS)]} {FAULTS[(n * 5) % len(FAULTS)]}",
                      "status": STATUSES[n % len(STATUSES)], "category": "fault" if n % 4 else "question",
                      "severity": 1 + n % 3, "tier": "standard", "breaches": [] if n % 9 else [{"kind": "resolve"}],
                      "escalation_level": 0, "created_at": now - timedelta(minutes=5 * n), "updated_at": now,
                      "resolve_due": now - timedelta(minutes=5 * n) + timedelta(hours=8 + 8 * (n % 3))}
            if ticket["status"] in ("closed", "archived", "callback"):  # done: resolved, and closed unless called
                ticket["resolved_at"] = ticket["created_at"] + timedelta(hours=4)
                ticket["closed_at"] = None if ticket["status"] == "callback" else ticket["resolved_at"]
            tickets.append(ticket)
            docs.append({"ticket_id": ticket["id"], "document": search.document(
                [ticket["number"], ticket["title"], ticket["description"], customer, ticket["contact_name"],
                 ticket["contact_email"]])})
        facade.run_in_unit(_inserter(tickets, docs), write=True)
    facade.run_in_unit(lambda s: s.execute(text("ANALYZE")), write=True)


def _inserter(tickets: list[dict[str, Any]], docs: list[dict[str, Any]]) -> Callable[[Any], None]:
    def insert_rows(session: Any) -> None:
        session.execute(insert(Ticket), tickets)
        session.execute(insert(TicketSearch), docs)
    return insert_rows


def main(argv: list[str] | None = None) -> int:
    """Populate, then time each search and list page against the baseline."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        facade = open_facade(Path(tmp))
        start = time.perf_counter()
        populate(facade, args.tickets)
        print(f"{args.tickets:,} tickets with search documents inserted in {time.perf_counter() - start:.1f} s")
        desk = Actor("service_desk", "service_desk")

        def listing(**filters: Any) -> Callable[[], Any]:
            return lambda: facade.list_tickets(query=TicketQuery(**filters), actor=desk)

        pages: dict[str, Callable[[], Any]] = {
            "search 登录 (1 in 12), page 1": listing(q="登录"),
            "search 无法登录 printer (few)": listing(q="无法登录 printer"),
            "search 1 char 卡": listing(q="卡"),
            "search e-mail user42@example.com": listing(q="user42@example.com"),
            "search prefix 'certif'": listing(q="certif"),
            "search nothing found": listing(q="没有这种故障"),
            "search + waiting + severity 1": listing(q="接口调用超时", status="waiting", severity=1),
            "list page 1, newest first": listing(),
            "list open, by resolve due": listing(status="open", sort="due", desc=False),
            "list breached": listing(breached=True),
            "list at risk": listing(at_risk=True),
            "list customer 医院": listing(customer="医院"),
            "list page 2000": listing(page=2000),
            "number opens its ticket": lambda: facade.tickets.find_number(q="AC-2025-1050000"),
        }
        baseline, _ = timings_ms(lambda: facade.run_in_unit(lambda s: s.execute(text("SELECT 1"))),
                                 args.samples * 3)
        print(f"baseline unit of work (SELECT 1): {baseline:.2f} ms")
        for label, run in pages.items():
            median, p95 = timings_ms(run, args.samples)
            result = run()
            matched = f"{result.total:,} rows match" if hasattr(result, "total") else f"id {result}"
            print(f"{label:36} median {median:7.1f} ms  p95 {p95:7.1f} ms  = {median / baseline:6.0f}x baseline"
                  f"  ({matched})")
        facade.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
