"""Browser fixtures: the real app served by uvicorn on a free port, and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.app import create_app
from engine.commands import Aftercare
from tests.conftest import BACKENDS, fresh_database
from tests.support import SmtpSink, body, free_port

CHROMIUM = "/usr/bin/chromium"
# An assertion on the page waits as long as an action does (the context's 15 s): on the busy 2-core CI machine a
# round trip to the server (a diagram check, a deploy) took longer than Playwright's default of 5 s.
expect.set_options(timeout=15_000)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


# A page looks and behaves the same whichever database is behind it, and every route the pages use is tested on both
# databases under tests/api and tests/engine. So a browser test runs on SQLite, and only the journeys where the
# database decides what the user sees (row locks between two tabs, a whole case from intake to archive) also run
# on PostgreSQL: they are marked `on_both_databases`.
on_both_databases = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_database: str) -> str:
    """A clean, migrated database for one browser test (SQLite, unless the test is `on_both_databases`)."""
    return fresh_database(request.param, tmp_path, sqlite_template, pg_database)


@pytest.fixture
def live_url(facade: Aftercare) -> Iterator[str]:
    """The app with its background worker, on 127.0.0.1 and a free port."""
    facade.settings.scheduler_interval = 0.05
    port = free_port()
    facade.settings.base_url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(create_app(facade, run_worker=True), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="package")  # stopped after the browser tests: its event loop would break asyncio.run later
def browser() -> Iterator[Browser]:
    """One headless Chromium for the browser tests."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh laptop-sized browser context in Chinese."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    context.set_default_timeout(15000)
    yield context.new_page()
    context.close()


def login(page: Page, base: str, username: str) -> None:
    """Log in through the login form."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def link_from(text: str) -> str:
    """The customer link (/c/<token>) in an e-mail's text."""
    match = re.search(r"http://\S+/c/\S+", text)
    assert match, text
    return match.group(0)


def wait_for_mail(smtp: SmtpSink, address: str, subject_part: str, timeout: float = 20) -> str:
    """The body of the newest mail to `address` whose subject contains `subject_part`, once the worker sent it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m, s in zip(smtp.to(address), smtp.subjects(address), strict=True) if subject_part in s]
        if found:
            return body(found[-1])
        time.sleep(0.1)
    raise AssertionError(f"no mail {subject_part!r} to {address}; got {smtp.subjects(address)}")
