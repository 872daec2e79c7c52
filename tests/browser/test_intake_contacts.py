"""The intake form suggests the chosen customer's contacts: picking one fills in the e-mail and phone (what the desk
typed itself stays), and the ticket is logged with them."""
from __future__ import annotations

from playwright.sync_api import Page, expect

from engine.commands import Aftercare
from tests.browser.conftest import login


def test_picking_a_known_contact_fills_in_the_address_and_phone(page: Page, live_url: str,
                                                                 facade: Aftercare) -> None:
    login(page, live_url, "service_desk")
    page.goto(f"{live_url}/intake")
    page.select_option("#customer", label="青山医院")
    expect(page.locator("#known-contacts option[value='信息科 李工']")).to_be_attached()
    page.fill("#contact_phone", "13900000000")  # typed by the desk before choosing the name: kept
    page.fill("#contact_name", "信息科 李工")
    expect(page.locator("#contact_email")).to_have_value("li@qingshan-hospital.example")
    expect(page.locator("#contact_phone")).to_have_value("13900000000")
    page.fill("#contact_phone", "")
    page.fill("#contact_name", "信息科")  # another known contact: the address follows, the emptied phone is filled
    expect(page.locator("#contact_email")).to_have_value("it@qingshan-hospital.example")
    expect(page.locator("#contact_phone")).to_have_value("0591-8756 1100")
    page.select_option("#customer", label="Demo Customer")  # another customer: its own contacts only
    expect(page.locator("#known-contacts option[value='信息科 李工']")).to_have_count(0)
    expect(page.locator("#contact_email")).to_have_value("")  # the hospital contact's address is taken back
    page.select_option("#customer", label="青山医院")
    expect(page.locator("#contact_email")).to_have_value("it@qingshan-hospital.example")  # 信息科 is known here
    page.fill("#title", "PACS 调阅慢")
    page.fill("#description", "影像打开需 30 秒")
    page.get_by_role("button", name="创建工单").click()
    page.wait_for_url(f"{live_url}/tickets/*")
    ticket_id = int(page.url.rsplit("/", 1)[1])
    ticket = facade.get_ticket(ticket_id=ticket_id, actor=facade.actor(username="admin"))
    assert (ticket["contact_name"], ticket["contact_email"], ticket["contact_phone"]) == (
        "信息科", "it@qingshan-hospital.example", "0591-8756 1100")
