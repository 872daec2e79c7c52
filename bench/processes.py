"""Several processes on PostgreSQL: lifecycles per second over HTTP with 1, 2 and 4 `aftercare serve --no-worker`
processes sharing one database, plus one `aftercare worker` (timers and the mail sender, sending to a local SMTP
sink) in every run.

All four servers and the worker are started once, on a scratch database created on the given PostgreSQL server and
dropped afterwards; a run with n servers spreads the same client load (`--clients` threads, each running whole
lifecycles through the JSON API: create, triage, response, resolution, acceptance, survey, callback, each step
listed and completed as its role) round-robin over the first n servers only. Runs are interleaved (1, 2, 4, 1, 2,
4, ...) after a warm-up and summarised by the median, and printed as ratios to the 1-server run of the same
invocation: absolute rates say more about the machine than about Aftercare. Beside each rate: the CPU time the servers
and the worker used per lifecycle (from /proc). The clients run on the same machine and take their share of its
cores; so do PostgreSQL and the worker; the CPU pressure printed before and after says how much other work competed.
Nothing is asserted.

Run: `.venv/bin/python -m bench.processes [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
[--clients 8] [--lifecycles 24] [--rounds 3]`. Without a PostgreSQL URL (option, AFTERCARE_BENCH_POSTGRES_URL or
AFTERCARE_TEST_POSTGRES_URL) it says so and exits 0: SQLite is one machine's database.
"""
from __future__ import annotations

import argparse
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

from bench.common import STEPS, TICKET

ROOT = Path(__file__).resolve().parent.parent
AFTERCARE = str(Path(sys.executable).parent / "aftercare")
SERVERS = (1, 2, 4)



class Sink:
    """An SMTP server that accepts and counts."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        self.count += 1
        return "250 OK"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database on the PostgreSQL server of `server_url`, dropped afterwards."""
    name = f"aftercare_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def cpu_pressure() -> str:
    """Linux's CPU pressure (share of the last minute some runnable task waited for a core), when known."""
    try:
        fields = dict(f.split("=") for f in Path("/proc/pressure/cpu").read_text().split("\n")[0].split()[1:])
    except (OSError, ValueError):
        return "unknown"
    return f"{float(fields['avg60']):.0f} %"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def processes(database_url: str, smtp_port: int, ports: list[int], workdir: Path) -> Iterator[list[Any]]:
    """`aftercare demo`, then a server on each port and one worker; yields the servers' base URLs and the pids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(AFTERCARE_DATABASE_URL=database_url, AFTERCARE_SMTP_HOST="127.0.0.1",
               AFTERCARE_SMTP_PORT=str(smtp_port), AFTERCARE_BASE_URL=f"http://127.0.0.1:{ports[0]}",
               AFTERCARE_SECRET_KEY="bench-secret-key-0123456789abcdef",
               AFTERCARE_PROCESSES_DIR=str(ROOT / "processes"), AFTERCARE_FORMS_DIR=str(ROOT / "forms"),
               AFTERCARE_VAR_DIR=str(workdir), AFTERCARE_MAIL_IN_PORT="0")
    log = (workdir / "processes.log").open("wb")
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        started.append(subprocess.Popen([AFTERCARE, *args], env=env, cwd=workdir, stdout=log,
                                        stderr=subprocess.STDOUT))
        return started[-1]

    try:
        if start("demo").wait(timeout=300) != 0:
            raise SystemExit(f"aftercare demo failed; see {workdir / 'processes.log'}")
        for port in ports:
            start("serve", "--port", str(port), "--no-worker", "--host", "127.0.0.1")
        start("worker")
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            wait_healthy(url)
        yield [urls, [p.pid for p in started[1:]]]
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def wait_healthy(url: str, timeout: float = 120) -> None:
    """Wait for a server's health check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not start")


