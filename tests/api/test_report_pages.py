"""The monthly service report over HTTP: the figures as JSON and the PDF under /api for every staff role, the
month's list and one report as staff pages, the review task and the report's ticket showing the figures, and the
customer's copy never carrying the internal note."""
from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.effects import ROLES
from tests.api.conftest import login
from tests.api.test_pdfs import pdf_text, staff_login
from tests.conftest import SHANGHAI
from tests.support import Desk

REVIEW = {"analysis": "本月登录故障集中在调度模块。", "measures": "扩容连接池并增加监控。",
          "internal_note": "续约谈判前注意 NOTE-FOR-STAFF-ONLY"}
DEMO = "Demo Customer"


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def _november(desk: Desk, clock: FakeClock) -> int:
    """One severity-2 fault of the demo customer in November; the December scheduler starts the reports."""
    tid = desk.create(title="调度系统登录失败")
    desk.triage(tid, severity=2)
    return tid


def _start_reports(facade: Aftercare, clock: FakeClock) -> dict[str, dict]:
    clock.set(datetime(2026, 12, 1, 9, tzinfo=SHANGHAI))
    assert facade.start_due_reports() == 3
    manager = facade.actor(username="manager")
    return {r["customer"]: r for r in facade.list_monthly_reports(month="2026-11", actor=manager)}


def test_every_staff_role_reads_the_figures_as_json(client: TestClient, desk: Desk, clock: FakeClock) -> None:
    _november(desk, clock)
    for role in ROLES:
        answer = client.get("/api/reports/monthly", params={"customer": DEMO, "month": "2026-11"},
                            headers=login(client, role))
        assert answer.status_code == 200, (role, answer.text)
    figures = answer.json()
    assert figures["month"] == "2026-11" and figures["customer"] == DEMO
    assert figures["tickets"]["opened"] == 1 and {"key": "fault", "count": 1} in figures["by_category"]
    assert set(figures["sla"]) >= {"triage", "response", "resolve"} and "satisfaction" in figures
    everyone = client.get("/api/reports/monthly?month=2026-11", headers=login(client, "engineer")).json()
    assert everyone["customer"] is None and [c["customer"] for c in everyone["customers"]] == [DEMO]
    assert client.get("/api/reports/monthly?month=2026-11").status_code == 401


def test_json_errors_name_the_month_and_the_customer(client: TestClient, clock: FakeClock) -> None:
    headers = login(client, "service_desk")
    bad = client.get("/api/reports/monthly?month=2026-13", headers=headers)
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["month"]
    assert client.get("/api/reports/monthly?month=November", headers=headers).status_code == 422
    unknown = client.get("/api/reports/monthly", params={"customer": "无此客户", "month": "2026-11"}, headers=headers)
    assert unknown.status_code == 404 and "customer" in unknown.json()["detail"]
    default = client.get("/api/reports/monthly", headers=headers).json()  # the previous month in Beijing
    assert default["month"] == "2026-10" and default["customer"] is None
    pdf = client.get("/api/reports/monthly.pdf?customer=无此客户", headers=headers)
    assert pdf.status_code == 404


def test_the_customer_pdf_never_has_the_internal_note(client: TestClient, facade: Aftercare, desk: Desk,
                                                     clock: FakeClock) -> None:
    _november(desk, clock)
    report = _start_reports(facade, clock)[DEMO]
    desk.complete(report["ticket_id"], "review_report", REVIEW)
    headers = login(client, "engineer")
    customer = client.get("/api/reports/monthly.pdf", params={"customer": DEMO, "month": "2026-11"}, headers=headers)
    assert customer.status_code == 200 and customer.headers["content-type"] == "application/pdf"
    assert f"filename*=UTF-8''{quote('月度服务报告-Demo Customer-2026-11.pdf', safe='')}" in \
        customer.headers["content-disposition"]
    text = pdf_text(customer.content)
    assert report["number"] in text and "DemoCustomer" in text and "2026年11月" in text
    assert "本月登录故障集中在调度模块。" in text and "扩容连接池并增加监控。" in text
    assert "NOTE-FOR-STAFF-ONLY" not in text and "内部备注" not in text
    internal = client.get("/api/reports/monthly.pdf",
                          params={"customer": DEMO, "month": "2026-11", "copy": "internal"}, headers=headers)
    assert "NOTE-FOR-STAFF-ONLY" in pdf_text(internal.content)
    assert "%E5%86%85%E9%83%A8" in internal.headers["content-disposition"]  # 内部 in the file name
    assert client.get("/api/reports/monthly.pdf", params={"customer": DEMO}).status_code == 401

    staff_login(client, "service_desk")  # the pages' buttons: the same PDF with the session
    button = client.get("/reports/monthly.pdf", params={"customer": DEMO, "month": "2026-11"})
    assert button.status_code == 200 and "NOTE-FOR-STAFF-ONLY" not in pdf_text(button.content)


