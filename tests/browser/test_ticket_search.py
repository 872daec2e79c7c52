"""The desk finds a ticket from the search box of any page, in a real Chromium; the list fits a phone."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, expect

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.browser.conftest import login
from tests.support import Desk


def test_desk_types_chinese_in_the_box_and_finds_the_ticket(page: Page, live_url: str, facade: Aftercare,
                                                           clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    wanted = desk.create(title="系统无法登录")
    desk.create(title="打印机卡纸", customer="青山医院", description="门诊二楼的打印机")
    number = desk.ticket(wanted)["number"]
    login(page, live_url, "service_desk")
    page.get_by_role("searchbox", name="搜索工单").fill("登录")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_url}/tickets?q=*")
    rows = page.locator("table.ticket-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("系统无法登录")
    rows.first.get_by_role("link", name=number).click()
    page.wait_for_url(f"{live_url}/tickets/{wanted}")
    expect(page.get_by_role("heading", name=f"{number} · 系统无法登录")).to_be_visible()
    page.get_by_role("searchbox", name="搜索工单").fill(number)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_url}/tickets/{wanted}")


def test_skip_link_leads_to_the_content(page: Page, live_url: str) -> None:
    login(page, live_url, "engineer")
    page.goto(f"{live_url}/tickets")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="跳到正文")
    expect(skip).to_be_focused()
    skip.press("Enter")
    expect(page.locator("main#main")).to_be_focused()


def test_the_ticket_list_fits_a_phone(browser: Browser, live_url: str, facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    for n in range(3):
        desk.create(title=f"很长的工单标题，描述一个相当复杂的故障现象，第 {n} 号", customer="华东电网信息中心")
    with manager_on_a_phone(browser, live_url, "zh-CN") as phone:
        phone.goto(f"{live_url}/tickets?sort=number")
        expect(phone.locator("table.ticket-list tbody tr")).to_have_count(3)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
        expect(phone.get_by_role("searchbox", name="搜索工单")).to_be_visible()
        expect(phone.get_by_label("状态")).to_be_visible()


def test_a_tickets_facts_read_on_a_phone(browser: Browser, live_url: str, facade: Aftercare, clock: FakeClock) -> None:
    """On a phone each fact's label stands above its value, so the contact's address and the status-page link get
    the card's width (beside a long label they wrapped a letter a line), and the file input stays inside its card."""
    desk = Desk(facade, clock)
    ticket_id = desk.create(title="报表导出失败", customer="华东电网信息中心")
    with manager_on_a_phone(browser, live_url, "en-US") as phone:
        phone.goto(f"{live_url}/tickets/{ticket_id}?lang=en")
        facts = phone.locator("dl.facts")
        card = facts.bounding_box()
        assert card is not None
        for value in facts.locator("dd").all():
            box = value.bounding_box()
            assert box is not None and box["width"] >= card["width"] - 2, \
                f"a value is {box and box['width']:.0f} px wide in a {card['width']:.0f} px card"
        upload = phone.locator("#attachment-file").bounding_box()
        form = phone.locator("form[data-attach]").bounding_box()
        assert upload is not None and form is not None and upload["x"] + upload["width"] <= form["x"] + form["width"]
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390


@contextmanager
def manager_on_a_phone(browser: Browser, live_url: str, locale: str) -> Iterator[Page]:
    """A 390 px touch phone in `locale` with the manager logged in."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale=locale, is_mobile=True,
                                  has_touch=True)
    try:
        phone = context.new_page()
        login(phone, live_url, "manager")
        yield phone
    finally:
        context.close()
