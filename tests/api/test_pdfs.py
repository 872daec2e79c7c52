"""Service documents as PDF: the change and extension development service form of a real change request, from
the staff route, and the system inspection report; both read back with pypdf."""
from __future__ import annotations

import re
from datetime import datetime
from io import BytesIO
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from api.pdf import change_service_form_pdf, inspection_report_pdf
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import NotFound
from tests.engine.test_change_request import HOSPITAL, assessment
from tests.support import Desk, complete_as_customer

ITEMS = [{"description": "科室月度报表开发", "quantity": 5, "unit_price": 2000},
         {"description": "上线部署与培训 Deployment and training", "unit_price": 1500.5}]
TOTAL = "11,500.50"  # 5 × 2,000 + 1 × 1,500.50
REPORT: dict[str, Any] = {
    "number": "XJ-2026-000007", "customer": "华东电网信息中心", "contract_number": "HT-2026-003",
    "due_at": "2026-11-24T01:00:00+00:00", "engineer": "engineer", "visit_date": "2026-11-26",
    "checklist": {"server_status": "warning", "cpu_usage": 72.5, "memory_usage": 64, "disk_usage": 92,
                  "backup_ok": True, "last_restore_test": "2026-10-12", "function_stability": "minor_issues",
                  "security_patches": "pending", "patch_notes": "KB5031234 待下次维护窗口安装"},
    "risks": [{"description": "数据盘使用率 92%，按当前增长约六周后写满", "severity": "high",
               "recommendation": "扩容数据盘至 2 TB 并归档历史数据", "action_needed": True,
               "ticket_number": "AC-2026-000012"},
              {"description": "报表服务偶发超时 Report service times out now and then", "severity": "low",
               "recommendation": "调整连接池大小", "action_needed": False, "ticket_number": None}],
    "summary": "系统总体运行稳定，需尽快扩容数据盘。", "signed_by": "周主任", "signed_at": "2026-11-27T02:30:00+00:00",
    "signoff_comment": "同意，请尽快安排扩容。", "status": "archived"}


def pdf_text(content: bytes) -> str:
    """The text of every page, whitespace removed: table cells wrap long text anywhere."""
    reader = PdfReader(BytesIO(content))
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def staff_login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match
    response = client.post("/login", data={"username": username, "password": "demo", "csrf": match.group(1),
                                           "next": "/"}, follow_redirects=False)
    assert response.status_code == 303


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def _change(desk: Desk, **overrides: str) -> int:
    tid = desk.create(**{"title": "新增科室月度报表", "description": "希望增加按科室统计的月度报表，按月导出 Excel",
                         **overrides})
    desk.triage(tid, category="change")
    return tid


def _paid_change_accepted(desk: Desk, facade: Aftercare) -> int:
    """A paid enhancement for 青山医院 (warranty ended): quoted, accepted, scheduled, made, accepted, archived."""
    tid = _change(desk, **HOSPITAL)
    desk.complete(tid, "change_assessment", assessment("enhancement", effort=5))
    desk.complete(tid, "prepare_quote", {"quote_items": ITEMS, "quote_validity_days": 10, "quote_note": "含税"})
    complete_as_customer(facade, tid, {"quote_decision": "accept"})
    desk.complete(tid, "schedule_change", {"planned_start": "2026-12-01", "planned_end": "2026-12-04",
                                           "change_engineer": "engineer"})
    desk.complete(tid, "implement_change", {"resolution": "已按要求开发并上线科室月度报表", "release_version": "3.4.1"})
    complete_as_customer(facade, tid, {"accepted": True})
    desk.complete(tid, "callback", {"recurred": False, "satisfaction": 5})
    assert desk.ticket(tid)["status"] == "archived"
    return tid


def test_the_change_form_record_follows_the_case(desk: Desk, facade: Aftercare) -> None:
    tid = _paid_change_accepted(desk, facade)
    record = facade.change_form(ticket_id=tid, actor=desk.actor("engineer"))
    assert record["customer"] == "青山医院" and record["contract_number"]
    assert record["assessment"]["change_kind"] == "enhancement" and record["assessment"]["effort_days"] == 5
    assert record["entitlement"] == {"charge": "paid", "reason": "已过质保期 Warranty has ended"}
    quote = record["quote"]
    assert [(i["description"], i["quantity"], i["unit_price"], i["amount"]) for i in quote["items"]] == [
        ("科室月度报表开发", 5, 2000, 10000), ("上线部署与培训 Deployment and training", 1, 1500.5, 1500.5)]
    assert (quote["total"], quote["currency"], quote["rounds"], quote["outcome"]) == (11500.5, "CNY", 1, "accepted")
    assert quote["accepted_at"] and quote["valid_until"] and quote["decided_by"] == "李工"
    assert record["schedule"]["engineer"] == "engineer" and record["implementation"]["version"] == "3.4.1"
    assert record["acceptance"]["outcome"] == "accepted" and record["acceptance"]["by"] == "李工"
    assert record["archived_at"] and record["not_pursued"] is None


