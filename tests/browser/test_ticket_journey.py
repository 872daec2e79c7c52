"""A ticket from intake to archive in a real browser, with the customer acting from real e-mails on a phone."""
from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from engine.commands import Aftercare
from tests.browser.conftest import link_from, login, on_both_databases, wait_for_mail
from tests.support import SmtpSink

CONTACT = "chen@demo-customer.example"
PHONE = {"width": 390, "height": 844}



def open_task(page: Page, base: str, title: str) -> None:
    page.goto(f"{base}/?view=all")
    page.get_by_role("link", name=re.compile(title)).first.click()


@on_both_databases
def test_ticket_from_intake_to_archive(page: Page, browser: Browser, live_url: str, smtp: SmtpSink,
                                       facade: Aftercare) -> None:
    login(page, live_url, "service_desk")
    page.click("text=新建工单")
    page.select_option("#customer", "Demo Customer")
    page.check("input[name=channel][value=phone]")
    page.fill("#contact_name", "陈工")
    page.fill("#contact_email", CONTACT)
    page.fill("#title", "审批流程卡住")
    page.fill("#description", "提交审批后一直显示处理中")
    page.click("button[type=submit]")
    expect(page.locator(".ticket-head h1")).to_contain_text("审批流程卡住")
    number = page.locator(".ticket-head h1").inner_text().split(" ")[0]
    assert number in wait_for_mail(smtp, CONTACT, number)

    page.click(".open-tasks a:has-text(\"分类定级\")")
    page.check("input[name=category][value=fault]")
    page.check("input[name=severity][value='3']")
    page.click("button[type=submit]")  # on-site/remote forgotten: the field error shows, the input stays
    expect(page.locator("#err-onsite")).to_be_visible()
    expect(page.locator("input[name=category][value=fault]")).to_be_checked()
    page.check("input[name=onsite][value=false]")
    page.click("button[type=submit]")
    expect(page.locator(".notice.ok")).to_be_visible()

    login(page, live_url, "engineer")
    open_task(page, live_url, "故障响应")
    page.check("input[name=contact_made][value=true]")
    page.fill("#f-diagnosis", "审批服务队列积压")
    page.click("button[type=submit]")
    open_task(page, live_url, "故障处理")
    page.fill("#f-resolution", "清理积压队列并修复重试逻辑")
    page.check("input[name=outcome][value=resolved]")
    page.click("button[type=submit]")
    expect(page.locator(".notice.ok")).to_be_visible()

    phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
    phone.goto(link_from(wait_for_mail(smtp, CONTACT, "验收")))
    expect(phone.locator("text=清理积压队列并修复重试逻辑")).to_be_visible()  # the customer sees what was done
    phone.check("input[name=accepted][value=true]")
    phone.click("button[type=submit]")
    expect(phone.locator(".notice.ok")).to_be_visible()
    phone.goto(link_from(wait_for_mail(smtp, CONTACT, "打分")))  # the first score link in the mail: 5, then one tap
    expect(phone.locator("input[name=score][value='5']")).to_be_checked()
    phone.click("button:has-text('确认评分')")
    expect(phone.locator(".notice.ok")).to_contain_text("5")
    assert facade.get_ticket(ticket_id=1, actor=facade.actor(username="admin"))["survey_score"] == 5
    phone.fill("#comment", "处理及时")
    phone.click("button[type=submit]")
    expect(phone.locator(".notice.ok")).to_be_visible()

    login(page, live_url, "service_desk")
    open_task(page, live_url, "回访")
    page.check("input[name=recurred][value=false]")
    page.check("input[name=satisfaction][value='5']")
    page.click("button[type=submit]")
    expect(page.locator(".facts")).to_contain_text("已归档")
    expect(page.locator(".timeline")).to_contain_text("客户验收")
    expect(page.locator("#diagram[data-ready=true]")).to_be_attached()
    assert page.locator("#diagram .mark-done").count() > 5


@on_both_databases
def test_a_second_tab_completing_the_same_task_is_told(page: Page, live_url: str, facade: Aftercare) -> None:
    login(page, live_url, "service_desk")
    page.click("text=新建工单")
    page.fill("#contact_name", "林")
    page.fill("#contact_email", "lin@demo-customer.example")
    page.fill("#title", "两个标签页")
    page.click("button[type=submit]")
    page.click(".open-tasks a:has-text(\"分类定级\")")
    second = page.context.new_page()
    second.goto(page.url)
    for tab in (page, second):
        tab.check("input[name=category][value=question]")
    page.click("button[type=submit]")
    expect(page.locator(".notice.ok")).to_be_visible()
    second.click("button[type=submit]")
    expect(second.locator(".notice.bad")).to_contain_text("已被他人完成")


def test_pages_need_a_login_and_switch_language(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/intake")
    expect(page).to_have_url(re.compile(r"/login\?next=/intake"))
    page.fill("#username", "engineer")
    page.fill("#password", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".notice.bad")).to_contain_text("用户名或密码错误")
    login(page, live_url, "engineer")
    page.click("text=English")
    expect(page.locator("header nav")).to_contain_text("Tasks")
    page.goto(f"{live_url}/")
    expect(page.locator("header nav")).to_contain_text("Tasks")  # remembered
