"""The staff task list with 100,000 tickets: each page query, as a ratio to a trivial unit of work measured in
the same run (the machine is shared and noisy; ratios travel, absolute times drift).

Run: `.venv/bin/python -m bench.worklist [--tickets N]`.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from bench.lifecycle import open_facade
from engine.commands import Aftercare
from engine.models import Customer, HumanTask, Instance, Ticket
from engine.users import Actor
from engine.worklist import WorklistQuery

ROLES = ("service_desk", "engineer", "expert", "manager", "customer")


def populate(facade: Aftercare, count: int) -> None:
    """`count` tickets, each with one open task, spread over roles, severities, customers and due times."""
    now = facade.clock.now()
    template = facade.create_ticket(customer="Demo Customer", contact_name="x", contact_email="x@example.com",
                                    channel="web", title="template", description="", actor=Actor("bench", "admin"))
    customers = facade.run_in_unit(lambda s: list(s.scalars(select(Customer.id))))
    instance_id = facade.run_in_unit(lambda s: s.scalar(select(Ticket.instance_id).where(
        Ticket.id == template["id"])))
    for start in range(0, count, 10_000):
        batch = range(start, min(count, start + 10_000))
        tickets = [{"id": 1_000_000 + n, "number": f"B-{n:07d}", "customer_id": customers[n % len(customers)],
                    "instance_id": instance_id, "contact_name": "x", "contact_email": "x@example.com",
                    "channel": "web", "title": f"ticket {n}", "description": "", "status": "in_progress",
                    "severity": 1 + n % 3, "tier": "standard", "breaches": [], "escalation_level": 0,
                    "created_at": now, "updated_at": now,
                    "resolve_due": now + timedelta(minutes=(n % 2000) - 200)} for n in batch]
        tasks = [{"id": f"bench-{n:09d}", "instance_id": instance_id, "ticket_id": 1_000_000 + n,
                  "bpmn_id": "engineer_resolution", "title": "故障处理 Fault resolution", "role": ROLES[n % len(ROLES)],
                  "state": "open", "created_at": now - timedelta(hours=1),
                  "due_at": now + timedelta(minutes=(n % 2000) - 200),
                  "assignee": "engineer" if n % 50 == 0 else None} for n in batch]
        facade.run_in_unit(_inserter(tickets, tasks), write=True)
    facade.run_in_unit(lambda s: s.execute(text("ANALYZE")), write=True)
    assert facade.run_in_unit(lambda s: s.get(Instance, instance_id)) is not None


def _inserter(tickets: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> Callable[[Any], None]:
    def insert_rows(session: Any) -> None:
        session.execute(insert(Ticket), tickets)
        session.execute(insert(HumanTask), tasks)
    return insert_rows


def timings_ms(run: Callable[[], Any], samples: int) -> tuple[float, float]:
    """Median and 95th-percentile wall time of `run`, in milliseconds."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def median_ms(run: Callable[[], Any], samples: int) -> float:
    """Median wall time of `run` in milliseconds."""
    return timings_ms(run, samples)[0]


def main(argv: list[str] | None = None) -> int:
    """Populate, then time each kind of page against the baseline."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        facade = open_facade(Path(tmp))
        start = time.perf_counter()
        populate(facade, args.tickets)
        print(f"{args.tickets:,} tickets with open tasks inserted in {time.perf_counter() - start:.1f} s")
        engineer, manager = Actor("engineer", "engineer"), Actor("manager", "manager")
        pages: dict[str, Callable[[], Any]] = {
            "engineer queue, page 1 by due": lambda: facade.worklist(actor=engineer, query=WorklistQuery()),
            "manager, all, severity 1": lambda: facade.worklist(actor=manager, query=WorklistQuery(
                view="all", severity=1)),
            "manager, all, breached only": lambda: facade.worklist(actor=manager, query=WorklistQuery(
                view="all", breached=True)),
            "engineer, my tasks": lambda: facade.worklist(actor=engineer, query=WorklistQuery(view="mine")),
            "manager, all, page 2000": lambda: facade.worklist(actor=manager, query=WorklistQuery(
                view="all", page=2000)),
            "manager, customer search": lambda: facade.worklist(actor=manager, query=WorklistQuery(
                view="all", customer="医院")),
        }
        baseline = median_ms(lambda: facade.run_in_unit(lambda s: s.execute(text("SELECT 1"))), args.samples * 3)
        print(f"baseline unit of work (SELECT 1): {baseline:.2f} ms")
        for label, run in pages.items():
            ms = median_ms(run, args.samples)
            print(f"{label:34} {ms:8.1f} ms  = {ms / baseline:7.0f}x baseline  ({run().total:,} rows match)")
        facade.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
