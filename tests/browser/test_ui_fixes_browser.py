"""What needs a browser among the tester's small faults: the header's search box has room in Chinese on a laptop and the
header fits a phone, the decision table editor logs no error, and a refused staff users form leaves the page's own
address in the address bar, so a reload shows the page instead of sending the form again."""
from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, expect

from tests.browser.conftest import login

SEARCH_BOX = "document.querySelector('#site-search').getBoundingClientRect().width"
PAGE_WIDTH = "document.documentElement.scrollWidth"


def test_header_search_dmn_console_and_a_refused_users_form(page: Page, live_url: str) -> None:
    login(page, live_url, "admin")  # 1280 x 860, Chinese
    page.goto(f"{live_url}/tickets")
    assert page.evaluate(SEARCH_BOX) >= 280  # its placeholder "搜索工单：编号、内容、客户…" shows whole
    assert page.evaluate(PAGE_WIDTH) <= 1280
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_url}/tickets?lang=en")
    assert page.evaluate(PAGE_WIDTH) <= 390 and page.evaluate(SEARCH_BOX) >= 250
    page.set_viewport_size({"width": 1280, "height": 860})

    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)
    page.on("console", console)
    page.goto(f"{live_url}/workbench/sla")
    expect(page.locator(".dmn-decision-table-container")).to_be_visible()
    assert errors == []  # dmn-js's bundled Inferno announces itself no more

    page.goto(f"{live_url}/admin/users?lang=zh-CN")
    page.fill("#new-username", "lily")
    page.fill("#new-password", "lily-first-pass")
    page.fill("#new-password2", "lily-other-pass")
    page.click("#add button[type=submit]")
    expect(page.locator(".notice.bad")).to_have_text("再次输入初始密码：两次输入的密码不一致。")
    expect(page).to_have_url(f"{live_url}/admin/users#add")
    expect(page.locator("#new-username")).to_have_value("lily")  # what was typed is kept, passwords not
    page.reload()  # a GET of the page: nothing sent again, nothing refused
    expect(page.locator(".notice.bad")).to_have_count(0)
    expect(page.locator("h1")).to_have_text("员工用户")


def test_a_manager_reads_a_decision_table_without_an_editor(page: Page, live_url: str) -> None:
    """Only process owners deploy: a manager sees the table as it is (dmn-js's viewer), with nothing to type into
    that could not be saved; a process owner gets the editor."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    login(page, live_url, "manager")
    page.goto(f"{live_url}/workbench/edit/sla.dmn?lang=en")
    expect(page.locator(".tjs-table")).to_be_visible()
    expect(page.get_by_text("Read only: only process owners deploy changes.")).to_be_visible()
    expect(page.locator(".tjs-table td.rule-index").first).to_have_text("1")
    assert page.locator(".tjs-table [contenteditable=true]").count() == 0
    assert page.locator(".tjs-table td").filter(has_text='"PT30M"').count() >= 1
    page.goto(f"{live_url}/workbench/sla?lang=en")  # the SLA table too: read, not edited
    expect(page.locator(".tjs-table")).to_be_visible()
    expect(page.get_by_text("Read only: only process owners deploy changes.")).to_be_visible()
    assert page.locator(".tjs-table [contenteditable=true]").count() == 0
    assert errors == []
    login(page, live_url, "process_owner")
    page.goto(f"{live_url}/workbench/edit/sla.dmn")
    expect(page.locator(".tjs-table [contenteditable=true]").first).to_be_attached()
