"""The staff task list and `GET /api/tasks` at 100,000 tickets: every filter, sort and kind of page, timed three ways
in the same run: the query through the facade, the HTML page (`GET /` through the real app, logged in) and the JSON
list (`GET /api/tasks` with a bearer token). The goal: p95 at most 50 ms for each.

Each is run once to warm up, then in `--samples` rounds that run every case in turn (so that the noise of a shared
machine falls on all alike); the p95 of wall time is printed against the goal and as a ratio to a baseline measured in
the same rounds, a primary-key lookup of one task in its own unit of work (ratios travel, absolute times drift), with
the p95 of this process's CPU time beside it (the app, SQLite and the client run in this process). Nothing is asserted.

The data: `--tickets` fault tickets over the demo customers, each with one open task spread over five roles, three
severities and due times from 200 minutes overdue to a day and a half ahead (every 50th assigned to `engineer`), and
`--done` completed tasks per ticket, as a list that has lived a while carries.

Run: `.venv/bin/python -m bench.worklist [--tickets 100000] [--done 2] [--samples 30] [--only TEXT]
[--database-url postgresql://postgres@127.0.0.1:5432/postgres]` (with a PostgreSQL URL the bench creates a scratch
database on that server and drops it afterwards).
"""
from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import insert, select, text

from api.app import create_app
from engine.commands import Aftercare
from engine.keyset import Walk
from engine.models import Customer, HumanTask, Ticket
from engine.users import Actor
from engine.worklist import SORTS, WorklistQuery, encode_cursor

ROLES = ("service_desk", "engineer", "expert", "manager", "customer")
GOAL_MS = 50.0
ENGINEER, MANAGER = Actor("engineer", "engineer"), Actor("manager", "manager")


def populate(facade: Aftercare, count: int, done: int) -> None:
    """`count` fault tickets, each with one open task and `done` completed ones (see the module's docstring)."""
    now = facade.clock.now()
    template = facade.create_ticket(customer="Demo Customer", contact_name="x", contact_email="x@example.com",
                                    channel="web", title="template", description="", actor=Actor("bench", "admin"))
    customers = facade.run_in_unit(lambda s: list(s.scalars(select(Customer.id).order_by(Customer.id))))
    instance_id = facade.run_in_unit(lambda s: s.scalar(select(Ticket.instance_id).where(
        Ticket.id == template["id"])))
    for start in range(0, count, 5_000):
        tickets, tasks = [], []
        for n in range(start, min(count, start + 5_000)):
            due = now + timedelta(minutes=(n % 2000) - 200)
            ticket = {"id": 1_000_000 + n, "number": f"B-{n:07d}", "customer_id": customers[n % len(customers)],
                      "severity": 1 + n % 3, "resolve_due": due}
            tickets.append({**ticket, "instance_id": instance_id, "contact_name": "x",
                            "contact_email": "x@example.com", "channel": "web", "title": f"ticket {n}",
                            "description": "", "status": "in_progress", "category": "fault", "tier": "standard",
                            "breaches": [], "escalation_level": 0, "created_at": now, "updated_at": now})
            copies = {"ticket_number": ticket["number"], "ticket_customer_id": ticket["customer_id"],
                      "ticket_severity": ticket["severity"], "ticket_resolve_due": due}
            task = {"instance_id": instance_id, "ticket_id": ticket["id"], "bpmn_id": "engineer_resolution",
                    "title": "故障处理 Fault resolution", "role": ROLES[n % len(ROLES)], "assignee": None,
                    "created_at": now - timedelta(minutes=n % 997), **copies}
            tasks.append({**task, "id": f"bench-{n:09d}", "state": "open", "due_at": due,
                          "assignee": "engineer" if n % 50 == 0 else None})
            tasks += [{**task, "id": f"bench-{n:09d}-{d}", "state": "done", "due_at": due - timedelta(days=1),
                       "completed_at": now, "completed_by": "engineer"} for d in range(done)]
        facade.run_in_unit(_inserter(tickets, tasks), write=True)
    facade.run_in_unit(lambda s: s.execute(text("ANALYZE")), write=True)
    if facade.db.dialect.name == "postgresql":  # what autovacuum would do soon: the visibility map for index-only scans
        with facade.db.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE human_task"))