def test_change_service_form_pdf_over_http(client: TestClient, desk: Desk, facade: Aftercare) -> None:
    tid = _paid_change_accepted(desk, facade)
    number = desk.ticket(tid)["number"]
    assert client.get(f"/tickets/{tid}/service-form.pdf", follow_redirects=False).status_code == 303  # login first
    staff_login(client, "engineer")
    assert f"/tickets/{tid}/service-form.pdf" in client.get(f"/tickets/{tid}").text
    response = client.get(f"/tickets/{tid}/service-form.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'inline; filename="{number}-service-form.pdf"'
    text = pdf_text(response.content)
    assert "客户需求变更及扩展开发服务单" in text and number in text and "青山医院" in text
    for item in ITEMS:
        assert squeeze(str(item["description"])) in text
    assert f"CNY{TOTAL}" in text and "已接受Accepted" in text
    assert "验收人Acceptedby李工" in text  # the signature block names who accepted
    assert "已过质保期Warrantyhasended" in text and "3.4.1" in text


def test_a_free_change_auto_accepted_has_no_quote(client: TestClient, desk: Desk, facade: Aftercare,
                                                  clock: FakeClock) -> None:
    tid = _change(desk)  # Demo Customer: in warranty, configuration is free
    desk.complete(tid, "change_assessment", assessment("configuration"))
    desk.complete(tid, "schedule_change", {"planned_start": "2026-12-01", "change_engineer": "engineer"})
    desk.complete(tid, "implement_change", {"resolution": "已调整配置"})
    desk.travel_to(datetime(2026, 12, 10, 12, 0, tzinfo=clock.now().tzinfo))  # > 7 working days: auto-accepted
    record = facade.change_form(ticket_id=tid, actor=desk.actor("service_desk"))
    assert record["quote"] is None and record["acceptance"]["outcome"] == "auto_accepted"
    staff_login(client, "service_desk")
    text = pdf_text(client.get(f"/tickets/{tid}/service-form.pdf").content)
    assert "免费服务，无需报价" in text and "自动验收Auto-accepted" in text and "已调整配置" in text


def test_only_change_tickets_have_a_change_form(client: TestClient, desk: Desk, facade: Aftercare) -> None:
    fault = desk.create()
    with pytest.raises(NotFound):
        facade.change_form(ticket_id=fault, actor=desk.actor("engineer"))
    with pytest.raises(NotFound):
        facade.change_form(ticket_id=99999, actor=desk.actor("engineer"))
    staff_login(client, "engineer")
    text = pdf_text(client.get(f"/tickets/{fault}/service-form.pdf").content)  # a fault's: the 故障处理单
    assert "故障处理单" in text and "需求变更" not in text


def test_change_form_with_nothing_recorded_shows_dashes() -> None:
    record = {"number": "AC-2026-000009", "customer": "Demo Customer", "title": "<b>A & B</b>"}
    content = change_service_form_pdf(record)
    text = pdf_text(content)
    assert "AC-2026-000009" in text and "DemoCustomer" in text and "未验收Notacceptedyet" in text and "—" in text
    assert "<b>A&B</b>" in text  # user text is text, not markup


def test_inspection_report_pdf() -> None:
    content = inspection_report_pdf(REPORT)
    reader = PdfReader(BytesIO(content))
    assert reader.pages[0].mediabox.width == pytest.approx(595.28, abs=0.5)  # A4
    text = pdf_text(content)
    assert "系统巡检报告" in text and "华东电网信息中心" in text and "XJ-2026-000007" in text
    for risk in REPORT["risks"]:
        assert squeeze(risk["description"]) in text
    assert "周主任" in text and "2026-11-2710:30" in text  # signed at, Beijing time
    assert "有隐患Warning" in text and "高High" in text and "AC-2026-000012" in text
    assert "未签字" not in text


def test_inspection_report_pdf_with_missing_fields() -> None:
    report = {"number": "XJ-2026-000008", "customer": "青山医院", "contract_number": None,
              "due_at": "2026-11-24T01:00:00+00:00", "engineer": None, "visit_date": None,
              "checklist": {name: None for name in REPORT["checklist"]}, "risks": [], "summary": None,
              "signed_by": None, "signed_at": None, "signoff_comment": None, "status": "planning"}
    text = pdf_text(inspection_report_pdf(report))
    assert "青山医院" in text and "未签字Notsigned" in text and "未发现风险" in text
    assert "未签字" in pdf_text(inspection_report_pdf({"number": "XJ-1", "customer": "X"}))  # fewer keys still
