"""A process owner finds a parked case on the incidents page (from the Administration menu and from the e-mail
notice), sees the element and the error, fixes the diagram and retries it, in Chinese and in English, also on a
phone; the ticket page shows the banner while the case is parked."""
from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.users import Actor
from tests.browser.conftest import login, wait_for_mail
from tests.fixtures.incidents.diagrams import limited, start
from tests.support import SmtpSink

pytestmark = pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second

OWNER = Actor("process_owner", "process_owner")
PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize(("lang", "title", "retry", "ran"), [
    ("zh-CN", "流程异常", "重试", "工单流程已恢复运行。"),
    ("en", "Incidents", "Retry", "The case runs again."),
])
def test_the_process_owner_retries_a_parked_case_after_a_fix(
        page: Page, browser: Browser, live_url: str, smtp: SmtpSink, facade: Aftercare, clock: FakeClock,
        lang: str, title: str, retry: str, ran: str) -> None:
    facade.deploy(files=limited("while True:\n    pass"), actor=OWNER)
    ticket_id = start(facade)
    clock.advance(hours=2)  # the live worker fires the timer: the script loops, the case is parked
    mail = wait_for_mail(smtp, "process_owner@aftercare.example", "[AC-")
    assert "calc" in mail and "CPU time" in mail and "/incidents" in mail

    login(page, live_url, "process_owner")
    page.goto(f"{live_url}/?lang={lang}")
    page.locator("details.nav-more summary").click()
    page.get_by_role("link", name=title, exact=True).click()
    page.wait_for_url(f"{live_url}/incidents")
    card = page.locator(".incident")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("calc")
    expect(card).to_contain_text("CPU time over 0.2 s")

    page.goto(f"{live_url}/tickets/{ticket_id}")
    expect(page.locator("#incident-banner")).to_contain_text("calc")

    created = facade.deploy(files=limited("x = 42"), actor=OWNER)
    fixed = next(c["version"] for c in created if c["process_id"] == "limited")
    phone = browser.new_context(viewport=PHONE, is_mobile=True).new_page()
    login(phone, live_url, "process_owner")
    phone.goto(f"{live_url}/incidents?lang={lang}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.locator(".incident input[name=to_version]").fill(str(fixed))
    phone.get_by_role("button", name=retry).click()
    expect(phone.locator("#retry-outcome")).to_have_text(ran)
    expect(phone.locator("#no-incidents")).to_be_visible()
    phone.goto(f"{live_url}/tickets/{ticket_id}")
    expect(phone.locator("#incident-banner")).to_have_count(0)
    phone.context.close()
    assert facade.list_incidents(actor=OWNER) == []
