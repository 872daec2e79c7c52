"""Lifecycle benchmark: what Aftercare costs on top of plain SpiffWorkflow, and what its scheduler costs.

One full maintenance-request lifecycle (intake, triage, fault response, fault resolution, customer acceptance,
satisfaction survey, callback, archive) is run three ways in the same process:

  (a) in memory with plain SpiffWorkflow: specs parsed once, the workflow object kept between steps, nothing saved;
  (b) through the facade on a SQLite file: every step is one unit of work that loads the case, runs it and saves
      state, task list, timer index, ticket columns, timeline and outbox in one transaction, as the product does;
  (c) through HTTP: the real FastAPI app under uvicorn on 127.0.0.1, driven by httpx with bearer tokens.

Absolute times say more about the machine than about Aftercare, so (b) and (c) are printed as slowdown factors
against (a) measured in the same run. Rounds are interleaved (a, b, c, a, b, c, ...) after a warm-up and summarised
by medians, so that noise (other processes, CPU frequency, cache state) falls on all three alike. The goal is
(b) within 3x of (a).

The scheduler is measured too: (d) one idle tick (nothing due) with 10,000 waiting cases, as a ratio against a
trivial `SELECT 1` unit of work on the same database, with the count of workflows deserialized (should stay 0);
(e) how late timers fire with the real clock and the real background worker at its default interval.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import event, func, insert, select, text

from api.app import create_app, prepare
from api.demo import load_demo
from api.worker import Worker
from engine.clock import Clock
from engine.commands import Aftercare
from engine.contracts import case_facts
from engine.effects import CUSTOMER_LANE, Effects
from engine.kernel import MAIN_PROCESS, case_start_data
from engine.models import Instance, TimelineEvent
from engine.scripting import calendar_functions, make_script_engine
from engine.settings import Settings
from engine.users import Actor

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
FORMS = ROOT / "forms"
MAIN_BPMN = PROCESSES / "maintenance_request.bpmn"
SECRET = "bench-secret-key-0123456789abcdefghijkl"  # 32+ bytes: PyJWT warns below that
GOAL = 3.0  # (b) within this factor of (a)
WAITING_CASES = 10_000
IDLE_SAMPLES = 300
TIMER_TICKETS = 20
TIMER_SPACING = 0.3  # seconds between tickets, so due times fall at different phases of the worker's tick
TIMER_TIMEOUT = 60.0

TICKET: dict[str, Any] = {"customer": "Demo Customer", "contact_name": "王工",
                          "contact_email": "wang@demo-customer.example", "channel": "phone",
                          "title": "系统无法登录", "description": "所有用户登录时报 500 错误"}
STEPS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("triage", {"category": "fault", "severity": 2, "onsite": False}),
    ("engineer_response", {"contact_made": True, "diagnosis": "x"}),
    ("engineer_resolution", {"resolution": "x", "outcome": "resolved"}),
    ("customer_acceptance", {"accepted": True}),
    ("satisfaction_survey", {"score": 5}),
    ("callback", {"recurred": False, "satisfaction": 5}),
)
ADMIN = Actor("admin", "admin")
DESK = Actor("service_desk", "service_desk")


# -- helpers ------------------------------------------------------------------------------------------------


def staff_role(lane: str) -> str:
    """The role that completes a task of `lane`: its own, and the service desk's for the customer (by phone)."""
    return DESK.role if lane == CUSTOMER_LANE else lane


