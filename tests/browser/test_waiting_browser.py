"""An engineer asks the customer a question from the task page; the clock pauses; the customer answers from the
e-mailed link on a phone; the engineer's task is back with the clock running again."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.browser.conftest import link_from, login, wait_for_mail
from tests.support import Desk, SmtpSink

CONTACT = "wang@demo-customer.example"
PHONE = {"width": 390, "height": 844}
QUESTION = "请提供报错时的系统版本号。"



def test_question_pauses_the_clock_and_the_answer_brings_the_task_back(
        page: Page, browser: Browser, live_url: str, smtp: SmtpSink, facade: Aftercare, clock: FakeClock) -> None:
    clock.set(datetime(2026, 11, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    desk = Desk(facade, clock)
    tid = desk.create()
    desk.triage(tid, severity=3)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "登录服务报错"})

    login(page, live_url, "engineer")
    page.goto(f"{live_url}/?view=all")
    page.get_by_role("link", name=re.compile("故障处理")).first.click()
    page.check("input[name=outcome][value=ask_customer]")
    page.fill("#f-question", QUESTION)
    page.click("button[type=submit]")
    expect(page.locator(".notice.ok")).to_be_visible()

    clock.advance(hours=2)
    page.goto(f"{live_url}/tickets/{tid}")
    expect(page.locator("body")).to_contain_text("等待客户")
    expect(page.locator("#sla-paused-badge")).to_have_text("已暂停")
    expect(page.locator("#sla-paused")).to_contain_text("2.0 小时")
    expect(page.locator("body")).to_contain_text(QUESTION)  # in the conversation

    phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
    mail = wait_for_mail(smtp, CONTACT, "请答复我们的问题")
    assert QUESTION in mail
    status_link = re.search(r"http://\S+/s/\S+", mail)
    assert status_link, mail
    phone.goto(status_link.group(0))  # the status page shows the question and the paused clock
    expect(phone.locator("#our-question")).to_contain_text(QUESTION)
    expect(phone.locator("#clock-paused")).to_be_visible()
    phone.goto(link_from(mail))
    expect(phone.locator("#our-question")).to_contain_text(QUESTION)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.fill("textarea[name=customer_answer]", "版本 5.2.1")
    phone.click("button[type=submit]")
    expect(phone.locator(".notice.ok")).to_be_visible()
    phone.context.close()

    page.goto(f"{live_url}/tickets/{tid}")
    expect(page.locator(".open-tasks")).to_contain_text("故障处理")
    expect(page.locator("#sla-paused-badge")).to_have_count(0)
    expect(page.locator("#sla-paused")).to_contain_text("2.0 小时")
    expect(page.locator("body")).to_contain_text("版本 5.2.1")
    page.click(".open-tasks a:has-text(\"故障处理\")")  # the task shows the question and the answer
    expect(page.locator("body")).to_contain_text("客户答复")
    expect(page.locator("body")).to_contain_text("版本 5.2.1")
    ticket = facade.get_ticket(ticket_id=tid, actor=facade.actor(username="admin"))
    assert ticket["status"] == "in_progress" and ticket["sla"]["paused_seconds"] == 2 * 3600
