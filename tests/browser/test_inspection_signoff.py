"""An inspection in a real browser: it starts by itself when due, the manager plans it, the engineer fills the
checklist, the customer signs the report from the e-mail on a phone, and the risk becomes a ticket."""
from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from engine.commands import Aftercare
from tests.browser.conftest import login, wait_for_mail
from tests.support import SmtpSink

CONTACT = "ops@east-grid.example"  # the premium demo customer of contract HT-2026-003
PHONE = {"width": 390, "height": 844}
DOCS = Path(__file__).resolve().parents[2] / "docs"



def test_inspection_is_planned_performed_and_signed_from_the_email(page: Page, browser: Browser, live_url: str,
                                                                    smtp: SmtpSink, facade: Aftercare) -> None:
    facade.schedule_inspection(number="HT-2026-003", at=facade.clock.now())  # due now: the worker starts it

    login(page, live_url, "manager")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not facade.list_inspections(contract="HT-2026-003"):
        time.sleep(0.1)
    page.goto(f"{live_url}/inspections")
    expect(page.locator("#inspections")).to_contain_text("HT-2026-003")
    page.locator("#inspections a", has_text="XJ-").first.click()
    page.click(".open-tasks a:has-text(\"计划巡检\")")
    page.select_option("#f-engineer", "engineer")
    page.fill("#f-visit_date", "2026-11-25")
    page.click("button[type=submit]")
    expect(page.locator(".notice.ok")).to_be_visible()

    login(page, live_url, "engineer")
    page.goto(f"{live_url}/?view=mine")
    page.get_by_role("link", name=re.compile("执行巡检")).first.click()
    page.check("input[name=server_status][value=warning]")
    page.fill("#f-cpu_usage", "35")
    page.fill("#f-memory_usage", "70")
    page.fill("#f-disk_usage", "92")
    page.check("input[name=backup_ok][value=true]")
    page.fill("#f-last_restore_test", "2026-10-12")
    page.check("input[name=function_stability][value=stable]")
    page.check("input[name=security_patches][value=pending]")
    page.fill("#f-risks-0-description", "数据盘使用率 92%")
    page.select_option("#f-risks-0-severity", "high")
    page.fill("#f-risks-0-recommendation", "扩容或清理归档日志")
    page.check("#f-risks-0-action_needed")
    page.fill("#f-summary", "系统总体运行正常，磁盘空间需尽快处理。")
    page.click("button[type=submit]")
    expect(page.locator(".notice.ok")).to_be_visible()

    phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
    mail = wait_for_mail(smtp, CONTACT, "巡检报告")
    assert "数据盘使用率 92%" in mail
    phone.goto(re.search(r"http://\S+/c/\S+", mail).group(0))  # type: ignore[union-attr]
    expect(phone.locator(".inspection-report")).to_contain_text("扩容或清理归档日志")
    phone.fill("#f-signed_by", "周主任")
    phone.click("button[type=submit]")  # the confirmation is not ticked: the field error shows, the name stays
    expect(phone.locator("#err-signoff_confirmed")).to_be_visible()
    expect(phone.locator("#f-signed_by")).to_have_value("周主任")
    phone.check("input[name=signoff_confirmed][value=true]")
    phone.screenshot(path=str(DOCS / "customer-inspection-signoff.png"), full_page=True)
    phone.click("button[type=submit]")
    expect(phone.locator(".notice.ok")).to_be_visible()

    login(page, live_url, "manager")
    page.goto(f"{live_url}/inspections")
    expect(page.locator("#inspections")).to_contain_text("周主任")
    page.locator("#inspections a", has_text="报告").first.click()
    expect(page.locator(".inspection-report")).to_contain_text("周主任")
    risk_link = page.locator(".report-risks a").first
    expect(risk_link).to_contain_text("AC-")
    page.screenshot(path=str(DOCS / "inspection-report-page.png"), full_page=True)
    risk_link.click()
    expect(page.locator(".facts")).to_contain_text("XJ-")  # the risk's ticket links back to its inspection
    expect(page.locator(".open-tasks")).to_contain_text("分类定级")