def pick(tasks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The one open task called `name` in a task list."""
    found = [t for t in tasks if t["name"] == name]
    assert len(found) == 1, f"expected one open {name!r}, open: {sorted(t['name'] for t in tasks)}"
    return found[0]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def median_ms(samples: list[float]) -> float:
    """Median of samples in seconds, in milliseconds."""
    return statistics.median(samples) * 1000


def spread_ms(samples: list[float]) -> str:
    """The 10th to 90th percentile of samples in seconds, as milliseconds."""
    deciles = statistics.quantiles(samples, n=10, method="inclusive")
    return f"{deciles[0] * 1000:.2f}-{deciles[-1] * 1000:.2f}"


def timed(run: Callable[[], Any]) -> float:
    """Seconds one call of `run` takes."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def open_facade(directory: Path, **overrides: Any) -> Aftercare:
    """A facade (real clock) on a fresh SQLite file in `directory`, procedures deployed and demo data loaded."""
    directory.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=f"sqlite:///{directory / 'aftercare.db'}", processes_dir=PROCESSES,
                        forms_dir=FORMS, var_dir=directory, secret_key=SECRET, **overrides)
    facade = Aftercare(settings, Clock())
    prepare(facade)
    load_demo(facade)
    return facade


def wait_for_procedure(timeout: float) -> None:
    """Wait until the decision table and forms the diagram needs are in place (they may still be being written)."""
    deadline = time.monotonic() + timeout
    while True:
        missing = missing_files()
        if not missing:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the procedure is incomplete, missing: {', '.join(missing)}")
        print(f"waiting for {', '.join(missing)} ...", flush=True)
        time.sleep(10)


def missing_files() -> list[str]:
    """Files the diagram refers to that are not there yet: the .dmn and the forms named in the diagram."""
    bpmn = MAIN_BPMN.read_text(encoding="utf-8")
    forms = sorted(set(re.findall(r'name="formJsonSchemaFilename" value="([^"]+)"', bpmn)))
    missing = [f"forms/{f}" for f in forms if not (FORMS / f).is_file()]
    if not list(PROCESSES.glob("*.dmn")):
        missing.insert(0, "processes/*.dmn")
    return missing


# -- (a) in memory ------------------------------------------------------------------------------------------


class InMemory:
    """(a) Plain SpiffWorkflow: specs parsed once, one workflow object per lifecycle, nothing saved."""

    def __init__(self) -> None:
        parser = SpiffBpmnParser()
        parser.add_bpmn_files([str(p) for p in sorted(PROCESSES.glob("*.bpmn"))])
        parser.add_dmn_files([str(p) for p in sorted(PROCESSES.glob("*.dmn"))])
        self.spec = parser.get_spec(MAIN_PROCESS)
        self.subprocess_specs = parser.get_subprocess_specs(MAIN_PROCESS)
        self.clock = Clock()
        self.count = 0

    def lifecycle(self) -> None:
        """Start a case with the facade's start data and complete its six user tasks; it must end completed."""
        self.count += 1
        engine = make_script_engine({**calendar_functions(self.clock.now), **Effects().functions()})
        wf = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=engine)
        wf.get_next_task(state=TaskState.READY).data.update(start_data(self.count, self.clock.now()))
        wf.do_engine_steps()
        for name, data in STEPS:
            task = ready_user_task(wf, name)
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
        assert wf.is_completed(), "the in-memory workflow did not complete"


def start_data(ticket_id: int, now: datetime) -> dict[str, Any]:
    """The data `Aftercare.create_ticket` puts on the start task."""
    facts = case_facts(None, SimpleNamespace(tier="standard"), now.date())  # type: ignore[arg-type]
    return case_start_data(ticket_id=ticket_id, number=f"AC-{now:%Y}-{ticket_id:06d}", customer=TICKET["customer"],
                           facts=facts, channel=TICKET["channel"], title=TICKET["title"],
                           description=TICKET["description"], contact_name=TICKET["contact_name"],
                           contact_email=TICKET["contact_email"], now=now, origin=None)


def ready_user_task(wf: BpmnWorkflow, name: str) -> Any:
    """The one READY manual task with BPMN id `name`."""
    ready = wf.get_tasks(state=TaskState.READY, manual=True)
    found = [t for t in ready if t.task_spec.bpmn_id == name]
    assert len(found) == 1, f"expected one READY {name!r}, READY: {sorted(t.task_spec.bpmn_id for t in ready)}"
    return found[0]


# -- (b) facade + database ----------------------------------------------------------------------------------


