"""The managers' dashboard over HTTP: GET /api/dashboard for managers, process owners and admins (bearer token or
staff session), the /dashboard page with every figure as text and a link to its ticket list, and the ticket list's
chip for the "waiting at step" filter the dashboard links to."""
from __future__ import annotations

import html
import io
import json
import re
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from engine.calendar import SHANGHAI
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.users import Actor
from tests.api.conftest import login
from tests.api.test_attachments import staff_login
from tests.support import Desk, complete_as_customer

HOSPITAL = {"customer": "青山医院", "contact_name": "李工", "contact_email": "it@qingshan-hospital.example"}
ASSESSMENT = {"change_kind": "enhancement", "change_scope": "新增科室月度统计报表", "effort_days": 5,
              "change_impact": "仅报表模块", "affected_modules": "报表, 统计", "assessment_decision": "implement",
              "assessment_answer": "可以实施"}
QUOTE = {"quote_items": [{"description": "报表开发", "quantity": 4, "unit_price": 2000}], "quote_validity_days": 10}


def build_history(facade: Aftercare, clock: FakeClock) -> dict[str, int]:
    """Monday 2026-11-23 in Shanghai: a question answered and scored 5 (callback and survey); a severity-1 fault
    whose expert took the response step and let it run two hours past its one-hour deadline; then a fresh
    severity-2 fault, a paid change at 青山医院 waiting for the customer's decision on its quote, and a ticket not
    yet triaged."""
    desk = Desk(facade, clock)
    answered = desk.create(title="怎么导出报表", channel="web")
    desk.triage(answered, category="question")
    desk.complete(answered, "answer_question", {"answer": "在报表页点导出"})
    complete_as_customer(facade, answered, {"accepted": True})
    desk.complete(answered, "callback", {"recurred": False, "satisfaction": 5})
    complete_as_customer(facade, answered, {"score": 5})
    late = desk.create(title="核心系统宕机")
    desk.triage(late, category="fault", severity=1)
    facade.claim_task(task_id=desk.task(late, "expert_response")["id"], actor=Actor("expert", "expert"))
    desk.travel(hours=3)
    fresh = desk.create(title="报表导出偶尔超时", customer="华东电网信息中心")
    desk.triage(fresh, category="fault", severity=2)
    quote = desk.create(title="新增科室月度统计报表", **HOSPITAL)
    desk.triage(quote, category="change")
    desk.complete(quote, "change_assessment", ASSESSMENT)
    desk.complete(quote, "prepare_quote", QUOTE)
    assert desk.names(quote) == ["quote_decision"]
    untriaged = desk.create(title="咨询：如何新增用户", channel="phone")
    return {"answered": answered, "late": late, "fresh": fresh, "quote": quote, "untriaged": untriaged}


@pytest.fixture
def history(facade: Aftercare, clock: FakeClock) -> dict[str, int]:
    return build_history(facade, clock)


def by_key(rows: list[dict[str, Any]]) -> dict[Any, int]:
    return {row["key"]: row["count"] for row in rows}


def test_the_figures_match_the_history(client: TestClient, history: dict[str, int]) -> None:
    headers = login(client, "manager")
    body = client.get("/api/dashboard", headers=headers).json()
    assert (body["month"], body["previous_month"]) == ("2026-11", "2026-10")
    assert body["open"]["total"] == 4  # the answered question is closed
    assert by_key(body["open"]["by_category"]) == {"fault": 2, "change": 1}
    assert by_key(body["open"]["by_severity"]) == {1: 1, 2: 1}
    assert sum(by_key(body["open"]["by_status"]).values()) == 4
    assert (body["breached_now"], body["quotes_waiting"]) == (1, 1)
    assert body["sla"]["this_month"]["response"] == {"met": 1, "breached": 1, "rate": 0.5}  # the question met it
    assert body["sla"]["last_month"]["response"] == {"met": 0, "breached": 0, "rate": None}
    satisfaction = body["satisfaction"]["this_month"]
    assert (satisfaction["count"], satisfaction["average"], satisfaction["share_4_5"],
            satisfaction["survey_score_100"]) == (1, 5.0, 1.0, 100.0)
    assert satisfaction["target_share"] == 0.85 and satisfaction["target_survey"] == 90
    workload = {w["user"]: w for w in body["workload"]}
    assert (workload["expert"]["open_tasks"], workload["expert"]["overdue"]) == (1, 1)
    assert workload["engineer"]["overdue"] == 0


