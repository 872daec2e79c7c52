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
import hashlib
import json
import os
import platform
import re
import socket
import sqlite3
import statistics
import subprocess
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
from uuid import UUID

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import event, func, insert, select, text

from api.app import prepare
from api.demo import load_demo
from api.worker import Worker
from engine import links
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
GOAL_FACADE = 1.5  # (b) within this factor of the persisted baseline (p)
GOAL_HTTP_CPU = 3.0  # server CPU per HTTP lifecycle within this factor of the raw engine
GOAL_HTTP_RATE = 50.0  # lifecycles per second over HTTP, 2 cores, SQLite
HTTP_CLIENTS = 4
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


# -- (p) persisted baseline ---------------------------------------------------------------------------------


class _SpecRefConverter(BpmnWorkflowConverter):
    """Spiff's own workflow converter, writing a spec hash instead of the spec (the spec is stored once)."""

    specs: dict[str, tuple[Any, dict[str, Any]]] = {}

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)  # the tasks and data, not the spec
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        dct["spec_ref"] = workflow.spec_ref
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        spec, subprocess_specs = self.specs[dct["spec_ref"]]
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.spec_ref = dct["spec_ref"]
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.get("bpmn_events", []))
        return workflow


class Persisted:
    """(p) The honest persisted baseline: plain SpiffWorkflow that, around every step, reads the case's state from a
    SQLite table, deserializes it, runs the step, serializes it and writes it back in one write transaction. The
    spec is serialized once into a table of its own and referred to by hash (restored spec objects are cached, as
    any engine would); no projections, no timeline, no mail: the least a persisted engine must do."""

    def __init__(self, database: Path) -> None:
        parser = SpiffBpmnParser()
        parser.add_bpmn_files([str(p) for p in sorted(PROCESSES.glob("*.bpmn"))])
        parser.add_dmn_files([str(p) for p in sorted(PROCESSES.glob("*.dmn"))])
        config = dict(SPIFF_CONFIG)
        config[BpmnWorkflow] = _SpecRefConverter
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
        spec, subs = parser.get_spec(MAIN_PROCESS), parser.get_subprocess_specs(MAIN_PROCESS)
        registry = self.serializer.registry
        spec_json = json.dumps({"spec": registry.convert(spec),
                                "subprocess_specs": {k: registry.convert(v) for k, v in subs.items()}}, sort_keys=True)
        self.spec_ref = hashlib.sha256(spec_json.encode()).hexdigest()
        _SpecRefConverter.specs[self.spec_ref] = (spec, subs)
        self.db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("CREATE TABLE IF NOT EXISTS bench_spec (hash TEXT PRIMARY KEY, json TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS bench_case (id INTEGER PRIMARY KEY, spec_hash TEXT NOT NULL, "
                        "state TEXT NOT NULL, serializer_version TEXT NOT NULL)")
        self.db.execute("INSERT OR IGNORE INTO bench_spec VALUES (?, ?)", (self.spec_ref, spec_json))
        self.clock = Clock()
        self.count = 0

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def engine(self) -> Any:
        """The same restricted script engine the facade gives every case."""
        return make_script_engine({**calendar_functions(self.clock.now), **Effects().functions()})

    def lifecycle(self) -> None:
        """Start and store a case, then per step: load, deserialize, complete, run, serialize, store."""
        self.count += 1
        wf = BpmnWorkflow(*_SpecRefConverter.specs[self.spec_ref], script_engine=self.engine())
        wf.spec_ref = self.spec_ref
        wf.get_next_task(state=TaskState.READY).data.update(start_data(self.count, self.clock.now()))
        wf.do_engine_steps()
        self.db.execute("BEGIN IMMEDIATE")
        case_id = self.db.execute("INSERT INTO bench_case (spec_hash, state, serializer_version) VALUES (?, ?, ?)",
                                  (self.spec_ref, self.serializer.serialize_json(wf),
                                   self.serializer.VERSION)).lastrowid
        self.db.execute("COMMIT")
        for name, data in STEPS:
            self.db.execute("BEGIN IMMEDIATE")
            (state,) = self.db.execute("SELECT state FROM bench_case WHERE id = ?", (case_id,)).fetchone()
            wf = self.serializer.deserialize_json(state)
            wf.script_engine = self.engine()
            task = ready_user_task(wf, name)
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
            state = self.serializer.serialize_json(wf)
            self.db.execute("UPDATE bench_case SET state = ? WHERE id = ?", (state, case_id))
            self.db.execute("COMMIT")
        assert wf.is_completed(), "the persisted workflow did not complete"


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


