"""Timer burst benchmark: how fast a burst of due timers drains, with one and with several firing threads.

`--cases` tickets (default 1,000) are opened at the same moment of a fake clock, so their 15-minute triage timers
fall due together; the clock then moves 15 minutes on and the real worker pass (`Worker.fire_timers`, which fires
in batches until nothing is due) drains them. Each firing is a real unit of work: lock the instance, load the case
(deserialized: the in-memory case cache is emptied first, as after a restart), fire the timer (the triage breach,
its escalation event and the e-mail to the task's assignees), save state and projections, commit.

Reported per database and thread count: firings per second against the goal (500/s), against one thread in the
same run (the baseline) and against a ceiling measured first on the same database (write units that only update one
row and commit), CPU per firing, and the check that every case fired exactly once. A last round per database drains
the burst with `--processes` worker processes, each firing on as many threads as `aftercare worker` does there (1 on
SQLite, whose one writer makes more threads only wait; 4 on PostgreSQL: api/worker.py `default_timer_threads`).
SQLite always; PostgreSQL when `--postgres URL` or AFTERCARE_TEST_POSTGRES_URL is given (a scratch database is
created and dropped per round).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from api.app import prepare, settle_memory
from api.demo import load_demo
from api.worker import Worker, default_timer_threads
from bench.processes import scratch_database
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.kernel import CaseCache
from engine.models import TimelineEvent
from engine.settings import Settings
from engine.users import Actor

ROOT = Path(__file__).resolve().parent.parent
GOAL = 500.0  # firings per second
START = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday morning: working time
SECRET = "bench-secret-key-0123456789abcdefghijkl"
DESK = Actor("service_desk", "service_desk")
TICKET: dict[str, Any] = {"customer": "Demo Customer", "contact_name": "王工",
                          "contact_email": "wang@demo-customer.example", "channel": "phone",
                          "title": "系统无法登录", "description": "所有用户登录时报 500 错误"}


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A fresh SQLite file."""
    with tempfile.TemporaryDirectory(prefix="aftercare-timers-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'aftercare.db'}"


def open_facade(url: str, clock: FakeClock) -> Aftercare:
    """A facade on `url` with the procedures deployed and the demo data loaded."""
    settings = Settings(database_url=url, processes_dir=ROOT / "processes", forms_dir=ROOT / "forms",
                        var_dir=Path(tempfile.gettempdir()), secret_key=SECRET)
    facade = Aftercare(settings, clock)
    prepare(facade)
    load_demo(facade)
    return facade


def fired_per_ticket(facade: Aftercare, ids: list[int]) -> dict[int, int]:
    """How many timer_fired events each ticket has."""
    query = (select(TimelineEvent.ticket_id, func.count()).where(TimelineEvent.ticket_id.in_(ids),
                                                                TimelineEvent.kind == "timer_fired")
             .group_by(TimelineEvent.ticket_id))
    return dict(facade.run_in_unit(lambda s: s.execute(query).all()))


def burst(url: str, cases: int, threads: int) -> tuple[float, float]:
    """Open `cases` tickets at one moment, let their timers fall due, drain them with `threads` firing threads;
    (firings per second, seconds spent creating the cases)."""
    clock = FakeClock(START)
    facade = open_facade(url, clock)
    try:
        started = time.perf_counter()
        ids = [int(facade.create_ticket(**TICKET, actor=DESK)["id"]) for _ in range(cases)]
        created = time.perf_counter() - started
        facade.kernel._cases = CaseCache()  # cold: every firing deserializes its case, as after a restart
        settle_memory()  # as `aftercare worker` and `serve` do once started
        loads = facade.runtime.loads
        clock.advance(minutes=15, seconds=1)
        worker = Worker(facade, 1, timer_threads=threads)
        started, cpu = time.perf_counter(), time.process_time()
        worker.fire_timers()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        counts = fired_per_ticket(facade, ids)
        once = sum(1 for n in counts.values() if n == 1)
        assert once == cases and len(counts) == cases, \
            f"{len(counts)} of {cases} cases fired, {once} exactly once"
        usual = " (as `aftercare worker`)" if threads == default_timer_threads(facade) else ""
        print(f"  {threads} thread(s){usual}: {cases} timers drained in {seconds:.2f} s = {cases / seconds:6.0f}/s; "
              f"CPU {cpu / cases * 1000:.1f} ms per firing, {cpu / seconds:.2f} cores busy "
              f"(each case fired once: {once}/{cases}; deserialized {facade.runtime.loads - loads})", flush=True)
        return cases / seconds, created
    finally:
        facade.close()


def child(url: str, now: str, threads: int) -> None:
    """A worker process of the multi-process round: ready, wait for "go" on stdin, drain, report "done". `threads`
    0: as many as `aftercare worker` fires on, on this database."""
    clock = FakeClock(datetime.fromisoformat(now))
    facade = Aftercare(Settings(database_url=url, processes_dir=ROOT / "processes", forms_dir=ROOT / "forms",
                                var_dir=Path(tempfile.gettempdir()), secret_key=SECRET), clock)
    worker = Worker(facade, 1, timer_threads=threads or None)
    facade.fire_due_timers(limit=0)  # connect and warm up before the start
    settle_memory()  # as `aftercare worker` does once started
    print("ready", flush=True)
    sys.stdin.readline()
    cpu, loads = time.process_time(), facade.runtime.loads
    worker.fire_timers()
    print(f"done {time.process_time() - cpu} {facade.runtime.loads - loads}", flush=True)
    facade.close()


def burst_processes(url: str, cases: int, processes: int, threads: int = 0) -> float:
    """As `burst`, drained by `processes` worker processes of `threads` firing threads each (0: as `aftercare worker`
    on this database): firings per second."""
    clock = FakeClock(START)
    facade = open_facade(url, clock)
    try:
        ids = [int(facade.create_ticket(**TICKET, actor=DESK)["id"]) for _ in range(cases)]
        due = clock.advance(minutes=15, seconds=1)
        code = "import sys; from bench.timers import child; child(sys.argv[1], sys.argv[2], int(sys.argv[3]))"
        workers = [subprocess.Popen([sys.executable, "-c", code, url, due.isoformat(), str(threads)], cwd=ROOT,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                   for _ in range(processes)]
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = [w.stdout.readline().split() for w in workers if w.stdout is not None]
        seconds = time.perf_counter() - started
        cpu, loads = sum(float(r[1]) for r in reports), sum(int(r[2]) for r in reports)
        for worker in workers:
            worker.wait(timeout=60)
        counts = fired_per_ticket(facade, ids)
        once = sum(1 for n in counts.values() if n == 1)
        assert once == cases and len(counts) == cases, f"{len(counts)} of {cases} cases fired, {once} exactly once"
        each = f"{threads} thread(s)" if threads else f"{default_timer_threads(facade)} thread(s) as `aftercare worker`"
        print(f"  {processes} processes x {each}: {cases} timers drained in {seconds:.2f} s = "
              f"{cases / seconds:6.0f}/s; CPU {cpu / cases * 1000:.1f} ms per firing, {cpu / seconds:.2f} cores busy "
              f"(each case fired once: {once}/{cases}; deserialized {loads})", flush=True)
        return cases / seconds
    finally:
        facade.close()


def write_ceiling(url: str, units: int) -> float:
    """Write units per second when each only bumps one instance row and commits: the most firings per second this
    database and machine could give, whatever a firing does."""
    clock = FakeClock(START)
    facade = open_facade(url, clock)
    try:
        facade.create_ticket(**TICKET, actor=DESK)
        bump = text("UPDATE instance SET updated_at = updated_at WHERE id = (SELECT min(id) FROM instance)")
        started = time.perf_counter()
        for _ in range(units):
            facade.run_in_unit(lambda s: s.execute(bump), write=True)
        return units / (time.perf_counter() - started)
    finally:
        facade.close()


def run(label: str, database: Any, cases: int, thread_counts: list[int]) -> None:
    """One backend: a fresh database per thread count; rates against the goal and against the first count."""
    print(f"\n== {label}: {cases} timers due at once ==", flush=True)
    with database() as url:
        ceiling = write_ceiling(url, cases)
    print(f"  ceiling: {ceiling:.0f} write units/s that only update one row and commit (same machine, same run)")
    rates: dict[int, float] = {}
    for threads in thread_counts:
        with database() as url:
            rates[threads], created = burst(url, cases, threads)
        if threads == thread_counts[0]:
            print(f"  (opening the {cases} cases took {created:.1f} s, {cases / created:.0f}/s; not counted)")
    base = rates[thread_counts[0]]
    for threads, rate in rates.items():
        verdict = "MET" if rate >= GOAL else "NOT MET"
        print(f"  {label} {threads} thread(s): {rate:6.0f}/s = {rate / base:.2f}x {thread_counts[0]} thread(s), "
              f"{rate / ceiling:.2f}x the ceiling; goal >= {GOAL:.0f}/s -> {verdict}")


def processes_round(label: str, database: Any, cases: int, processes: int) -> None:
    """The burst drained by `processes` worker processes at once on a fresh database, each as `aftercare worker` runs
    (on SQLite they take turns at the file's one write lock through the writers' queue, engine/writers.py)."""
    with database() as url:
        rate = burst_processes(url, cases, processes)
    print(f"  {label} {processes} worker processes: {rate:6.0f}/s; "
          f"goal >= {GOAL:.0f}/s -> {'MET' if rate >= GOAL else 'NOT MET'}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the burst on SQLite and, when given, PostgreSQL."""
    parser = argparse.ArgumentParser(prog="python -m bench.timers", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="timers falling due together (default 1000)")
    parser.add_argument("--threads", type=int, default=4, help="firing threads of the parallel round (default 4)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes of the multi-process rounds "
                        "(default 2)")
    parser.add_argument("--postgres", default=os.environ.get("AFTERCARE_TEST_POSTGRES_URL", ""),
                        help="a PostgreSQL server URL (default: $AFTERCARE_TEST_POSTGRES_URL)")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.threads < 2:
        parser.error("--cases must be at least 1 and --threads at least 2")
    print(f"Aftercare timer burst: {os.cpu_count()} CPU(s); each round on a fresh database")
    started = time.perf_counter()
    run("SQLite", sqlite_database, args.cases, [1, args.threads])
    processes_round("SQLite", sqlite_database, args.cases, args.processes)
    if args.postgres:
        run("PostgreSQL", lambda: scratch_database(args.postgres), args.cases, [1, args.threads])
        processes_round("PostgreSQL", lambda: scratch_database(args.postgres), args.cases, args.processes)
    else:
        print("\n(PostgreSQL skipped: pass --postgres URL or set AFTERCARE_TEST_POSTGRES_URL)")
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
