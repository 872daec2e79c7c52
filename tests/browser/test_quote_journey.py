"""A paid change request in a real browser: the out-of-warranty customer (青山医院, contract HT-2023-007) gets a
quote by e-mail, counter-offers on a phone, accepts the revised quote from the new e-mail, and accepts the work."""
from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from engine.commands import Aftercare
from tests.browser.conftest import link_from, login
from tests.support import SmtpSink, body

CUSTOMER = "青山医院"
CONTACT = "zhou@qingshan-hospital.example"
PHONE = {"width": 390, "height": 844}
DOCS = Path(__file__).resolve().parents[2] / "docs"


def wait_for_mail(smtp: SmtpSink, subject_part: str, count: int = 1, timeout: float = 10) -> str:
    """The body of the `count`-th mail to the contact whose subject contains `subject_part`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m, s in zip(smtp.to(CONTACT), smtp.subjects(CONTACT), strict=True) if subject_part in s]
        if len(found) >= count:
            return body(found[count - 1])
        time.sleep(0.1)
    raise AssertionError(f"no mail #{count} {subject_part!r}; got {smtp.subjects(CONTACT)}")


def work_on(page: Page, ticket_url: str, task_title: str) -> None:
    """Open the ticket and its open task `task_title`."""
    page.goto(ticket_url)
    page.click(f".open-tasks a:has-text(\"{task_title}\")")


def submit(page: Page) -> None:
    page.click("button[type=submit]")
    expect(page.locator(".notice.ok")).to_be_visible()


def test_quote_counter_offered_then_accepted_from_the_emails(page: Page, browser: Browser, live_url: str,
                                                             smtp: SmtpSink, facade: Aftercare) -> None:
    login(page, live_url, "service_desk")
    page.click("text=新建工单")
    page.select_option("#customer", CUSTOMER)
    page.check("input[name=channel][value=phone]")
    page.fill("#contact_name", "周主任")
    page.fill("#contact_email", CONTACT)
    page.fill("#title", "新增科室月度统计报表")
    page.fill("#description", "希望按科室统计门诊量与收入，每月导出")
    page.click("button[type=submit]")
    expect(page.locator(".ticket-head h1")).to_contain_text("新增科室月度统计报表")
    ticket_url = page.url.split("?")[0]
    work_on(page, ticket_url, "分类定级")
    page.check("input[name=category][value=change]")
    submit(page)

    login(page, live_url, "product")
    work_on(page, ticket_url, "需求评估")
    page.check("input[name=change_kind][value=enhancement]")
    page.fill("#f-change_scope", "新增按科室统计的月度报表，支持导出 Excel")
    page.fill("#f-effort_days", "5")
    page.fill("#f-change_impact", "仅影响报表模块")
    page.fill("#f-affected_modules", "报表, 统计")
    page.check("input[name=assessment_decision][value=implement]")
    page.fill("#f-assessment_answer", "可以实施，属于功能增强")
    submit(page)
    expect(page.locator(".timeline")).to_contain_text("已过质保期")  # entitlement: paid, and why

    login(page, live_url, "manager")
    work_on(page, ticket_url, "编制报价")
    expect(page.locator("#f-quote_validity_days")).to_have_value("14")  # the form's default
    page.fill("#f-quote_items-0-description", "月度统计报表开发")
    page.fill("#f-quote_items-0-quantity", "5")
    page.fill("#f-quote_items-0-unit_price", "2000")
    page.fill("#f-quote_items-1-description", "上线部署与培训")
    page.fill("#f-quote_items-1-unit_price", "1500")
    expect(page.locator(".rows-total")).to_have_text("合计: ¥11,500.00")  # the running total as you type
    rows = page.locator("fieldset[data-rows] .row")
    count = rows.count()
    page.click("fieldset[data-rows] .add-row")
    expect(rows).to_have_count(count + 1)
    page.fill(f"#f-quote_items-{count}-description", "差旅")
    page.fill(f"#f-quote_items-{count}-unit_price", "500")
    expect(page.locator(".rows-total")).to_have_text("合计: ¥12,000.00")
    page.fill(f"#f-quote_items-{count}-unit_price", "")  # an emptied added row is ignored like any empty row
    page.fill(f"#f-quote_items-{count}-description", "")
    page.fill("#f-quote_note", "价格含税，报表开发按人天计。")
    submit(page)

    mail = wait_for_mail(smtp, "报价")
    assert "月度统计报表开发" in mail and "合计：CNY 11,500.00" in mail
    phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
    phone.goto(link_from(mail))
    quote = phone.locator("#quote")
    expect(quote).to_contain_text("第 1 轮")
    expect(quote).to_contain_text("5 × ¥2,000.00")
    expect(quote).to_contain_text("上线部署与培训")
    expect(quote).to_contain_text("已过质保期 Warranty has ended")
    expect(phone.locator("#quote-total")).to_have_text("¥11,500.00")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing overflows sideways
    phone.check("input[name=quote_decision][value=counter]")
    phone.click("button[type=submit]")  # a counter-offer without a note: the field error shows
    expect(phone.locator("#err-counter_offer")).to_be_visible()
    phone.fill("#f-counter_offer", "培训我们自己安排，开发按 4 人天")
    phone.click("button[type=submit]")
    expect(phone.locator(".notice.ok")).to_be_visible()

    work_on(page, ticket_url, "编制报价")  # round 2 starts from round 1's items
    expect(page.locator("#f-quote_items-0-description")).to_have_value("月度统计报表开发")
    expect(page.locator("#f-quote_items-0-quantity")).to_have_value("5")
    expect(page.locator("#f-quote_items-1-description")).to_have_value("上线部署与培训")
    page.fill("#f-quote_items-0-quantity", "4")
    for cell in ("description", "quantity", "unit_price"):
        page.fill(f"#f-quote_items-1-{cell}", "")
    expect(page.locator("#f-quote_note")).to_have_value("")  # last round's note is not carried over silently
    page.fill("#f-quote_note", "按您的意见去掉培训，开发按 4 人天，价格含税。")
    submit(page)

    mail = wait_for_mail(smtp, "报价", count=2)
    assert "合计：CNY 8,000.00" in mail and "上线部署与培训" not in mail
    phone.goto(link_from(mail))
    expect(quote).to_contain_text("第 2 轮")
    expect(quote).to_contain_text("培训我们自己安排，开发按 4 人天")  # the counter-offer this round answers
    expect(phone.locator("#quote-total")).to_have_text("¥8,000.00")
    expect(quote).to_contain_text("按您的意见去掉培训")
    phone.screenshot(path=str(DOCS / "customer-quote.png"), full_page=True)
    phone.check("input[name=quote_decision][value=accept]")
    phone.click("button[type=submit]")
    expect(phone.locator(".notice.ok")).to_be_visible()

    work_on(page, ticket_url, "排期")
    page.fill("#f-planned_start", "2026-12-01")
    page.fill("#f-planned_end", "2026-12-04")
    page.select_option("#f-change_engineer", "engineer")
    submit(page)

    login(page, live_url, "engineer")
    page.goto(f"{live_url}/?view=mine")  # scheduled to this engineer by name
    page.get_by_role("link", name=re.compile("实施变更")).first.click()
    page.fill("#f-resolution", "月度科室统计报表已上线，可在报表菜单导出")
    page.fill("#f-release_version", "3.4.1")
    submit(page)

    phone.goto(link_from(wait_for_mail(smtp, "验收")))
    expect(phone.locator(".work")).to_contain_text("月度科室统计报表已上线")
    phone.check("input[name=accepted][value=true]")
    phone.click("button[type=submit]")
    expect(phone.locator(".notice.ok")).to_be_visible()

    login(page, live_url, "manager")
    page.goto(ticket_url)
    expect(page.locator(".timeline li.ev-quote_prepared")).to_have_count(2)
    expect(page.locator(".timeline li.ev-quote_counter_offer")).to_contain_text("培训我们自己安排")
    expect(page.locator(".timeline li.ev-quote_accepted")).to_have_count(1)
    expect(page.locator(".open-tasks")).to_contain_text("回访")
    ticket_id = int(ticket_url.rsplit("/", 1)[1])
    ticket = facade.get_ticket(ticket_id=ticket_id, actor=facade.actor(username="admin"))
    assert ticket["accepted_at"] and ticket["status"] == "callback"