class ThroughFacade:
    """(b) The facade on SQLite: every step is a unit of work that loads, runs and saves the case."""

    def __init__(self, facade: Aftercare) -> None:
        self.facade = facade

    def lifecycle(self) -> None:
        """Create a ticket, complete each open task as its role; the ticket must end archived."""
        created = self.facade.create_ticket(**TICKET, actor=DESK)
        status = created["status"]
        for name, data in STEPS:
            task = pick(self.facade.list_tasks(actor=ADMIN, ticket_id=created["id"]), name)
            role = staff_role(task["role"])
            status = self.facade.complete_task(task_id=task["id"], data=data, actor=Actor(role, role))["status"]
        assert status == "archived", f"ticket {created['id']} ended {status!r}, not archived"


# -- (c) HTTP -----------------------------------------------------------------------------------------------


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run `app` with uvicorn on 127.0.0.1 in a background thread; yields its base URL."""
    # uvicorn binds host and port itself: handing it a pre-bound socket cost 40 ms per response here
    # (Nagle against delayed ACK), which would measure the socket, not the app.
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="warning",
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bench-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class ThroughHttp:
    """(c) The JSON API over a keep-alive connection; each role logs in once (POST /api/token), not per case."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)
        self.tokens: dict[str, dict[str, str]] = {}
        self.login_seconds: list[float] = []
        for role in (ADMIN.role, DESK.role, "engineer"):  # the roles of the timed lifecycle, before timing
            self.auth(role)

    def close(self) -> None:
        """Close the connection."""
        self.client.close()

    def auth(self, role: str) -> dict[str, str]:
        """Bearer header of the demo user named after `role`, logging in on first use."""
        if role not in self.tokens:
            start = time.perf_counter()
            response = self.client.post("/api/token", data={"username": role, "password": "demo"})
            self.login_seconds.append(time.perf_counter() - start)
            response.raise_for_status()
            self.tokens[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return self.tokens[role]

    def call(self, method: str, path: str, role: str, **kwargs: Any) -> Any:
        """One request as `role`; its JSON, or AssertionError with the response on 4xx/5xx."""
        response = self.client.request(method, path, headers=self.auth(role), **kwargs)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def lifecycle(self) -> None:
        """POST a ticket, then list and complete each task; GET the ticket, which must be archived."""
        ticket = self.call("POST", "/api/tickets", DESK.role, json=TICKET)
        for name, data in STEPS:
            task = pick(self.call("GET", "/api/tasks", ADMIN.role, params={"ticket_id": ticket["id"]}), name)
            self.call("POST", f"/api/tasks/{task['id']}/complete", staff_role(task["role"]), json={"data": data})
        final = self.call("GET", f"/api/tickets/{ticket['id']}", ADMIN.role)
        assert final["status"] == "archived", f"ticket {ticket['id']} ended {final['status']!r}, not archived"


# -- (a)/(b)/(c) compared -----------------------------------------------------------------------------------


def compare(runs: dict[str, Callable[[], None]], *, warmup: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per lifecycle of each run, interleaved round by round after `warmup` untimed rounds."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    times: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            times[key].append(timed(run))
    return times


def report_lifecycles(times: dict[str, list[float]], labels: dict[str, str]) -> None:
    """Print per-lifecycle medians, lifecycles per second and slowdown factors against (a)."""
    print(f"{'':38} {'median ms':>10} {'p10-p90 ms':>15} {'lifecycles/s':>13}")
    for key, label in labels.items():
        med = median_ms(times[key])
        print(f"{label:38} {med:10.2f} {spread_ms(times[key]):>15} {1000 / med:13.1f}")
    base = median_ms(times["a"])
    b_factor, c_factor = median_ms(times["b"]) / base, median_ms(times["c"]) / base
    print(f"facade+db is {b_factor:.1f}x the in-memory time")
    print(f"http is {c_factor:.1f}x the in-memory time ({c_factor / b_factor:.2f}x the facade+db time)")
    verdict = "MET" if b_factor <= GOAL else "NOT MET"
    print(f"goal: (b) within {GOAL:g}x of (a) -> {verdict} ({b_factor:.1f}x)")


# -- (d) idle tick ------------------------------------------------------------------------------------------


def add_waiting_cases(facade: Aftercare, count: int) -> int:
    """Bulk-insert `count` copies of a real waiting instance whose next timer is 30 days out; the state's size."""
    facade.create_ticket(**TICKET, actor=DESK)
    template = facade.run_in_unit(lambda s: s.scalars(select(Instance)).one())
    now = facade.clock.now()
    later = now + timedelta(days=30)
    rows = [{"process_id": template.process_id, "version_id": template.version_id, "state": template.state,
             "serializer_version": template.serializer_version, "status": "running", "next_timer_at": later,
             "lock_version": 1, "created_at": now, "updated_at": now} for _ in range(count)]
    facade.run_in_unit(lambda s: s.execute(insert(Instance), rows), write=True)
    return len(template.state)


@contextmanager
def counting_sql(facade: Aftercare) -> Iterator[dict[str, Any]]:
    """Count connections opened and statements run on the facade's engine while inside the block."""
    seen: dict[str, Any] = {"connects": 0, "statements": []}

    def on_connect(*_: Any) -> None:
        seen["connects"] += 1

    def on_execute(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen["statements"].append((statement, parameters))

    event.listen(facade.db, "connect", on_connect)
    event.listen(facade.db, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(facade.db, "connect", on_connect)
        event.remove(facade.db, "before_cursor_execute", on_execute)


def idle_tick(facade: Aftercare, samples: int) -> None:
    """Print the cost of `fire_due_timers` with nothing due among 10,000 waiting cases, against `SELECT 1`."""
    started = time.perf_counter()
    state_size = add_waiting_cases(facade, WAITING_CASES)
    insert_seconds = time.perf_counter() - started
    waiting = facade.run_in_unit(lambda s: s.scalar(
        select(func.count()).select_from(Instance).where(Instance.status == "running")))
    print(f"waiting cases: {waiting} (state {state_size / 1024:.1f} KiB each; bulk insert took {insert_seconds:.1f} s)")

    def baseline() -> Any:
        return facade.run_in_unit(lambda s: s.execute(text("SELECT 1")).scalar_one())

    def scheduler_tick() -> int:
        """What the worker does each tick: start due inspections, then fire due timers."""
        return facade.start_due_inspections() + facade.fire_due_timers()

    loads_before = facade.runtime.loads
    for _ in range(20):
        baseline(), scheduler_tick()
    ticks: list[float] = []
    selects: list[float] = []
    fired: list[int] = []
    for _ in range(samples):
        selects.append(timed(baseline))
        ticks.append(timed(lambda: fired.append(scheduler_tick())))
    loads_after = facade.runtime.loads
    assert set(fired) == {0}, "a timer fired during the idle-tick measurement"
    with counting_sql(facade) as seen:
        scheduler_tick()
    with counting_sql(facade) as seen_baseline:
        baseline()
    tick, select_one = median_ms(ticks), median_ms(selects)
    print(f"idle tick (inspections + timers, nothing due)  median {tick:.3f} ms  (p10-p90 {spread_ms(ticks)} ms)")
    print(f"baseline unit of work (SELECT 1)          median {select_one:.3f} ms  (p10-p90 {spread_ms(selects)} ms)")
    print(f"idle tick is {tick / select_one:.2f}x a SELECT 1 unit of work; median of {samples}, interleaved")
    print(f"runtime.loads before/after {samples + 20} idle ticks: {loads_before} / {loads_after} "
          f"({'nothing deserialized' if loads_after == loads_before else 'WORKFLOWS WERE DESERIALIZED'})")
    print(f"one idle tick: {seen['connects']} connection(s) opened, {len(seen['statements'])} statement(s); "
          f"one SELECT 1 unit: {seen_baseline['connects']} connection(s), {len(seen_baseline['statements'])}")
    print_query_plan(facade, seen["statements"])


def print_query_plan(facade: Aftercare, statements: list[tuple[str, Any]]) -> None:
    """SQLite's plans for the tick's scans of the inspection and timer indexes."""
    if facade.db.dialect.name != "sqlite":
        return
    for column, label in (("next_inspection_at", "due-inspection scan plan"), ("next_timer_at", "due-timer scan plan")):
        scans = [(sql, params) for sql, params in statements if column in sql and sql.startswith("SELECT")]
        if scans:
            with facade.db.connect() as conn:
                plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {scans[0][0]}", scans[0][1]).fetchall()
            print(f"{label}: " + "; ".join(str(row[-1]) for row in plan))


# -- (e) timer delay ----------------------------------------------------------------------------------------


class _SinkHandler:
    """An SMTP server that accepts every message and keeps none: the worker's mail goes somewhere real."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@contextmanager
def smtp_sink() -> Iterator[int]:
    """Run an aiosmtpd sink on a free local port; yields the port."""
    controller = Controller(_SinkHandler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield int(controller.port)
    finally:
        controller.stop()


def deploy_short_triage_timer(facade: Aftercare, duration: str) -> None:
    """Deploy the procedure with its 15-minute triage timer shortened to `duration`."""
    bpmn = MAIN_BPMN.read_text(encoding="utf-8")
    assert bpmn.count('"PT15M"') == 1, "expected exactly one \"PT15M\" (the triage timer) in the diagram"
    facade.deploy(files={MAIN_BPMN.name: bpmn.replace('"PT15M"', f'"{duration}"')},
                  actor=Actor("bench", "process_owner"))


class TimedWorker(Worker):
    """The real background worker, recording when each tick starts and how long it runs."""

    def __init__(self, facade: Aftercare, interval: float) -> None:
        super().__init__(facade, interval)
        self.ticks: list[tuple[float, float]] = []

    def fire_timers(self) -> None:
        """One real timer tick, timed (mail runs on its own thread and is not counted)."""
        start = time.perf_counter()
        super().fire_timers()
        self.ticks.append((start, time.perf_counter() - start))


def timer_delay(facade: Aftercare, tickets: int, spacing: float) -> None:
    """Print how late 2-second triage timers fire under the real background worker at its default interval."""
    deploy_short_triage_timer(facade, "PT2S")
    worker = TimedWorker(facade, facade.settings.scheduler_interval)
    worker.start()  # before the tickets: started after, it would find the first timers long overdue
    try:
        ids = []
        for _ in range(tickets):
            ids.append(int(facade.create_ticket(**TICKET, actor=DESK)["id"]))
            time.sleep(spacing)
        wait_for_timers(facade, ids)
    finally:
        worker.stop()
    delays = [timer_lateness_ms(facade, ticket_id, timedelta(seconds=2)) for ticket_id in ids]
    print(f"worker interval {facade.settings.scheduler_interval:g} s; {tickets} tickets {spacing * 1000:.0f} ms apart,"
          f" triage timer PT2S")
    print(f"timer delay (timer_fired at - (created_at + 2 s)): median {statistics.median(delays):.0f} ms, "
          f"max {max(delays):.0f} ms, min {min(delays):.0f} ms")
    durations = [d for _, d in worker.ticks]
    starts = [t for t, _ in worker.ticks]
    periods = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    print(f"worker: {len(durations)} timer ticks; one tick takes median "
          f"{median_ms(durations):.0f} ms, max {max(durations) * 1000:.0f} ms; "
          f"tick-to-tick period median {median_ms(periods):.0f} ms")


def fired_count(facade: Aftercare, ids: list[int]) -> int:
    """How many of the tickets have a timer_fired event: one cheap query, so polling does not slow the worker."""
    query = (select(func.count(func.distinct(TimelineEvent.ticket_id)))
             .where(TimelineEvent.ticket_id.in_(ids), TimelineEvent.kind == "timer_fired"))
    return int(facade.run_in_unit(lambda s: s.scalar(query)))


def wait_for_timers(facade: Aftercare, ids: list[int]) -> None:
    """Poll until every ticket's timer has fired."""
    deadline = time.monotonic() + TIMER_TIMEOUT
    while fired_count(facade, ids) < len(ids):
        if time.monotonic() > deadline:
            raise AssertionError(f"only {fired_count(facade, ids)} of {len(ids)} timers fired in time")
        time.sleep(0.25)


def timer_lateness_ms(facade: Aftercare, ticket_id: int, timer: timedelta) -> float:
    """Milliseconds from a ticket's timer due time (created_at + timer) to its first timer_fired event."""
    ticket = facade.get_ticket(ticket_id=ticket_id, actor=ADMIN)
    fired = [datetime.fromisoformat(e["at"]) for e in ticket["timeline"] if e["kind"] == "timer_fired"]
    assert fired, f"ticket {ticket_id} has no timer_fired event"
    due = datetime.fromisoformat(ticket["created_at"]) + timer
    return (fired[0] - due).total_seconds() * 1000


# -- main ---------------------------------------------------------------------------------------------------


def print_environment(rounds: int, warmup: int) -> None:
    """What ran where."""
    print(f"Aftercare lifecycle benchmark: Python {platform.python_version()}, SpiffWorkflow "
          f"{version('SpiffWorkflow')}, SQLite {sqlite3.sqlite_version}, {platform.machine()}, "
          f"{os.cpu_count()} CPU(s), {platform.system()} {platform.release()}")
    print(f"procedure: {MAIN_BPMN.relative_to(ROOT)} + {', '.join(p.name for p in sorted(PROCESSES.glob('*.dmn')))}"
          f"; {warmup} warm-up + {rounds} timed rounds, interleaved a,b,c")


def main(argv: list[str] | None = None) -> int:
    """Run (a)-(e) and print the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds of (a), (b) and (c) (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds first (default 5)")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for missing procedure files (default 0)")
    args = parser.parse_args(argv)
    if args.rounds < 2 or args.warmup < 0:
        parser.error("--rounds must be at least 2 and --warmup at least 0")
    wait_for_procedure(args.wait)
    started = time.perf_counter()
    print_environment(args.rounds, args.warmup)
    with tempfile.TemporaryDirectory(prefix="aftercare-bench-") as tmp:
        run_lifecycles(Path(tmp), rounds=args.rounds, warmup=args.warmup)
        run_scheduler(Path(tmp))
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


def run_lifecycles(tmp: Path, *, rounds: int, warmup: int) -> None:
    """(a), (b) and (c), interleaved."""
    print("\n== full lifecycle: triage, fault response, resolution, acceptance, survey, callback, archive ==")
    in_memory = InMemory()
    facade_b, facade_c = open_facade(tmp / "facade"), open_facade(tmp / "http")
    try:
        with serving(create_app(facade_c, run_worker=False)) as base_url:
            http = ThroughHttp(base_url)
            try:
                times = compare({"a": in_memory.lifecycle, "b": ThroughFacade(facade_b).lifecycle,
                                 "c": http.lifecycle}, warmup=warmup, rounds=rounds)
            finally:
                http.close()
    finally:
        facade_b.close()
        facade_c.close()
    report_lifecycles(times, {"a": "(a) in memory, plain SpiffWorkflow", "b": "(b) facade + SQLite",
                              "c": "(c) HTTP: uvicorn + httpx"})
    print(f"(c) logs in once per role before timing (keep-alive connection); POST /api/token takes "
          f"{statistics.median(http.login_seconds) * 1000:.0f} ms (argon2), not counted above")


def run_scheduler(tmp: Path) -> None:
    """(d) and (e), each on its own database."""
    print(f"\n== (d) scheduler idle tick with {WAITING_CASES:,} waiting cases ==")
    facade = open_facade(tmp / "idle")
    try:
        idle_tick(facade, IDLE_SAMPLES)
    finally:
        facade.close()
    print("\n== (e) timer delay: real clock, real background worker ==")
    with smtp_sink() as port:
        facade = open_facade(tmp / "timers", smtp_host="127.0.0.1", smtp_port=port)
        try:
            timer_delay(facade, TIMER_TICKETS, TIMER_SPACING)
        finally:
            facade.close()


if __name__ == "__main__":
    sys.exit(main())
