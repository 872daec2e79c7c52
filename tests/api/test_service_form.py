"""The fault handling form (故障处理单) of a real fault: the A4 print page and the PDF, from the staff routes."""
from __future__ import annotations

import re
from io import BytesIO

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.api.test_pdfs import pdf_text, squeeze, staff_login
from tests.support import Desk, complete_as_customer

STAFF_ADDRESS = re.compile(r"[a-z_]+@aftercare\.example")


def resolved_fault(desk: Desk, facade: Aftercare) -> int:
    """A severity-2 fault: responded, resolved, rejected once with a reason, reworked, accepted, called back."""
    tid = desk.create(title="门诊收费窗口无法打印发票", description="所有收费窗口点击打印后报错 E1023")
    desk.triage(tid, severity=2)
    desk.clock.advance(minutes=40)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "打印服务进程异常退出",
                                              "plan": "远程重启打印服务并检查日志"})
    desk.clock.advance(hours=3)
    desk.complete(tid, "engineer_resolution", {"resolution": "重启打印服务", "outcome": "resolved",
                                                "fault_type": "interface", "module": "门诊收费"})
    complete_as_customer(facade, tid, {"accepted": False, "reason": "二号窗口仍然无法打印"})
    desk.clock.advance(hours=2)
    desk.complete(tid, "engineer_resolution", {"resolution": "更新二号窗口打印机驱动", "outcome": "resolved",
                                                "root_cause": "驱动版本过旧", "fault_type": "interface",
                                                "module": "门诊收费"})
    complete_as_customer(facade, tid, {"accepted": True, "reason": "已恢复，谢谢"})
    desk.clock.advance(hours=5)
    desk.complete(tid, "callback", {"recurred": False, "satisfaction": 5, "comment": "响应及时"})
    return tid


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def test_the_pdf_is_a_two_page_form_with_the_sla_rows_and_no_staff_address(client: TestClient, desk: Desk,
                                                                           facade: Aftercare) -> None:
    tid = resolved_fault(desk, facade)
    number = desk.ticket(tid)["number"]
    staff_login(client, "engineer")
    response = client.get(f"/tickets/{tid}/service-form.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert f'filename="{number}-fault-form.pdf"' in response.headers["content-disposition"]
    assert 1 <= len(PdfReader(BytesIO(response.content)).pages) <= 2
    text = pdf_text(response.content)
    for expected in ("故障处理单", number, "DemoCustomer", "HT-2025-018", "王工", "门诊收费窗口无法打印发票",
                     "故障Fault", "接口对接Interfaces", "门诊收费",
                     "响应Responded", "解决Resolved", "客户验收Accepted", "回访Callback", "达标Met",
                     "打印服务进程异常退出", "更新二号窗口打印机驱动", "驱动版本过旧", "二号窗口仍然无法打印",
                     "已验收Accepted", "5/5", "响应及时", "服务工程师", "客户确认", "签字Signature"):
        assert squeeze(expected) in text, expected
    assert not STAFF_ADDRESS.search(text)
    assert "wang@demo-customer.example" in text  # the customer's own contact stays


def test_the_print_page_shows_the_same_form_and_is_linked_from_the_ticket(client: TestClient, desk: Desk,
                                                                        facade: Aftercare) -> None:
    tid = resolved_fault(desk, facade)
    staff_login(client, "service_desk")
    ticket_page = client.get(f"/tickets/{tid}")
    assert f'href="/tickets/{tid}/service-form"' in ticket_page.text
    page = client.get(f"/tickets/{tid}/service-form")
    assert page.status_code == 200
    html = page.text
    assert "故障处理单" in html and "Fault Handling Form" in html and desk.ticket(tid)["number"] in html
    assert "二、服务时限" in html and "达标 Met" in html and "驱动版本过旧" in html
    assert f'href="/tickets/{tid}/service-form.pdf"' in html
    assert not STAFF_ADDRESS.search(html.replace("service_desk · ", ""))  # the menu names the user, never mails
    assert 'id="diagram"' not in html


def test_an_open_fault_prints_with_open_clocks_and_empty_signatures(client: TestClient, desk: Desk) -> None:
    tid = desk.create()
    desk.triage(tid, severity=1)
    desk.clock.advance(hours=3)
    desk.facade.fire_due_timers()
    staff_login(client, "engineer")
    text = pdf_text(client.get(f"/tickets/{tid}/service-form.pdf").content)
    assert "超时Missed" in text  # severity 1: the one-hour response deadline passed
    assert "签字Signature:____________________" in text


def test_unknown_ticket_other_procedures_and_login(client: TestClient, desk: Desk) -> None:
    tid = desk.create()
    assert client.get(f"/tickets/{tid}/service-form.pdf", follow_redirects=False).status_code == 303
    assert client.get(f"/tickets/{tid}/service-form", follow_redirects=False).headers["location"].startswith(
        "/login")
    staff_login(client, "engineer")
    assert client.get("/tickets/999999/service-form.pdf").status_code == 404
    missing = client.get("/tickets/999999/service-form")
    assert missing.status_code == 404 and "Tasks" not in missing.text and "任务" in missing.text