def test_each_figure_counts_what_its_ticket_list_lists(client: TestClient, history: dict[str, int]) -> None:
    headers = login(client, "manager")
    body = client.get("/api/dashboard", headers=headers).json()

    def listed(**params: str) -> list[int]:
        return [item["id"] for item in client.get("/api/tickets", params=params, headers=headers).json()["items"]]

    assert listed(breached="true", status="open") == [history["late"]] and body["breached_now"] == 1
    assert listed(task="quote_decision") == [history["quote"]] and body["quotes_waiting"] == 1
    assert len(listed(at_risk="true")) == body["at_risk_now"]
    assert listed(status="open", severity="1") == [history["late"]]


@pytest.mark.parametrize("role", ["manager", "process_owner", "admin"])
def test_managers_process_owners_and_admins_read_the_json(client: TestClient, history: dict[str, int],
                                                          role: str) -> None:
    response = client.get("/api/dashboard", headers=login(client, role))
    assert response.status_code == 200 and response.json()["breached_now"] == 1


@pytest.mark.parametrize("role", ["engineer", "service_desk", "expert"])
def test_other_roles_are_refused_with_a_reason(client: TestClient, role: str) -> None:
    response = client.get("/api/dashboard", headers=login(client, role))
    assert response.status_code == 403
    assert response.json() == {"detail": "the dashboard is for service managers, process owners and administrators"}


def test_the_json_needs_a_token_or_a_session(client: TestClient) -> None:
    assert client.get("/api/dashboard").status_code == 401
    assert client.get("/api/dashboard", headers={"Authorization": "Bearer forged"}).status_code == 401
    staff_login(client, "manager")  # the page's script fetches with the session cookie
    assert client.get("/api/dashboard").json()["open"]["total"] == 0
    staff_login(client, "engineer")
    assert client.get("/api/dashboard").status_code == 403


def test_the_page_shows_every_figure_as_text_with_its_list(client: TestClient, history: dict[str, int]) -> None:
    staff_login(client, "manager")
    page = client.get("/dashboard")
    assert page.status_code == 200
    text = page.text
    assert "<h1>仪表板</h1>" in text and '<a href="/dashboard" class="on">仪表板</a>' in text
    assert '<a class="tile bad" id="tile-breached" href="/tickets?breached=true&amp;status=open&amp;service=true">' \
        '<strong>1</strong>' in text
    assert 'href="/tickets?task=quote_decision"><strong>1</strong> <span>等待客户决定的报价</span>' in text
    assert '<a href="/tickets?status=unclosed&amp;service=true&amp;category=fault">故障</a></th><td>2</td>' in text
    assert '<a href="/tickets?status=unclosed&amp;severity=1">等级 1</a></th><td>1</td>' in text
    assert '<a href="/tickets?assignee=expert">expert</a></th><td>专家组</td><td>1</td><td><span class="flag bad">1' \
        in text
    # the response clock: the question met it, the severity-1 fault breached it
    met_and_breached = '<th scope="row">响应</th><td>1</td><td>1</td><td>50.0&nbsp;%</td><td>—</td>'
    assert met_and_breached in text
    assert "<td>100.0</td><td>—</td><td>≥&nbsp;90 <span class=\"badge ok\">本月达标</span>" in text
    found = re.search(r"data-labels='([^']*)'", text)
    assert found, "the charts' words are on the page"
    labels = json.loads(html.unescape(found.group(1)))
    assert (labels["fault"], labels["metric_resolve"], labels["severity_1"]) == ("故障", "解决", "等级 1")
    scripts = re.findall(r"<script([^>]*)>", text)
    assert all("src=" in s for s in scripts), "the dashboard runs no inline script"
    assert '/vendor/echarts/echarts.min.js' in text and '/static/dashboard.js' in text
    assert client.get("/vendor/echarts/echarts.min.js").status_code == 200
    assert client.get("/static/dashboard.js").status_code == 200


