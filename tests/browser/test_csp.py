"""The Content-Security-Policy in a real browser: every main staff and customer page loads, its scripts run and its
diagrams draw with no violation reported (Chromium logs each refused inline script, handler or style as a console
error). Each test visits several pages (a goto plus its scripts, about half a second each, more on a busy machine);
they are split in three so parallel workers share them."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.browser.conftest import login
from tests.support import Desk, customer_token


@pytest.fixture
def violations(page: Page) -> Iterator[list[str]]:
    """What the browser reports as refused by the policy, and any script error."""
    seen: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            seen.append(f"{page.url}: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda error: seen.append(f"{page.url}: {error}"))
    yield seen


def _visit(page: Page, url: str, ready: str = "main") -> None:
    page.goto(url)
    expect(page.locator(ready).first).to_be_visible()
    page.wait_for_load_state("networkidle")


def test_staff_work_pages_keep_the_policy(page: Page, live_url: str, facade: Aftercare, clock: FakeClock,
                                          violations: list[str]) -> None:
    desk = Desk(facade, clock)
    ticket_id = desk.create()
    task_id = desk.task(ticket_id, "triage")["id"]
    login(page, live_url, "admin")
    for path in ("/", "/tickets", f"/tasks/{task_id}", "/intake", "/kb", "/account/notifications",
                 "/account/password"):
        _visit(page, f"{live_url}{path}")
    _visit(page, f"{live_url}/tickets/{ticket_id}", "#diagram .djs-container")  # bpmn-js draws the case
    assert violations == []


def test_staff_oversight_pages_keep_the_policy(page: Page, live_url: str, violations: list[str]) -> None:
    login(page, live_url, "admin")
    for path in ("/dashboard", "/admin/contracts", "/admin/contacts", "/inspections", "/reports/monthly",
                 "/admin/users", "/inbound-mail"):
        _visit(page, f"{live_url}{path}")
    assert violations == []


def test_workbench_pages_keep_the_policy(page: Page, live_url: str, violations: list[str]) -> None:
    login(page, live_url, "process_owner")
    for path in ("/workbench", "/workbench/processes/maintenance_request"):
        _visit(page, f"{live_url}{path}")
    _visit(page, f"{live_url}/workbench/edit/maintenance_request.bpmn", "#canvas .djs-palette")  # the modeler
    _visit(page, f"{live_url}/workbench/sla", ".tjs-table")  # dmn-js: style attributes allowed on these two only
    _visit(page, f"{live_url}/workbench/edit/sla.dmn", ".tjs-table")
    page.locator(".tjs-table td.input-cell").first.click()  # the expression editor (CodeMirror) adds its styles
    page.keyboard.type("x")
    expect(page.locator(".tjs-table .cm-editor").first).to_be_visible()
    page.wait_for_timeout(300)
    assert violations == []


def test_customer_pages_keep_the_policy(page: Page, live_url: str, facade: Aftercare, clock: FakeClock,
                                        violations: list[str]) -> None:
    desk = Desk(facade, clock)
    ticket_id = desk.create()
    desk.triage(ticket_id, category="question")
    desk.complete(ticket_id, "answer_question", {"answer": "在报表页点导出"})
    for path in ("/portal", "/my", "/kb", f"/c/{customer_token(facade, ticket_id)}",
                 f"/s/{facade.status_token(ticket_id=ticket_id)}"):
        _visit(page, f"{live_url}{path}")
    assert violations == []
