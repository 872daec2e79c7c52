"""A customer's contact asks for a sign-in link on a 390 px phone, opens it from the e-mail and follows their
organisation's ticket, conversation and pending step, in a real browser with real mail."""
from __future__ import annotations

import re
import time

from playwright.sync_api import Browser, Page, expect

from engine.commands import Aftercare
from tests.support import SmtpSink, body

CONTACT = "wang@demo-customer.example"
PHONE = {"width": 390, "height": 844}


def sign_in_link(smtp: SmtpSink, address: str, timeout: float = 10) -> str:
    """The sign-in link of the newest mail to `address` that carries one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in reversed(smtp.to(address)):
            found = re.search(r"http://\S+/my/in/\S+", body(message))
            if found:
                return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no sign-in mail to {address}; got {smtp.subjects(address)}")


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_contact_signs_in_from_the_email_and_follows_the_organisations_ticket_on_a_phone(
        browser: Browser, live_url: str, smtp: SmtpSink, facade: Aftercare) -> None:
    desk = facade.actor(username="service_desk")
    ours = facade.create_ticket(customer="Demo Customer", contact_name="IT 部",
                                contact_email="it@demo-customer.example", channel="phone", title="月结报表导出超时",
                                description="导出 12 月报表时超时", actor=desk)
    facade.create_ticket(customer="青山医院", contact_name="信息科", contact_email="it@qingshan-hospital.example",
                         channel="phone", title="挂号机无法打印", description="打印机脱机", actor=desk)
    facade.post_message(ticket_id=ours["id"], body="已定位到慢查询，今晚维护窗口处理。", internal=False,
                        actor=facade.actor(username="engineer"))
    facade.post_message(ticket_id=ours["id"], body="NOTE-FOR-STAFF 需要加索引", internal=True,
                        actor=facade.actor(username="engineer"))

    phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
    phone.goto(f"{live_url}/my")
    expect(phone.locator("h1")).to_have_text("我的工单")
    no_sideways_scroll(phone)
    phone.fill("#email", CONTACT)
    phone.click("button[type=submit]")
    expect(phone.locator("#sent")).to_contain_text("登录链接已发往该邮箱")

    phone.goto(sign_in_link(smtp, CONTACT))
    expect(phone.locator("#who")).to_contain_text("Demo Customer")
    expect(phone.locator(".my-tickets")).to_contain_text("月结报表导出超时")
    expect(phone.locator(".my-tickets")).not_to_contain_text("挂号机无法打印")
    no_sideways_scroll(phone)
    phone.click("text=月结报表导出超时")
    expect(phone.locator("#conversation")).to_contain_text("已定位到慢查询，今晚维护窗口处理。")
    expect(phone.locator("#conversation")).to_contain_text("服务台")
    expect(phone.locator("body")).not_to_contain_text("NOTE-FOR-STAFF")
    expect(phone.locator("#status")).to_have_text("待分类")
    no_sideways_scroll(phone)
    phone.click("text=English")
    expect(phone.locator("#status")).to_have_text("Awaiting triage")
    phone.context.close()