def _inserter(tickets: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> Callable[[Any], None]:
    def insert_rows(session: Any) -> None:
        session.execute(insert(Ticket), tickets)
        session.execute(insert(HumanTask), tasks)
    return insert_rows


def cursor_at(facade: Aftercare, actor: Actor, query: WorklistQuery, offset: int) -> str:
    """The keyset cursor of the row just before `offset` (the address of the page that starts there), found once."""
    from engine.worklist import _conditions  # the bench's own shortcut to a deep page's address

    def find(session: Any) -> str:
        conditions = _conditions(session, actor, query)
        walk = Walk(session, [conditions or []], SORTS[query.sort], query.descending)
        key, task_id = walk.offset(offset - 1, 1)[0]
        return encode_cursor(key, task_id)
    return str(facade.run_in_unit(find))


def cases(facade: Aftercare, count: int) -> dict[str, tuple[Actor, WorklistQuery]]:
    """Each filter, sort and kind of page the list offers, as (who asks, what)."""
    deep = min(2000, max(2, count // 25 // 2))
    by_due = WorklistQuery(view="all")
    out = {
        "engineer: queue, page 1": (ENGINEER, WorklistQuery()),
        "engineer: my tasks": (ENGINEER, WorklistQuery(view="mine")),
        "engineer: all visible": (ENGINEER, WorklistQuery(view="all")),
        "manager: all, page 1": (MANAGER, by_due),
        "manager: role expert": (MANAGER, WorklistQuery(view="all", role="expert")),
        "manager: severity 1": (MANAGER, WorklistQuery(view="all", severity=1)),
        "manager: breached only": (MANAGER, WorklistQuery(view="all", breached=True)),
        "manager: customer search 医院": (MANAGER, WorklistQuery(view="all", customer="医院")),
        "manager: severity 2 + breached + role": (MANAGER, WorklistQuery(view="all", severity=2, breached=True,
                                                                         role="engineer")),
        "manager: page 40 (last numbered)": (MANAGER, WorklistQuery(view="all", page=40)),
        f"manager: page {deep:,} (cursor)": (MANAGER, WorklistQuery(
            view="all", page=deep, after=cursor_at(facade, MANAGER, by_due, (deep - 1) * 25))),
        f"manager: page {deep:,} back (cursor)": (MANAGER, WorklistQuery(
            view="all", page=deep, before=cursor_at(facade, MANAGER, by_due, deep * 25 + 1))),
        "manager: last page": (MANAGER, WorklistQuery(view="all", from_end=1)),
        "manager: breached, last page": (MANAGER, WorklistQuery(view="all", breached=True, from_end=1)),
        "engineer: queue, last page": (ENGINEER, WorklistQuery(from_end=1)),
        f"manager: page {deep:,} typed (offset)": (MANAGER, WorklistQuery(view="all", page=deep)),
    }
    for sort in ("created", "severity", "number"):
        out[f"manager: sort {sort} ↑"] = (MANAGER, WorklistQuery(view="all", sort=sort))
        out[f"manager: sort {sort} ↓, last page"] = (MANAGER, WorklistQuery(view="all", sort=sort, descending=True,
                                                                              from_end=1))
    out["manager: sort due ↓"] = (MANAGER, WorklistQuery(view="all", descending=True))
    return out


def api_cases(count: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """`GET /api/tasks` pages: (who asks, query)."""
    return {"engineer: page 1 (100)": ("engineer", {}),
            "manager: page 1 (100)": ("manager", {}),
            "manager: limit 1000": ("manager", {"limit": 1000}),
            "manager: role expert": ("manager", {"role": "expert"}),
            "manager: one ticket": ("manager", {"ticket_id": 1_000_000 + count // 2}),
            f"manager: offset {count // 2:,}": ("manager", {"offset": count // 2}),
            "manager: past the end": ("manager", {"offset": count + 10})}


def timings_ms(run: Callable[[], Any], samples: int) -> tuple[float, float]:
    """Median and 95th-percentile wall time of `run`, in milliseconds."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def login(client: TestClient, username: str) -> None:
    """Log `client` in to the staff pages."""
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf is not None
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf.group(1), "next": "/"})


Result = tuple[str, float, float, float]  # label, median, p95 (wall ms), p95 of this process's CPU ms


def measure(runs: dict[str, Callable[[], Any]], samples: int) -> dict[str, Result]:
    """Each run once to warm up, then `samples` rounds, each running every one in turn, so that the noise of a
    shared machine falls on all alike: wall time and this process's CPU time (the server, SQLite and the client all
    run in this process; PostgreSQL's own work shows in wall time only)."""
    for run in runs.values():
        run()
    wall: dict[str, list[float]] = {label: [] for label in runs}
    cpu: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(samples):
        for label, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            cpu[label].append((time.process_time() - start_cpu) * 1000)
            wall[label].append((time.perf_counter() - start) * 1000)
    return {label: (label, statistics.median(wall[label]), _p95(wall[label]), _p95(cpu[label])) for label in runs}


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def run_all(facade: Aftercare, count: int, samples: int, only: str) -> tuple[dict[str, Result], str]:
    """Every case as a query, as the HTML page and (the JSON cases) as the JSON list, with the baseline."""
    some_task = facade.run_in_unit(lambda s: s.scalar(select(HumanTask.id).limit(1)))
    runs: dict[str, Callable[[], Any]] = {
        BASELINE: lambda: facade.run_in_unit(lambda s: s.get(HumanTask, some_task))}
    page_cases = {k: v for k, v in cases(facade, count).items() if only in k}
    for label, (actor, query) in page_cases.items():
        runs[f"query {label}"] = lambda a=actor, q=query: facade.worklist(actor=a, query=q)
    with TestClient(create_app(facade, run_worker=False)) as engineer, \
            TestClient(create_app(facade, run_worker=False)) as manager:
        login(engineer, "engineer")
        login(manager, "manager")
        clients = {"engineer": engineer, "manager": manager}
        for label, (actor, query) in page_cases.items():
            client, address = clients[actor.name], "/?" + urlencode(query.params())
            runs[f"page  {label}"] = lambda c=client, a=address: _ok(c.get(a))
        tokens = {name: engineer.post("/api/token", data={"username": name, "password": "demo"}).json()
                  ["access_token"] for name in clients}
        for label, (name, params) in api_cases(count).items():
            if only in label:
                headers = {"Authorization": f"Bearer {tokens[name]}"}
                runs[f"json  {label}"] = lambda h=headers, p=params: _ok(engineer.get("/api/tasks", params=p,
                                                                                     headers=h))
        return measure(runs, samples), facade.db.dialect.name


BASELINE = "baseline: one task by primary key"


def table(results: dict[str, Result], count: int, dialect: str, samples: int) -> str:
    """p95 per case against the goal and against the baseline of the same run."""
    from bench.search import pad  # bench.search uses timings_ms from here

    base = results[BASELINE]
    lines = [f"p95 per case at {count:,} tickets on {dialect}, {samples} interleaved rounds "
             f"(goal {GOAL_MS:.0f} ms; baseline {BASELINE} in its own unit of work: median {base[1]:.2f} ms, "
             f"p95 {base[2]:.2f} ms)",
             f"{pad('case', 52)} {'median':>7} {'p95':>7} {'p95 CPU':>8} {'p95/base':>8}  goal"]
    for label, median, p95, cpu in results.values():
        if label != BASELINE:
            lines.append(f"{pad(label, 52)} {median:7.1f} {p95:7.1f} {cpu:8.1f} {p95 / base[2]:7.0f}x  "
                         f"{'ok' if p95 <= GOAL_MS else 'OVER'}")
    over = [label for label, _, p95, _ in results.values() if p95 > GOAL_MS and label != BASELINE]
    lines.append(f"{len(results) - 1 - len(over)} of {len(results) - 1} cases at p95 ≤ {GOAL_MS:.0f} ms (wall)"
                 + (f"; over: {', '.join(over)}" if over else ""))
    return "\n".join(lines)


def _ok(response: Any) -> Any:
    if response.status_code != 200:
        raise SystemExit(f"{response.request.url} answered {response.status_code}: {response.text[:300]}")
    return response


def main(argv: list[str] | None = None) -> int:
    """Populate, then time every case and print the table."""
    from bench.search import bench_facade

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--done", type=int, default=1, help="completed tasks per ticket besides its open one")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--only", default="", help="time only the cases whose label contains this text")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server URL (default: a SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, bench_facade(Path(tmp), args.database_url) as facade:
        start = time.perf_counter()
        populate(facade, args.tickets, args.done)
        print(f"{args.tickets:,} tickets, {args.tickets:,} open tasks and {args.tickets * args.done:,} done ones "
              f"inserted in {time.perf_counter() - start:.1f} s on {facade.db.dialect.name}", flush=True)
        results, dialect = run_all(facade, args.tickets, args.samples, args.only)
    print(table(results, args.tickets, dialect, args.samples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
