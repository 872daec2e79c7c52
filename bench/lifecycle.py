"""Lifecycle benchmark: what Aftercare costs on top of plain SpiffWorkflow, and what its scheduler costs.

One full maintenance-request lifecycle (intake, triage, fault response, fault resolution, customer acceptance,
satisfaction survey, callback, archive) is run four ways in the same run:

  (a) in memory with plain SpiffWorkflow: specs parsed once, the workflow object kept between steps, nothing saved;
  (p) the honest persisted baseline: plain SpiffWorkflow that, around every step, reads the state from a table of
      the same SQLite file as (b), deserializes it, runs the step, serializes it and writes it back in one write
      transaction; the spec serialized once into a table of its own and referred to by hash;
  (b) through the facade on a SQLite file: every step is one unit of work that loads the case, runs it and saves
      state, task list, timer index, ticket columns, timeline, search document and outbox, as the product does;
  (c) through HTTP: `aftercare serve` in a process of its own (timers and the mail sender on, mail going to an SMTP
      sink), driven by httpx with bearer tokens; the customer accepts on the link page. Its CPU is the server
      process's own (/proc), so the client's work is not counted.

Absolute times say more about the machine than about Aftercare, so (b) and (c) are printed as factors against the
baselines measured in the same run, in wall time and in CPU time (the machine may be shared: CPU time is what
a step costs, wall time adds the wait for a core). Rounds are interleaved (a, p, b, c, a, p, ...) after a warm-up and
summarised by medians, so that noise falls on all alike. Goals: (b) within 1.5x of (p); the server's CPU per HTTP
lifecycle within 3x of the raw engine; >= 50 lifecycles/s over HTTP (measured with concurrent clients).

The scheduler is measured too: (d) one idle tick (nothing due) with 10,000 waiting cases, as a ratio against a
trivial `SELECT 1` unit of work on the same database, with the count of workflows deserialized (should stay 0);
(e) how late timers fire with the real clock and the real background worker at its default interval.
"""
from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from bench.baselines import InMemory, Persisted, ThroughFacade
from bench.common import MAIN_BPMN, PROCESSES, ROOT, median_ms, open_facade, smtp_sink, spread_ms, wait_for_procedure
from bench.scheduler import IDLE_SAMPLES, TIMER_SPACING, TIMER_TICKETS, WAITING_CASES, idle_tick, timer_delay
from bench.through_http import Server, ThroughHttp, link_tokens

GOAL_FACADE = 1.5  # (b) within this factor of the persisted baseline (p)
GOAL_HTTP_CPU = 3.0  # server CPU per HTTP lifecycle within this factor of the raw engine
GOAL_HTTP_RATE = 50.0  # lifecycles per second over HTTP, 2 cores, SQLite
HTTP_CLIENTS = 4


# -- (a)/(p)/(b)/(c) compared -------------------------------------------------------------------------------


