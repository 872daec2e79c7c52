"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when configured), a fake clock,
the facade, the app, and a real SMTP server."""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.db import make_engine, migrate
from engine.settings import Settings
from tests.support import SmtpSink, start_smtp

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
PG_URL = os.environ.get("AFTERCARE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]
MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)


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
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "TRUNCATE customer, app_user, deployment, deployment_file, process_spec, process_version, instance, "
            "ticket, human_task, timeline_event, outbox, customer_link, attachment, directory_file, ticket_search, "
            "saved_view "
            "RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_database: str) -> str:
    """A clean, migrated database for one test."""
    if request.param == "postgres":
        _truncate_all(pg_database)
        return pg_database
    path = tmp_path / "aftercare.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


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


@pytest.fixture
def facade(settings: Settings, clock: FakeClock) -> Iterator[Aftercare]:
    """The engine facade with the project's procedures deployed and demo users and customers loaded."""
    from api.app import prepare
    from api.demo import load_demo

    aftercare = Aftercare(settings, clock)
    prepare(aftercare)
    load_demo(aftercare)
    yield aftercare
    aftercare.close()
