"""Several processes on one PostgreSQL database: two `aftercare serve --no-worker` and two `aftercare worker`,
real subprocesses started together on a fresh database, with a real SMTP server.

Lifecycles run concurrently through both servers over HTTP (JSON API for staff, the links of the e-mails for the
customer), on a procedure whose triage timer a process owner shortened to a few seconds through one server, so
timers fire for real while the workers compete for them. One worker is killed with SIGKILL while the timers fall
due. Afterwards every step, task, timer and e-mail must have happened exactly once.

Needs PostgreSQL (AFTERCARE_TEST_POSTGRES_URL, always set in CI): SQLite is one machine's database.
"""
from __future__ import annotations

import email.header
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from tests.support import SmtpSink, body, drop_database_later, free_port, start_smtp

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("AFTERCARE_TEST_POSTGRES_URL", "")
AFTERCARE = str(Path(sys.executable).parent / "aftercare")
LIFECYCLES = 8
TRIAGE_TIMER_SECONDS = 4
STEPS = ("triage", "engineer_response", "engineer_resolution", "customer_acceptance", "satisfaction_survey",
         "callback")
T = TypeVar("T")

@dataclass
class Cluster:
    """The running processes, the database they share and the SMTP server they send to."""

    db: Engine
    smtp: SmtpSink
    logs: Path
    servers: list[str] = field(default_factory=list)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> str:
        """The tail of a process's output, for failure messages."""
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def rows(self, sql: str, **params: Any) -> list[Any]:
        """Rows of a query on the shared database."""
        with self.db.connect() as conn:
            return list(conn.execute(text(sql), params))