def compare(runs: dict[str, Callable[[], None]], server: Server, *, warmup: int,
            rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds per lifecycle of each run, wall and CPU, interleaved round by round after `warmup` untimed rounds.
    CPU is this thread's for the in-process runs and the server process's for (c): from the first request until its
    worker has sent the lifecycle's e-mails, less what the worker's idle ticks cost while the bench waited for that
    (the rate measured first), so the mail the lifecycle causes is counted and the other runs' time is not."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    idle = server.idle_cpu_rate() if "c" in runs else 0.0
    wall: dict[str, list[float]] = {key: [] for key in runs}
    cpu: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            clock = server.cpu if key == "c" else time.thread_time
            cpu_start, start = clock(), time.perf_counter()
            run()
            wall[key].append(time.perf_counter() - start)
            waited = server.drained() if key == "c" else 0.0
            cpu[key].append(clock() - cpu_start - idle * waited)
    if "c" in runs:
        print(f"(c) the server's idle worker uses {idle * 1000:.1f} ms of CPU a second; its CPU per lifecycle counts "
              f"until the lifecycle's e-mails are sent, less that rate while waiting for them")
    return wall, cpu


def verdict(value: float, goal: float, *, at_most: bool = True) -> str:
    """MET or NOT MET, with the goal."""
    met = value <= goal if at_most else value >= goal
    return f"goal {'<=' if at_most else '>='} {goal:g} -> {'MET' if met else 'NOT MET'}"


def report_lifecycles(wall: dict[str, list[float]], cpu: dict[str, list[float]], labels: dict[str, str]) -> None:
    """Per-lifecycle medians (wall and CPU), and the facade and the server against the baselines."""
    print(f"{'':44} {'median ms':>10} {'p10-p90 ms':>15} {'CPU ms':>8} {'lifecycles/s':>13}")
    for key, label in labels.items():
        med = median_ms(wall[key])
        cpu_ms = statistics.mean(cpu[key]) * 1000 if key == "c" else median_ms(cpu[key])  # /proc ticks: a mean
        print(f"{label:44} {med:10.2f} {spread_ms(wall[key]):>15} {cpu_ms:8.1f} {1000 / med:13.1f}")
    a, p, b = median_ms(wall["a"]), median_ms(wall["p"]), median_ms(wall["b"])
    a_cpu, p_cpu, b_cpu = median_ms(cpu["a"]), median_ms(cpu["p"]), median_ms(cpu["b"])
    c_cpu = statistics.mean(cpu["c"]) * 1000
    print(f"persisted baseline (p) is {p / a:.1f}x the in-memory time (a): the price of saving state at all")
    print(f"facade (b) / persisted baseline (p): wall {b / p:.2f}x, CPU {b_cpu / p_cpu:.2f}x   "
          f"{verdict(b_cpu / p_cpu, GOAL_FACADE)} (CPU; wall {verdict(b / p, GOAL_FACADE)})")
    print(f"facade (b) / in memory (a): wall {b / a:.1f}x, CPU {b_cpu / a_cpu:.1f}x (for reference)")
    print(f"server CPU per HTTP lifecycle (c): {c_cpu:.1f} ms = {c_cpu / p_cpu:.2f}x the persisted raw engine (p)  "
          f"{verdict(c_cpu / p_cpu, GOAL_HTTP_CPU)}; = {c_cpu / a_cpu:.1f}x the in-memory raw engine (a)  "
          f"{verdict(c_cpu / a_cpu, GOAL_HTTP_CPU)}")


def http_throughput(http: ThroughHttp, server: Server, clients: int, lifecycles: int) -> None:
    """Lifecycles per second over HTTP with `clients` concurrent clients, and the server's CPU per lifecycle."""
    def one_client(count: int) -> None:
        try:
            for _ in range(count):
                http.lifecycle()
        finally:
            http.close()
    shares = [lifecycles // clients + (1 if i < lifecycles % clients else 0) for i in range(clients)]
    cpu_start, start, here_start = server.cpu(), time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=one_client, args=(n,)) for n in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds, cpu = time.perf_counter() - start, server.cpu() - cpu_start
    here = time.process_time() - here_start
    rate = lifecycles / seconds
    processes = "one server process (`aftercare serve`)" if server.workers == 1 else \
        f"{server.workers} HTTP processes (`aftercare serve --workers {server.workers}`)"
    print(f"(c) {clients} concurrent clients, {lifecycles} lifecycles: {rate:.1f} lifecycles/s over HTTP "
          f"({verdict(rate, GOAL_HTTP_RATE, at_most=False)}); server CPU {cpu / lifecycles * 1000:.1f} ms per "
          f"lifecycle, "
          f"{cpu / seconds:.2f} cores busy; {processes}, the clients share the {os.cpu_count()} cores and used "
          f"{here / lifecycles * 1000:.1f} ms of CPU per lifecycle (this process: httpx clients and the SMTP sink)")


# -- main ---------------------------------------------------------------------------------------------------


def print_environment(rounds: int, warmup: int) -> None:
    """What ran where."""
    print(f"Aftercare lifecycle benchmark: Python {platform.python_version()}, SpiffWorkflow "
          f"{version('SpiffWorkflow')}, SQLite {sqlite3.sqlite_version}, {platform.machine()}, "
          f"{os.cpu_count()} CPU(s), {platform.system()} {platform.release()}")
    print(f"procedure: {MAIN_BPMN.relative_to(ROOT)} + {', '.join(p.name for p in sorted(PROCESSES.glob('*.dmn')))}"
          f"; {warmup} warm-up + {rounds} timed rounds, interleaved a,p,b,c")


def main(argv: list[str] | None = None) -> int:
    """Run (a)-(e) and print the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds of (a), (p), (b) and (c) (default 30)")
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
    """(a), (p), (b) and (c), interleaved; then (c) with concurrent clients."""
    print("\n== full lifecycle: triage, fault response, resolution, acceptance, survey, callback, archive ==")
    in_memory = InMemory()
    facade_b = open_facade(tmp / "facade")
    persisted = Persisted(tmp / "facade" / "aftercare.db")  # the same database file as (b)
    facade_c = open_facade(tmp / "http")  # deployed and demo users loaded, then served by its own process
    try:
        with smtp_sink() as smtp_port:
            server = Server(tmp / "http", smtp_port)
            try:
                http = ThroughHttp(server.url, link_tokens(facade_c))
                wall, cpu = compare({"a": in_memory.lifecycle, "p": persisted.lifecycle,
                                     "b": ThroughFacade(facade_b).lifecycle, "c": http.lifecycle},
                                    server, warmup=warmup, rounds=rounds)
                report_lifecycles(wall, cpu, {"a": "(a) in memory, plain SpiffWorkflow",
                                              "p": "(p) persisted baseline, plain SpiffWorkflow",
                                              "b": "(b) facade + SQLite", "c": "(c) HTTP: aftercare serve + httpx"})
                print(f"(c) logs in once per role before timing (keep-alive connection); POST /api/token takes "
                      f"{statistics.median(http.login_seconds) * 1000:.0f} ms, not counted above")
                http_throughput(http, server, HTTP_CLIENTS, max(rounds, 2 * HTTP_CLIENTS))
            finally:
                server.stop()
            # the same load on two HTTP processes (`serve --workers 2`, the background work in its supervisor):
            # what 2 cores can give when one process's interpreter lock is not the limit
            facade_two = open_facade(tmp / "http2")
            server = Server(tmp / "http2", smtp_port, workers=2)
            try:
                two = ThroughHttp(server.url, link_tokens(facade_two))
                for _ in range(warmup):
                    two.lifecycle()
                http_throughput(two, server, HTTP_CLIENTS, max(rounds, 2 * HTTP_CLIENTS))
            finally:
                server.stop()
                facade_two.close()
    finally:
        persisted.close()
        facade_b.close()
        facade_c.close()


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
