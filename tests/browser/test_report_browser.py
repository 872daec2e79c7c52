"""The monthly service report in a real browser: the scheduler starts the reports on the first working day, the
manager finds the customer's report in the month's list, sees the figures and charts above the review form, writes
the analysis and sends it; the customer gets the PDF by e-mail and the report page fits a phone."""
from __future__ import annotations

import time
from datetime import datetime

from playwright.sync_api import Browser, Page, expect

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.users import Actor
from tests.browser.conftest import login
from tests.conftest import SHANGHAI
from tests.support import Desk, SmtpSink

CONTACT = "it@demo-customer.example"


def _wait(condition: object, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_manager_reviews_and_sends_the_monthly_report(page: Page, browser: Browser, live_url: str,
                                                          facade: Aftercare, clock: FakeClock,
                                                          smtp: SmtpSink) -> None:
    desk = Desk(facade, clock)
    desk.triage(desk.create(title="调度系统登录失败"), severity=2)
    clock.set(datetime(2026, 12, 1, 9, tzinfo=SHANGHAI))  # the worker starts November's reports by itself
    manager = Actor("manager", "manager")
    _wait(lambda: len(facade.list_monthly_reports(month="2026-11", actor=manager)) == 3, "the reports to start")

    login(page, live_url, "manager")
    page.click("nav a[href='/reports/monthly']")
    row = page.locator("table.mr-list tr", has_text="Demo Customer")
    expect(row).to_contain_text("待审核")
    row.locator("a[href^='/tickets/']").click()
    page.locator(".open-tasks a").first.click()

    report = page.locator(".task-form").locator("xpath=preceding-sibling::div[@class='task-report']")
    expect(report.locator(".mr-chart[data-chart=categories] svg")).to_be_visible()
    expect(report.locator(".mr-chart[data-chart=sla] svg")).to_be_visible()
    expect(report.locator(".tiles")).to_contain_text("新建工单")
    page.fill("#f-analysis", "本月一项二级故障，登录问题由连接池耗尽引起。")
    page.fill("#f-measures", "扩容连接池并增加监控告警。")
    page.fill("#f-internal_note", "内部：客户下季度可能扩容 STAFF-ONLY")
    page.click(".task-form button[type=submit]")
    expect(page.locator(".notice.ok")).to_be_visible()

    _wait(lambda: any("月度服务报告" in s for s in smtp.subjects(CONTACT)), "the customer's e-mail")
    page.goto(f"{live_url}/reports/monthly?month=2026-11")
    expect(page.locator("table.mr-list tr", has_text="Demo Customer")).to_contain_text("已发送")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="en")
    small = phone.new_page()
    login(small, live_url, "engineer")
    small.goto(f"{live_url}/reports/monthly/view?customer=Demo+Customer&month=2026-11&lang=en")
    expect(small.locator(".mr-chart[data-chart=sla] svg")).to_be_visible()
    expect(small.locator(".mr-internal")).to_contain_text("STAFF-ONLY")
    expect(small.locator(".monthly-report")).to_contain_text("Improvement measures")
    assert small.evaluate("document.documentElement.scrollWidth") <= 390
    phone.close()