def test_the_page_in_english(client: TestClient, history: dict[str, int]) -> None:
    staff_login(client, "admin")
    text = client.get("/dashboard", params={"lang": "en"}).text
    assert "<h1>Dashboard</h1>" in text and "Open tickets breached now" in text and "Change request" in text


def test_other_roles_get_the_forbidden_page_and_no_link(client: TestClient) -> None:
    staff_login(client, "engineer")
    page = client.get("/dashboard")
    assert page.status_code == 403 and "仪表板仅供服务经理、流程负责人和管理员查看" in page.text
    assert 'href="/dashboard"' not in client.get("/tickets").text


def test_the_page_needs_a_login(client: TestClient) -> None:
    response = client.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/dashboard"


def test_the_ticket_list_shows_the_step_filter_as_a_removable_chip(client: TestClient,
                                                                   history: dict[str, int]) -> None:
    staff_login(client, "manager")
    page = client.get("/tickets", params={"task": "quote_decision"}).text
    chip = ('<span class="chip">等待步骤：客户决定报价 '
            '<a href="/tickets" aria-label="移除筛选条件：等待步骤 客户决定报价">×</a>')
    assert chip in page
    assert "新增科室月度统计报表" in page and "核心系统宕机" not in page
    assert '<input type="hidden" name="task" value="quote_decision">' in page  # kept when other filters change
    kept = client.get("/tickets", params={"task": "quote_decision", "customer": "青山医院"}).text
    assert '<a href="/tickets?customer=%E9%9D%92%E5%B1%B1%E5%8C%BB%E9%99%A2" aria-label=' in kept
    assert 'class="chip"' not in client.get("/tickets").text
    sheet = load_workbook(io.BytesIO(client.get("/tickets.xlsx", params={"task": "quote_decision"}).content)).active
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["新增科室月度统计报表"]


def test_a_status_from_the_dashboard_shows_in_the_status_filter(client: TestClient, history: dict[str, int]) -> None:
    staff_login(client, "manager")
    page = client.get("/tickets", params={"status": "in_progress"}).text
    assert '<option value="in_progress" selected>处理中</option>' in page


def test_every_count_on_the_page_lists_as_many_tickets_as_it_says(client: TestClient, facade: Aftercare,
                                                                  clock: FakeClock, history: dict[str, int]) -> None:
    """A manager clicks a number and finds that many tickets: tickets waiting for the customer count as not closed,
    and the monthly reports' own review cases count in no figure and so are left out of the lists they link to."""
    desk = Desk(facade, clock)
    waiting = desk.create(title="如何修改密码", channel="web")
    desk.triage(waiting, category="question")
    desk.complete(waiting, "answer_question", {"answer": "在个人设置里修改"})  # now the customer's to accept
    clock.set(datetime(2026, 12, 1, 9, tzinfo=SHANGHAI))
    assert facade.start_due_reports() == 3  # three review cases, open, in the ticket list
    staff_login(client, "manager")
    page = client.get("/dashboard").text
    numbers = re.findall(r'<a class="tile[^"]*" id="[^"]+" href="(/tickets\?[^"]+)"><strong>(\d+)</strong>', page)
    numbers += re.findall(r'<a href="(/tickets\?[^"]+)">[^<]*</a></th><td>(\d+)</td>', page)
    hrefs = {html.unescape(href) for href, _ in numbers}
    assert {"/tickets?status=unclosed&service=true", "/tickets?status=awaiting_acceptance&service=true",
            "/tickets?category=inspection&status=unclosed&overdue=true"} <= hrefs
    assert len(numbers) >= 10
    for href, count in numbers:
        listed = re.search(r'<p class="count" role="status">共 (\d+) 张工单</p>', client.get(html.unescape(href)).text)
        assert listed and listed.group(1) == count, f"{html.unescape(href)}: the dashboard says {count}"
    every = re.search(r'id="tile-open"[^>]*><strong>(\d+)</strong>', page)
    assert every and every.group(1) == "5"  # the four open ones of the history and the question awaiting acceptance
    internal = client.get("/tickets", params={"status": "unclosed"}).text
    assert '共 8 张工单' in internal  # without "service tickets only": the three reports' cases too
