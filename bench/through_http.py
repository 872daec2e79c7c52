"""The lifecycle benchmark's run (c) over HTTP: `aftercare serve` in a process of its own (`Server`, whose CPU is
read from /proc), the JSON API driven by httpx (`ThroughHttp`) with customer link tokens read from the database,
and `serving`, uvicorn in a thread for an app in this process.
"""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bench.common import ADMIN, DESK, FORMS, PROCESSES, ROOT, SECRET, STEPS, TICKET, free_port, pick, staff_role
from engine import links
from engine.commands import Aftercare

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

    def __init__(self, directory: Path, smtp_port: int | None = None, *, worker: bool = True,
                 workers: int = 1) -> None:
        self.port, self.workers = free_port(), workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = directory / "aftercare.db"
        smtp = {"AFTERCARE_SMTP_HOST": "127.0.0.1", "AFTERCARE_SMTP_PORT": str(smtp_port)} if smtp_port else {}
        self.env = {**os.environ, "AFTERCARE_DATABASE_URL": f"sqlite:///{directory / 'aftercare.db'}",
                    "AFTERCARE_SECRET_KEY": SECRET, "AFTERCARE_BASE_URL": self.url, **smtp,
                    "AFTERCARE_PROCESSES_DIR": str(PROCESSES), "AFTERCARE_FORMS_DIR": str(FORMS),
                    "AFTERCARE_VAR_DIR": str(directory), "AFTERCARE_RUN_WORKER": "1" if worker else "0",
                    "AFTERCARE_MAIL_IN_PORT": "0"}
        code = "import sys; from api.cli import main; sys.exit(main(sys.argv[1:]))"
        self.log = directory / "serve.log"  # a file, not a pipe: a full pipe nobody reads would stall the server
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", str(self.port),
                                             "--workers", str(workers)],
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
        """CPU seconds the server has used so far (user + system, all threads of its process and of the HTTP
        processes it started with `workers` > 1)."""
        tree = _process_tree(self.process.pid)
        if self.workers > 1 and len(tree) == 1:  # /proc/<pid>/task/*/children missing: say so, do not under-count
            raise RuntimeError("cannot find the HTTP processes of `aftercare serve --workers` in /proc")
        return sum(_cpu_seconds(pid) for pid in tree)

    def mail_left(self) -> int:
        """E-mails the server's outbox has yet to send (read from its database file, beside the server)."""
        with sqlite3.connect(self.database, timeout=30) as db:
            return int(db.execute("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')").fetchone()[0])

    def drained(self, timeout: float = 30) -> float:
        """Wait until the worker has sent every queued e-mail; the seconds waited."""
        start = time.perf_counter()
        while self.mail_left():
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"the server's outbox did not drain in {timeout:.0f} s")
            time.sleep(0.01)
        return time.perf_counter() - start

    def idle_cpu_rate(self, seconds: float = 3.0) -> float:
        """CPU seconds per second the server uses doing nothing (its worker's ticks), measured over `seconds`."""
        self.drained()
        start = self.cpu()
        time.sleep(seconds)
        return (self.cpu() - start) / seconds

    def stop(self) -> None:
        """Stop the server and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _process_tree(pid: int) -> list[int]:
    """`pid` and every process below it that is still running."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            for task in Path(f"/proc/{pids[i]}/task").iterdir():
                pids.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            pass  # ended meanwhile
        i += 1
    return pids


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (all its threads), 0 if it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
