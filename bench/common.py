"""Helpers and constants the benchmarks share: paths, the bench's secret, the ticket and task steps of one
lifecycle, the demo actors, timing and percentile helpers, a facade on a fresh SQLite file, the wait for the
procedure's files, an SMTP sink and a counter of SQL statements.
"""
from __future__ import annotations

import re
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import event

from api.app import prepare
from api.demo import load_demo
from engine.clock import Clock
from engine.commands import Aftercare
from engine.effects import CUSTOMER_LANE
from engine.settings import Settings
from engine.users import Actor

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
FORMS = ROOT / "forms"
MAIN_BPMN = PROCESSES / "maintenance_request.bpmn"
SECRET = "bench-secret-key-0123456789abcdefghijkl"  # 32+ bytes: PyJWT warns below that

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