def _environment(database_url: str, smtp_port: int, base_url: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(AFTERCARE_DATABASE_URL=database_url, AFTERCARE_SMTP_HOST="127.0.0.1",
               AFTERCARE_SMTP_PORT=str(smtp_port), AFTERCARE_BASE_URL=base_url,
               AFTERCARE_SECRET_KEY="multiprocess-test-secret-0123456789abcdef",
               AFTERCARE_PROCESSES_DIR=str(ROOT / "processes"), AFTERCARE_FORMS_DIR=str(ROOT / "forms"),
               AFTERCARE_VAR_DIR=str(var_dir), AFTERCARE_SCHEDULER_INTERVAL="0.2",
               AFTERCARE_MAIL_LEASE_SECONDS="3", AFTERCARE_MAIL_IN_PORT="0")
    return env


def _wait(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A fresh database; two servers and `aftercare demo` started at the same moment on it (they must take turns
    migrating and deploying), then two workers; all stopped and the database dropped afterwards. The demo loader
    replays last month on a clock of its own, so it runs before the workers do (as `make run` does)."""
    name = f"aftercare_mp_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    smtp = start_smtp()
    ports = [free_port(), free_port()]
    cluster = Cluster(db=create_engine(url.replace("postgresql://", "postgresql+psycopg://")), smtp=smtp,
                      logs=tmp_path, servers=[f"http://127.0.0.1:{p}" for p in ports])
    env = _environment(url, smtp.port, cluster.servers[0], tmp_path / "var")

    def start(proc_name: str, *args: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{proc_name}.log").open("wb") as out:
            cluster.processes[proc_name] = subprocess.Popen([AFTERCARE, *args], env=env, cwd=tmp_path, stdout=out,
                                                            stderr=subprocess.STDOUT)
        return cluster.processes[proc_name]

    try:
        for i, port in enumerate(ports):
            start(f"server{i + 1}", "serve", "--port", str(port), "--no-worker")
        assert start("demo", "demo").wait(timeout=120) == 0, cluster.log("demo")
        start("worker1", "worker")
        start("worker2", "worker")
        for i, server in enumerate(cluster.servers):
            _wait(f"server{i + 1} to serve:\n{cluster.log(f'server{i + 1}')}", functools.partial(_healthy, server), 90)
        yield cluster
    finally:
        for proc in cluster.processes.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10  # one grace period for all of them, not one each: then they are killed
        for proc in cluster.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        smtp.stop()
        cluster.db.dispose()
        admin.dispose()
        drop_database_later(PG_URL.replace("postgresql://", "postgresql+psycopg://"), name)


class Driver:
    """One lifecycle's HTTP client for a server, with the staff's bearer tokens."""

    def __init__(self, cluster: Cluster, tokens: dict[str, dict[str, str]]) -> None:
        self.cluster, self.tokens = cluster, tokens
        # a new connection per request: a kept-alive one the server closes as it is reused would reset the request
        self.http = httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0))

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()

    def call(self, server: str, method: str, path: str, role: str, **kwargs: Any) -> Any:
        """A JSON API call as `role`; fails the test on anything but success."""
        response = self.http.request(method, f"{server}{path}", headers=self.tokens[role], **kwargs)
        assert response.status_code < 300, f"{method} {path} on {server}: {response.status_code} {response.text}"
        return response.json()

    def ticket(self, server: str, ticket_id: int) -> dict[str, Any]:
        """The ticket with its timeline."""
        return dict(self.call(server, "GET", f"/api/tickets/{ticket_id}", "admin"))

    def open_task(self, server: str, ticket_id: int, name: str) -> dict[str, Any]:
        """Wait for the ticket's open task `name`."""
        def probe() -> dict[str, Any] | None:
            tasks = self.call(server, "GET", "/api/tasks", "admin", params={"ticket_id": ticket_id})
            found = [t for t in (tasks["items"] if isinstance(tasks, dict) else tasks) if t["name"] == name]
            assert len(found) <= 1, f"task {name} open twice on ticket {ticket_id}: {found}"
            return found[0] if found else None
        return _wait(f"task {name} of ticket {ticket_id}", probe, 60)

    def complete(self, server: str, ticket_id: int, name: str, role: str, data: dict[str, Any]) -> None:
        """Complete the open task `name` as `role`."""
        task = self.open_task(server, ticket_id, name)
        self.call(server, "POST", f"/api/tasks/{task['id']}/complete", role, json={"data": data})

    def answer_link(self, server: str, contact: str, field_name: str, data: dict[str, str]) -> None:
        """Answer, as the customer, the form behind the e-mailed link whose page asks for `field_name`: opened and
        posted on `server` (any server answers any link)."""
        def page() -> tuple[str, str] | None:
            for message in list(self.cluster.smtp.to(contact)):
                for link in re.findall(r"https?://\S+?(/c/[\w.\-]+)", body(message)):
                    response = self.http.get(f"{server}{link}")
                    if response.status_code == 200 and f'name="{field_name}"' in response.text:
                        return link, response.text
            return None
        link, html = _wait(f"an e-mailed link asking {contact} for {field_name}", page, 60, interval=0.3)
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
        response = self.http.post(f"{server}{link}", data={**hidden, **data})
        assert response.status_code == 200, f"POST {link}: {response.status_code} {response.text[:500]}"


def lifecycle(cluster: Cluster, tokens: dict[str, dict[str, str]], index: int, created: threading.Semaphore) -> int:
    """One maintenance request from intake to archive, alternating between the servers; its ticket id."""
    with Driver(cluster, tokens) as driver:
        return _lifecycle(driver, index, created)


def _lifecycle(driver: Driver, index: int, created: threading.Semaphore) -> int:
    one, other = driver.cluster.servers[index % 2], driver.cluster.servers[(index + 1) % 2]
    contact = f"mp{index}@demo-customer.example"
    try:
        ticket = driver.call(one, "POST", "/api/tickets", "service_desk", json={
            "customer": "Demo Customer", "contact_name": f"客户{index}", "contact_email": contact, "channel": "phone",
            "title": f"多进程 {index}", "description": "两台服务器、两个后台进程"})
    finally:
        created.release()  # a failure shows as this lifecycle's error, not as a wait for the others
    assert ticket["process"]["version"] == 2, "a server started a case on a version another server replaced"
    ticket_id = int(ticket["id"])
    # the shortened triage timer fires (on some worker) before anyone triages
    _wait(f"the triage timer of ticket {ticket_id}",
          lambda: any(e["kind"] == "escalation" for e in driver.ticket(other, ticket_id)["timeline"]), 60, 0.5)
    driver.complete(other, ticket_id, "triage", "service_desk", {"category": "fault", "severity": 2, "onsite": False})
    driver.complete(one, ticket_id, "engineer_response", "engineer", {"contact_made": True, "diagnosis": "日志"})
    driver.complete(other, ticket_id, "engineer_resolution", "engineer",
                    {"resolution": "已修复", "outcome": "resolved"})
    driver.answer_link(one, contact, "accepted", {"accepted": "true", "reason": ""})
    driver.answer_link(other, contact, "score", {"score": "5", "comment": "好"})
    driver.complete(one, ticket_id, "callback", "service_desk", {"recurred": False, "satisfaction": 5})
    _wait(f"ticket {ticket_id} archived", lambda: driver.ticket(other, ticket_id)["status"] == "archived", 60)
    return ticket_id


def shorten_triage_timer(driver: Driver, server: str) -> None:
    """The process owner deploys the maintenance procedure with a triage timer of a few seconds."""
    bpmn = (ROOT / "processes" / "maintenance_request.bpmn").read_text(encoding="utf-8")
    assert '"PT15M"' in bpmn
    shortened = bpmn.replace('"PT15M"', f'"PT{TRIAGE_TIMER_SECONDS}S"', 1)
    versions = driver.call(server, "POST", "/api/processes", "process_owner",
                           files=[("files", ("maintenance_request.bpmn", shortened.encode(), "application/xml"))])
    assert {"process_id": "maintenance_request", "version": 2} in versions


def kill_a_worker(cluster: Cluster) -> None:
    """SIGKILL worker1 while the timers fall due. The SMTP server refuses mail around the kill, so no message can
    be mid-DATA when its sender dies (the one case where the protocol cannot promise once)."""
    cluster.smtp.refuse = True
    time.sleep(1.0)
    cluster.processes["worker1"].send_signal(signal.SIGKILL)
    cluster.processes["worker1"].wait(timeout=10)
    time.sleep(0.5)
    cluster.smtp.refuse = False


def test_two_servers_and_two_workers_lose_and_double_nothing(cluster: Cluster) -> None:
    versions = cluster.rows("SELECT process_id, count(*) FROM process_version GROUP BY process_id")
    assert versions and all(n == 1 for _, n in versions), f"started together, they deployed twice: {versions}"
    tokens: dict[str, dict[str, str]] = {}
    for role in ("service_desk", "engineer", "process_owner", "admin"):
        response = httpx.post(f"{cluster.servers[len(tokens) % 2]}/api/token",
                              data={"username": role, "password": "demo"}, timeout=60)
        assert response.status_code == 200, response.text
        tokens[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    with Driver(cluster, tokens) as driver:
        shorten_triage_timer(driver, cluster.servers[0])

    created = threading.Semaphore(0)
    with ThreadPoolExecutor(LIFECYCLES) as pool:
        futures = [pool.submit(lifecycle, cluster, tokens, i, created) for i in range(LIFECYCLES)]
        for _ in range(LIFECYCLES):
            assert created.acquire(timeout=60), "tickets were not created"
        time.sleep(TRIAGE_TIMER_SECONDS - 1)  # the kill falls among the timers falling due
        kill_a_worker(cluster)
        ticket_ids = [f.result(timeout=120) for f in futures]

    for survivor in ("server1", "server2", "worker2"):
        assert cluster.processes[survivor].poll() is None, cluster.log(survivor)
    with Driver(cluster, tokens) as driver:
        _assert_each_step_once(driver, ticket_ids)
    _assert_each_task_once(cluster, ticket_ids)
    _assert_each_mail_once(cluster, ticket_ids)


def _assert_each_step_once(driver: Driver, ticket_ids: list[int]) -> None:
    for ticket_id in ticket_ids:
        ticket = driver.ticket(driver.cluster.servers[ticket_id % 2], ticket_id)
        kinds = Counter(e["kind"] for e in ticket["timeline"])
        completed = Counter(e.get("task") for e in ticket["timeline"] if e["kind"] == "task_completed")
        opened = Counter(e.get("task") for e in ticket["timeline"] if e["kind"] == "task_opened")
        assert completed == Counter(STEPS), f"ticket {ticket_id} completed {completed}"
        assert all(opened[step] == 1 for step in STEPS), f"ticket {ticket_id} opened {opened}"
        assert kinds["ticket_created"] == 1 and kinds["escalation"] == 1, f"ticket {ticket_id}: {kinds}"
        assert len([b for b in ticket["sla"]["breaches"] if "triage" in str(b)]) == 1, ticket["sla"]


def _assert_each_task_once(cluster: Cluster, ticket_ids: list[int]) -> None:
    rows = cluster.rows("SELECT ticket_id, bpmn_id, state, count(*) FROM human_task WHERE ticket_id = ANY(:ids) "
                        "GROUP BY ticket_id, bpmn_id, state", ids=ticket_ids)
    assert not [r for r in rows if r[2] == "open"], f"tasks left open: {rows}"
    per_ticket = Counter((r[0], r[1]) for r in rows for _ in range(r[3]))
    assert per_ticket == Counter((t, s) for t in ticket_ids for s in STEPS), per_ticket


def _assert_each_mail_once(cluster: Cluster, ticket_ids: list[int]) -> None:
    _wait("the outbox to drain", lambda: not cluster.rows(
        "SELECT id FROM outbox WHERE status IN ('pending', 'sending')"), 60, 0.5)
    received = Counter(str(m["Message-ID"]).strip() for m in cluster.smtp.messages)
    assert all(n == 1 for n in received.values()), f"sent twice: {[k for k, n in received.items() if n > 1]}"
    sent = cluster.rows("SELECT message_id, to_addr, template, ticket_id FROM outbox WHERE status = 'sent'")
    assert len(sent) == len(cluster.smtp.messages) == len(received), (len(sent), len(cluster.smtp.messages))
    assert {str(r[0]).strip() for r in sent} == set(received), "the sent rows and the received mail differ"
    per_template = Counter((r[1], r[2]) for r in sent if r[3] in ticket_ids and r[1].startswith("mp"))
    assert per_template and all(n == 1 for n in per_template.values()), per_template
    for i in range(LIFECYCLES):  # the customer got each kind of mail once (by subject, as the customer sees it)
        subjects = Counter(str(email.header.make_header(email.header.decode_header(str(m["Subject"]))))
                           for m in cluster.smtp.to(f"mp{i}@demo-customer.example"))
        assert len(subjects) >= 3 and all(n == 1 for n in subjects.values()), subjects