def test_the_months_list_shows_each_customers_report(client: TestClient, facade: Aftercare, desk: Desk,
                                                    clock: FakeClock) -> None:
    assert client.get("/reports/monthly", follow_redirects=False).headers["location"].startswith("/login")
    _november(desk, clock)
    reports = _start_reports(facade, clock)
    desk.complete(reports[DEMO]["ticket_id"], "review_report", REVIEW)
    staff_login(client, "engineer")
    page = client.get("/reports/monthly")  # December 1st: November by default
    assert page.status_code == 200
    html = page.text
    assert "月度服务报告" in html and 'value="2026-11"' in html
    assert 'href="/reports/monthly?month=2026-10"' in html and 'href="/reports/monthly?month=2026-12"' in html
    for name, report in reports.items():
        assert name in html and f'<a href="/tickets/{report["ticket_id"]}">{report["number"]}</a>' in html
    assert html.count("已发送") == 1 and html.count("待审核") == 2
    assert "/reports/monthly/view?customer=Demo+Customer&amp;month=2026-11" in html
    assert "/reports/monthly/view?month=2026-11" in html  # the management report
    assert 'href="/reports/monthly"' in html and 'class="on"' in html  # the nav link
    october = client.get("/reports/monthly?month=2026-10").text
    assert "待审核" not in october and "尚无报告" in october  # contracts were active, no report began
    english = client.get("/reports/monthly?month=2026-11&lang=en").text
    assert "Monthly service reports" in english and "Awaiting review" in english and "Sent" in english
    assert client.get("/reports/monthly?month=2026-99").status_code == 422


def test_the_report_page_shows_figures_texts_and_the_internal_note(client: TestClient, facade: Aftercare,
                                                                   desk: Desk, clock: FakeClock) -> None:
    _november(desk, clock)
    report = _start_reports(facade, clock)[DEMO]
    desk.complete(report["ticket_id"], "review_report", REVIEW)
    staff_login(client, "product")
    html = client.get("/reports/monthly/view", params={"customer": DEMO, "month": "2026-11"}).text
    charts = re.search(r"data-charts='([^']+)'", html)
    assert charts and '"values": [1]' in charts.group(1)  # one fault for the category chart
    assert '<script src="/vendor/echarts/echarts.min.js" defer></script>' in html and "<script>" not in html
    assert REVIEW["analysis"] in html and REVIEW["measures"] in html
    assert "NOTE-FOR-STAFF-ONLY" in html and "内部" in html
    assert "/tickets?customer=Demo+Customer&amp;created_from=2026-11-01&amp;created_to=2026-11-30" in html
    assert "breached=true" in html and f'href="/tickets/{report["ticket_id"]}"' in html
    assert "/reports/monthly.pdf?customer=Demo+Customer&amp;month=2026-11&amp;copy=internal" in html
    live = client.get("/reports/monthly/view", params={"customer": "青山医院", "month": "2026-10"}).text
    assert "尚未审核或发送" in live  # no report case for October: the live figures
    everyone = client.get("/reports/monthly/view?month=2026-11&lang=en").text
    assert "Per customer" in everyone and "All customers" in everyone and DEMO in everyone
    missing = client.get("/reports/monthly/view", params={"customer": "无此客户", "month": "2026-11"})
    assert missing.status_code == 404


def test_the_review_task_and_the_ticket_show_the_report(client: TestClient, facade: Aftercare, desk: Desk,
                                                        clock: FakeClock) -> None:
    _november(desk, clock)
    report = _start_reports(facade, clock)[DEMO]
    task = desk.task(report["ticket_id"], "review_report")
    staff_login(client, "manager")
    html = client.get(f"/tasks/{task['id']}").text
    assert "data-charts=" in html and "tickets?customer=Demo+Customer" in html
    assert html.index('class="monthly-report"') < html.index('class="task-form"')  # the figures above the form
    assert 'name="analysis"' in html and "尚未填写" not in html
    done = client.post(f"/tasks/{task['id']}", data={**REVIEW, "csrf": _csrf(html)}, follow_redirects=False)
    assert done.status_code == 303
    ticket = client.get(f"/tickets/{report['ticket_id']}").text
    assert "data-charts=" in ticket and REVIEW["measures"] in ticket and "NOTE-FOR-STAFF-ONLY" in ticket
    assert "已发送" in ticket
    other = client.get(f"/tickets/{desk.create()}").text
    assert "data-charts=" not in other


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)
