"""The ticket page draws each called process the case has entered below the main diagram, with its markers."""
from __future__ import annotations

from playwright.sync_api import Page, expect

from engine.commands import Aftercare
from engine.users import Actor
from tests.browser.conftest import login


def test_a_change_request_is_drawn_below_the_main_diagram(page: Page, live_url: str, facade: Aftercare) -> None:
    desk = Actor("service_desk", "service_desk")
    ticket = facade.create_ticket(customer="Demo Customer", contact_name="王工", contact_email="wang@demo.example",
                                  channel="phone", title="新增科室月度报表", description="按科室统计", actor=desk)
    [triage] = facade.list_tasks(actor=Actor("admin", "admin"), ticket_id=ticket["id"])
    facade.complete_task(task_id=triage["id"], data={"category": "change", "severity": 3, "onsite": False}, actor=desk)
    login(page, live_url, "engineer")
    page.goto(f"{live_url}/tickets/{ticket['id']}")
    expect(page.locator("#diagram[data-ready=true]")).to_be_attached()
    expect(page.locator('#diagram [data-element-id="handle_change"].mark-current')).to_be_attached()
    change = page.locator(".called-diagram[data-process=change_request]")
    expect(change.locator(".bpmn-diagram[data-ready=true]")).to_be_attached()
    expect(change.locator("h3")).to_have_text("子流程 · 需求变更 Change request")
    expect(change.locator('[data-element-id="change_assessment"].mark-current')).to_be_attached()
    assert change.locator(".mark-done").count() >= 2
    page.goto(f"{live_url}/tickets/{ticket['id']}?lang=en")
    expect(page.locator(".called-diagram h3")).to_have_text("Called process · 需求变更 Change request")
