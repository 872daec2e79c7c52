"""The lifecycle benchmark's scheduler measurements: (d) one idle tick (nothing due) among 10,000 waiting cases
against a `SELECT 1` unit of work, with the workflows deserialized and the scan plans; (e) how late timers fire
with the real clock and the real background worker.
"""
from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from api.worker import Worker
from bench.common import ADMIN, DESK, MAIN_BPMN, TICKET, counting_sql, median_ms, spread_ms, timed
from engine.commands import Aftercare
from engine.models import Instance, TimelineEvent
from engine.users import Actor

WAITING_CASES = 10_000
IDLE_SAMPLES = 300
TIMER_TICKETS = 20
TIMER_SPACING = 0.3  # seconds between tickets, so due times fall at different phases of the worker's tick
TIMER_TIMEOUT = 60.0


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
