"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when configured), a fake clock,
the facade, the app, and a real SMTP server."""
from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Integer, Table, create_engine, text

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.db import make_engine, migrate
from engine.models import Base
from engine.script_limits import configure as configure_script_budget
from engine.settings import Settings
from tests.support import SmtpSink, drop_database_later, start_smtp

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
PG_URL = os.environ.get("AFTERCARE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]
MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
# Several processes share one PostgreSQL database: without one the test is not collected, as every test's postgres
# case is not (CI always sets AFTERCARE_TEST_POSTGRES_URL, so it always runs there).
collect_ignore = [] if PG_URL else ["api/test_multiprocess.py"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test instead of migrating each time."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database for this test session, migrated once."""
    if not PG_URL:
        yield ""
        return
    name = f"aftercare_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    admin.dispose()
    drop_database_later(PG_URL.replace("postgresql://", "postgresql+psycopg://"), name)


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def fresh_database(backend: str, tmp_path: Path, sqlite_template: Path, pg_database: str) -> str:
    """The URL of a clean, migrated database of `backend` ("sqlite" or "postgres") for one test."""
    if backend == "postgres":
        _truncate_all(pg_database)
        return pg_database
    path = tmp_path / "aftercare.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_database: str) -> str:
    """A clean, migrated database for one test: each test runs on SQLite and on PostgreSQL."""
    return fresh_database(request.param, tmp_path, sqlite_template, pg_database)


@pytest.fixture
def clock() -> FakeClock:
    """Monday 2026-11-23 10:00 in Shanghai, standing still until moved."""
    return FakeClock(MONDAY_10AM)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on a free local port, keeping what it receives."""
    sink = start_smtp()
    yield sink
    sink.stop()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, smtp: SmtpSink) -> Settings:
    """Settings pointing at the test database, the test SMTP server and the project's processes."""
    return Settings(database_url=database_url, processes_dir=ROOT / "processes", forms_dir=ROOT / "forms",
                    var_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port,
                    base_url="http://testserver", secret_key="test-secret-key-0123456789-abcdefghij")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "script_budget(seconds): run the test with this CPU budget for diagram code "
                                       "(engine/script_limits.py), so a looping script costs a fraction of a second")


@pytest.fixture(autouse=True)
def script_budget(request: pytest.FixtureRequest) -> Iterator[float]:
    """The CPU budget of diagram code in this test: a `script_budget` mark's (on the test or its module), else the
    default. Set after the test's facade, if it has one (a facade applies its settings' budget when made)."""
    mark = request.node.get_closest_marker("script_budget")
    if mark is None:
        yield 1.0
        return
    if "facade" in request.fixturenames:
        request.getfixturevalue("facade")
    seconds = float(mark.args[0])
    configure_script_budget(cpu_seconds=seconds)
    try:
        yield seconds
    finally:
        configure_script_budget(cpu_seconds=1.0)


# The procedures deployed and the demo data loaded, kept per database kind and clock: deploying and loading
# cost more than most tests, so each worker does it once and every later test starts from a copy.
_PREPARED: dict[tuple[str, ...], Path | list[tuple[Table, list[dict[str, Any]]]]] = {}


@pytest.fixture
def facade(settings: Settings, clock: FakeClock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aftercare]:
    """The engine facade with the project's procedures deployed and demo users and customers loaded."""
    from api.app import prepare
    from api.demo import load_demo

    url = settings.database_url
    key = (url.split(":", 1)[0], clock.now().isoformat(), str(settings.processes_dir), str(settings.forms_dir))
    prepared = _PREPARED.get(key)
    if prepared is not None:
        _restore(url, prepared)
    aftercare = Aftercare(settings, clock)
    if prepared is None:
        prepare(aftercare)
        load_demo(aftercare)
        _PREPARED[key] = _snapshot(url, tmp_path_factory)
    yield aftercare
    aftercare.close()


def _snapshot(url: str, tmp_path_factory: pytest.TempPathFactory) -> Path | list[tuple[Table, list[dict[str, Any]]]]:
    """A copy of the database as it is now: a SQLite file, or PostgreSQL's rows."""
    if url.startswith("sqlite"):
        copy = tmp_path_factory.mktemp("prepared") / "prepared.db"
        source, target = sqlite3.connect(url.split("///", 1)[1]), sqlite3.connect(copy)
        source.backup(target)
        source.close()
        target.close()
        return copy
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = [(table, [dict(r._mapping) for r in conn.execute(table.select())])
                for table in Base.metadata.sorted_tables]
    engine.dispose()
    return rows


def _restore(url: str, prepared: Path | list[tuple[Table, list[dict[str, Any]]]]) -> None:
    """Put a snapshot back into the (fresh, not yet opened or just truncated) test database."""
    if isinstance(prepared, Path):
        shutil.copy(prepared, url.split("///", 1)[1])
        return
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # rows in any order: no FK triggers
        for table, rows in prepared:
            if rows:
                conn.execute(table.insert(), rows)
        for table, rows in prepared:
            column = table.c.get("id")
            if rows and column is not None and column.autoincrement is not False \
                    and isinstance(column.type, Integer):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                                  f"(SELECT max(id) FROM \"{table.name}\"))"))
    engine.dispose()