class Client:
    """One client thread's connections (one per server) and the staff's bearer tokens."""

    def __init__(self, tokens: dict[str, dict[str, str]]) -> None:
        self.tokens = tokens
        self.http = httpx.Client(timeout=120)

    def call(self, server: str, method: str, path: str, role: str, **kwargs: Any) -> Any:
        """One request as `role`; its JSON."""
        response = self.http.request(method, f"{server}{path}", headers=self.tokens[role], **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def lifecycle(self, server: str) -> None:
        """One ticket from intake to archive on `server`: every step listed and completed as its role."""
        ticket = self.call(server, "POST", "/api/tickets", "service_desk", json=TICKET)
        for name, data in STEPS:
            tasks = self.call(server, "GET", "/api/tasks", "admin", params={"ticket_id": ticket["id"]})
            task = next(t for t in (tasks["items"] if isinstance(tasks, dict) else tasks) if t["name"] == name)
            role = "service_desk" if task["role"] == "customer" else task["role"]
            self.call(server, "POST", f"/api/tasks/{task['id']}/complete", role, json={"data": data})
        final = self.call(server, "GET", f"/api/tickets/{ticket['id']}", "admin")
        if final["status"] != "archived":
            raise RuntimeError(f"ticket {ticket['id']} ended {final['status']!r}")


def login(server: str) -> dict[str, dict[str, str]]:
    """Bearer headers of the demo users the lifecycle needs (the tokens work on every server)."""
    tokens = {}
    for role in ("service_desk", "engineer", "admin"):
        response = httpx.post(f"{server}/api/token", data={"username": role, "password": "demo"}, timeout=120)
        response.raise_for_status()
        tokens[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return tokens


def rate(servers: list[str], clients: list[Client], lifecycles: int, pids: list[int]) -> tuple[float, float]:
    """Lifecycles per second, and the servers' and worker's CPU milliseconds per lifecycle: `lifecycles` run by
    the client threads, round-robin over `servers`."""
    counter = itertools.count()
    lock = threading.Lock()

    def work(client: Client) -> None:
        while True:
            with lock:
                n = next(counter)
            if n >= lifecycles:
                return
            client.lifecycle(servers[n % len(servers)])

    cpu, start = cpu_seconds(pids), time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        for future in [pool.submit(work, c) for c in clients]:
            future.result()
    elapsed = time.perf_counter() - start
    return lifecycles / elapsed, (cpu_seconds(pids) - cpu) * 1000 / lifecycles


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("AFTERCARE_BENCH_POSTGRES_URL")
                        or os.environ.get("AFTERCARE_TEST_POSTGRES_URL", ""))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--lifecycles", type=int, default=24, help="per run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        print("bench.processes skipped: it needs PostgreSQL (--database-url, AFTERCARE_BENCH_POSTGRES_URL or "
              "AFTERCARE_TEST_POSTGRES_URL); several processes share one PostgreSQL database, never a SQLite file")
        return
    cores = os.cpu_count() or 1
    print(f"CPU pressure before (Linux PSI, some, last minute): {cpu_pressure()}")
    print(f"Several processes on PostgreSQL: lifecycles/s over HTTP, n x `aftercare serve --no-worker` + 1 "
          f"`aftercare worker` (timers, mail sender on)\nmachine: {cores} CPU cores, shared by the servers, the "
          f"worker, PostgreSQL and {args.clients} client threads; {args.lifecycles} lifecycles a run, "
          f"{args.rounds} rounds after a warm-up, medians", flush=True)
    sink = Sink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database_url) as url, \
                processes(url, smtp_port, [free_port() for _ in range(max(SERVERS))], Path(tmp)) as (urls, pids):
            tokens = login(urls[0])
            clients = [Client(tokens) for _ in range(args.clients)]
            rate(urls, clients, max(SERVERS) * 4, pids)  # warm-up: every server's caches and connection pools
            rates: dict[int, list[tuple[float, float]]] = {n: [] for n in SERVERS}
            for _ in range(args.rounds):
                for n in SERVERS:
                    rates[n].append(rate(urls[:n], clients, args.lifecycles, pids))
            report(rates, cores)
            print(f"CPU pressure at the end (Linux PSI, some, last minute): {cpu_pressure()}; near 100 % other work "
                  "competes for the cores, and processes started from one session share one scheduler group "
                  "(autogroup): then more servers cannot get more CPU, and the ratios show what more processes "
                  "cost, not how they scale")
            print(f"mail sent by the worker meanwhile: {sink.count}")
    finally:
        controller.stop()


def report(rates: dict[int, list[tuple[float, float]]], cores: int) -> None:
    """The table: per server count, the median rate and its ratio to one server, and the CPU the servers and the
    worker spent per lifecycle."""
    base = statistics.median(r for r, _ in rates[1])
    print(f"{'servers':>7}  {'lifecycles/s':>12}  {'runs':>24}  {'ratio to 1 server':>17}  "
          f"{'server+worker CPU ms/lifecycle':>30}")
    for n, samples in rates.items():
        median = statistics.median(r for r, _ in samples)
        runs = ", ".join(f"{r:.2f}" for r, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        print(f"{n:>7}  {median:>12.2f}  {runs:>24}  {median / base:>17.2f}  {cpu:>30.0f}")
    print(f"(on {cores} cores: more processes than cores cannot add CPU; what they add is overlap of one process's "
          "waits on the database and the network with another's work)")


if __name__ == "__main__":
    main()
