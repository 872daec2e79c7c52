"""The SLA table in the process owner's workbench: a cell of the dmn-js table edited by typing, the what-if replay
over past tickets, and a deploy after which a newly triaged ticket gets the new resolve time."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import APIRequestContext, Page, expect

from engine.clock import FakeClock
from tests.browser.conftest import login

DOCS = Path(__file__).resolve().parents[2] / "docs"
RESOLVE_L2 = '[data-element-id="sla_rule_9_out_2"]'  # fault, severity 2, any tier: resolve within "PT24H"


class Api:
    """The JSON API as a user with a bearer token, through the browser context's request client."""

    def __init__(self, request: APIRequestContext, base: str, username: str) -> None:
        self.request, self.base = request, base
        answer = request.post(f"{base}/api/token", form={"username": username, "password": "demo"})
        assert answer.ok, answer.text()
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def get(self, path: str) -> Any:
        answer = self.request.get(f"{self.base}{path}", headers=self.headers)
        assert answer.ok, answer.text()
        return answer.json()

    def post(self, path: str, data: dict[str, Any]) -> Any:
        answer = self.request.post(f"{self.base}{path}", data=data, headers=self.headers)
        assert answer.ok, answer.text()
        return answer.json()


def triaged_fault(api: Api, title: str) -> int:
    """A ticket logged through the API and triaged as a remote severity-2 fault; its id."""
    ticket = api.post("/api/tickets", {"customer": "Demo Customer", "contact_name": "王工", "channel": "phone",
                                       "contact_email": "wang@demo-customer.example", "title": title,
                                       "description": "部分用户无法导出报表"})
    [triage] = api.get(f"/api/tasks?ticket_id={ticket['id']}")
    api.post(f"/api/tasks/{triage['id']}/complete", {"data": {"category": "fault", "severity": 2, "onsite": False}})
    return int(ticket["id"])


def wait_for_breach(api: Api, ticket_id: int, kind: str, timeout: float = 10) -> None:
    """Until the app's scheduler has recorded the ticket's `kind` breach."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if kind in [b["kind"] for b in api.get(f"/api/tickets/{ticket_id}")["sla"]["breaches"]]:
            return
        time.sleep(0.1)
    raise AssertionError(f"no {kind} breach recorded on ticket {ticket_id}")


def resolve_hours(api: Api, ticket_id: int) -> float:
    """Hours from the ticket's creation to its resolve deadline, as GET /api/tickets/{id} shows them."""
    ticket = api.get(f"/api/tickets/{ticket_id}")
    due, created = datetime.fromisoformat(ticket["sla"]["resolve_due"]), datetime.fromisoformat(ticket["created_at"])
    return (due - created) / timedelta(hours=1)


def test_resolve_time_edited_in_the_table_replayed_and_deployed(page: Page, live_url: str, clock: FakeClock) -> None:
    desk, engineer = Api(page.request, live_url, "service_desk"), Api(page.request, live_url, "engineer")
    before = triaged_fault(desk, "报表导出失败")
    assert resolve_hours(desk, before) == 24
    [response] = engineer.get(f"/api/tasks?ticket_id={before}")
    engineer.post(f"/api/tasks/{response['id']}/complete",
                  {"data": {"contact_made": True, "diagnosis": "导出服务内存不足", "plan": "扩容后观察"}})
    clock.advance(hours=30)  # answered in time, still open after 30 h: the 24 h resolve time is breached
    wait_for_breach(desk, before, "resolve")

    login(page, live_url, "process_owner")
    page.locator("details.nav-more summary").click()  # the header's administration menu
    page.get_by_role("link", name="流程", exact=True).click()
    page.get_by_role("link", name="SLA 时限表与假设回放").click()
    expect(page).to_have_url(f"{live_url}/workbench/sla")
    expect(page.locator("#table[data-ready=true]")).to_be_attached()
    cell = page.locator(f"{RESOLVE_L2} .content-editable")  # while it has focus, a FEEL editor shows over it
    expect(cell).to_have_text('"PT24H"')
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type('"PT48H"')
    expect(cell).to_have_text('"PT48H"')

    page.get_by_role("button", name="回放").click()
    replay = page.locator("#replay")
    expect(replay.locator(".summary")).to_have_text(
        "近 30 天共 1 张工单（0 张未分诊，不计）：实际超时 1 张，按此表将超时 0 张。")
    row = replay.locator("tbody tr", has_text="故障")
    expect(row.locator("td")).to_have_text(["故障", "2", "标准合同", "1", "2 小时", "48 小时", "7×24 全天候",
                                            "1", "0"])
    expect(row.locator("td").last).to_have_class("ok")  # fewer breaches under the edited table: green
    page.fill("input[name=note]", "二级故障解决时限放宽到 48 小时")
    page.screenshot(path=str(DOCS / "workbench-sla.png"), full_page=True)

    page.get_by_role("button", name="部署").click()
    expect(page.locator(".wb-status")).to_have_text("已部署：maintenance_request v2")
    expect(page.locator(".wb-status")).to_have_class("wb-status ok")

    after = triaged_fault(desk, "报表导出仍然失败")
    assert resolve_hours(desk, after) == 48
    assert resolve_hours(desk, before) == 24  # a ticket already triaged keeps its deadline

    page.goto(f"{live_url}/workbench/processes/maintenance_request")
    versions = page.locator("#versions tbody tr")
    expect(versions.first).to_contain_text("二级故障解决时限放宽到 48 小时")
    expect(versions.first.locator("td").first).to_have_text("v2")