class Server:
    """`aftercare serve` on the bench's database in `directory`, in a process of its own so that its CPU time is its
    own: read from /proc, user + system, of the whole process. With `worker` (as in production) timers and the mail
    sender run in it too, sending to `smtp_port`; bench/http_overhead.py runs it without."""

    def __init__(self, directory: Path, smtp_port: int | None = None, *, worker: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        smtp = {"AFTERCARE_SMTP_HOST": "127.0.0.1", "AFTERCARE_SMTP_PORT": str(smtp_port)} if smtp_port else {}
        self.env = {**os.environ, "AFTERCARE_DATABASE_URL": f"sqlite:///{directory / 'aftercare.db'}",
                    "AFTERCARE_SECRET_KEY": SECRET, "AFTERCARE_BASE_URL": self.url, **smtp,
                    "AFTERCARE_PROCESSES_DIR": str(PROCESSES), "AFTERCARE_FORMS_DIR": str(FORMS),
                    "AFTERCARE_VAR_DIR": str(directory), "AFTERCARE_RUN_WORKER": "1" if worker else "0",
                    "AFTERCARE_MAIL_IN_PORT": "0"}
        code = "import sys; from api.cli import main; sys.exit(main(sys.argv[1:]))"
        self.log = directory / "serve.log"  # a file, not a pipe: a full pipe nobody reads would stall the server
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", str(self.port)],
                                            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"aftercare serve did not start: {self.log.read_text()[-2000:]!r}")
            time.sleep(0.1)

    def cpu(self) -> float:
        """CPU seconds the server process has used so far (user + system, all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Stop the server and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class ThroughHttp:
    """(c) The JSON API over keep-alive connections, the customer's acceptance through the link page as the customer
    does it; each role logs in once (POST /api/token) before timing. `tokens` reads a customer link's token from the
    database (the bench holds the secret; the e-mail holds the same link)."""

    def __init__(self, base_url: str, tokens: Callable[[str], str]) -> None:
        self.base_url = base_url
        self.link_token = tokens
        self.local = threading.local()
        self.tokens: dict[str, dict[str, str]] = {}
        self.login_seconds: list[float] = []
        for role in (ADMIN.role, DESK.role, "engineer"):  # the roles of the timed lifecycle, before timing
            self.auth(role)

    @property
    def client(self) -> httpx.Client:
        """This thread's keep-alive client."""
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(base_url=self.base_url, timeout=60)
        return self.local.client

    def close(self) -> None:
        """Close this thread's connection."""
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

    def accept_by_link(self, task_id: str) -> None:
        """The customer opens the acceptance link and accepts on its page (the hidden fields sent back)."""
        path = f"/c/{self.link_token(task_id)}"
        page = self.client.get(path)
        assert page.status_code == 200, f"GET {path}: {page.status_code}"
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        done = self.client.post(path, data={**hidden, "accepted": "true"})
        assert done.status_code == 200, f"POST {path}: {done.status_code} {done.text[:300]}"

    def lifecycle(self) -> None:
        """POST a ticket, then list and complete each task (acceptance by link); GET the ticket: archived."""
        ticket = self.call("POST", "/api/tickets", DESK.role, json=TICKET)
        for name, data in STEPS:
            task = pick(self.call("GET", "/api/tasks", ADMIN.role, params={"ticket_id": ticket["id"]}), name)
            if name == "customer_acceptance":
                self.accept_by_link(task["id"])
                continue
            self.call("POST", f"/api/tasks/{task['id']}/complete", staff_role(task["role"]), json={"data": data})
        final = self.call("GET", f"/api/tickets/{ticket['id']}", ADMIN.role)
        assert final["status"] == "archived", f"ticket {ticket['id']} ended {final['status']!r}, not archived"


def link_tokens(facade: Aftercare) -> Callable[[str], str]:
    """A function giving the customer link token of an open task, read through `facade` (same database)."""
    def token(task_id: str) -> str:
        def read(session: Any) -> str:
            link = links.for_task(session, task_id)
            assert link is not None, f"task {task_id} has no customer link"
            return links.token_for(SECRET, link)
        return str(facade.run_in_unit(read))
    return token


# -- (a)/(p)/(b)/(c) compared -------------------------------------------------------------------------------


def compare(runs: dict[str, Callable[[], None]], server: Server, *, warmup: int,
            rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds per lifecycle of each run, wall and CPU, interleaved round by round after `warmup` untimed rounds.
    CPU is this thread's for the in-process runs and the server process's for (c)."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    wall: dict[str, list[float]] = {key: [] for key in runs}
    cpu: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            clock = server.cpu if key == "c" else time.thread_time
            cpu_start, start = clock(), time.perf_counter()
            run()
            wall[key].append(time.perf_counter() - start)
            cpu[key].append(clock() - cpu_start)
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
    cpu_start, start = server.cpu(), time.perf_counter()
    threads = [threading.Thread(target=one_client, args=(n,)) for n in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds, cpu = time.perf_counter() - start, server.cpu() - cpu_start
    rate = lifecycles / seconds
    print(f"(c) {clients} concurrent clients, {lifecycles} lifecycles: {rate:.1f} lifecycles/s over HTTP "
          f"({verdict(rate, GOAL_HTTP_RATE, at_most=False)}); server CPU {cpu / lifecycles * 1000:.1f} ms per "
          f"lifecycle, "
          f"{cpu / seconds:.2f} cores busy; one server process (`aftercare serve`), the clients share the "
          f"{os.cpu_count()} cores")


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
