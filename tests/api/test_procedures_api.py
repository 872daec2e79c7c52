"""Starting procedures over HTTP: the JSON routes under /api/procedures, the intake page's procedure choice and the
ticket page's "start procedure" buttons, through the real app."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.api.conftest import login
from tests.support import Desk

STANDBY = "major_event_standby"
CONTACT = {"customer": "Demo Customer", "contact_name": "王工", "contact_email": "wang@demo-customer.example"}


def _staff_login(client: TestClient, username: str) -> str:
    """Log in to the staff pages; the session's CSRF token."""
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf, "next": "/"})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/intake").text).group(1)


def _ids(client: TestClient, headers: dict[str, str], where: str) -> list[str]:
    response = client.get(f"/api/procedures/startable?where={where}", headers=headers)
    assert response.status_code == 200, response.text
    return [p["process_id"] for p in response.json()]


def test_the_json_api_lists_what_the_caller_may_start(client: TestClient) -> None:
    desk, engineer = login(client, "service_desk"), login(client, "engineer")
    assert _ids(client, desk, "intake") == ["maintenance_request", STANDBY]
    assert _ids(client, desk, "ticket") == [STANDBY]
    assert _ids(client, engineer, "intake") == ["maintenance_request"] and _ids(client, engineer, "ticket") == []
    [standby] = [p for p in client.get("/api/procedures/startable?where=ticket", headers=desk).json()]
    assert standby == {"process_id": STANDBY, "name": "重要事件保障 Major-event standby", "version": 1}
    wrong = client.get("/api/procedures/startable?where=portal", headers=desk)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "where"
    assert client.get("/api/procedures/startable?where=intake").status_code == 401


def test_the_json_api_starts_a_procedure_from_intake_and_from_a_ticket(client: TestClient) -> None:
    manager = login(client, "manager")
    started = client.post(f"/api/procedures/{STANDBY}/start", headers=manager,
                          json={**CONTACT, "title": "年终结算保障", "description": "12 月 31 日结算"})
    assert started.status_code == 201, started.text
    ticket = started.json()
    assert ticket["status"] == "planning" and ticket["process"] == {"process_id": STANDBY, "version": 1}
    assert [t["name"] for t in ticket["tasks"]] == ["plan_standby"] and ticket["tasks"][0]["role"] == "manager"
    assert "instructions" not in ticket["tasks"][0] and "has_instructions" in ticket["tasks"][0]  # as GET shows it
    assert [e["actor"] for e in ticket["timeline"] if e["kind"] == "procedure_started"] == ["manager"]

    origin = client.post("/api/tickets", headers=manager, json={**CONTACT, "channel": "phone", "title": "上线咨询",
                                                               "description": "下周上线"}).json()
    linked = client.post(f"/api/procedures/{STANDBY}/start", headers=manager,
                         json={"title": "系统上线保障", "origin_ticket_id": origin["id"]})
    assert linked.status_code == 201, linked.text
    assert linked.json()["origin"]["id"] == origin["id"] and linked.json()["contact_email"] == CONTACT["contact_email"]
    timeline = client.get(f"/api/tickets/{origin['id']}", headers=manager).json()["timeline"]
    assert [e["number"] for e in timeline if e["kind"] == "linked_procedure_started"] == [linked.json()["number"]]


def test_the_json_api_refuses_what_may_not_start(client: TestClient) -> None:
    engineer, manager = login(client, "engineer"), login(client, "manager")
    body = {**CONTACT, "title": "保障"}
    assert client.post(f"/api/procedures/{STANDBY}/start", headers=engineer, json=body).status_code == 403
    complaint = client.post("/api/procedures/complaint/start", headers=manager, json=body)
    assert complaint.status_code == 422 and complaint.json()["errors"][0]["field"] == "process_id"
    assert client.post("/api/procedures/nothing/start", headers=manager, json=body).status_code == 404
    bad = client.post(f"/api/procedures/{STANDBY}/start", headers=manager,
                      json={**body, "contact_email": "nobody", "channel": "fax"})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"contact_email", "channel"}
    assert client.post(f"/api/procedures/{STANDBY}/start", headers=manager, json=CONTACT).status_code == 422


def test_the_intake_page_offers_the_procedures_and_keeps_the_maintenance_request_first(client: TestClient) -> None:
    csrf = _staff_login(client, "service_desk")
    page = client.get("/intake").text
    options = re.findall(r'<option value="([a-z_]+)" (selected)?>([^<]+)</option>', page)
    assert options == [("maintenance_request", "selected", "维护请求"), (STANDBY, "", "重要事件保障")]
    form = {**CONTACT, "channel": "phone", "title": "系统无法登录", "description": "报 500", "csrf": csrf}
    plain = client.post("/intake", data={**form, "process_id": "maintenance_request"}, follow_redirects=False)
    assert plain.status_code == 303
    assert "分类定级" in client.get(plain.headers["location"]).text  # the triage task, as always
    standby = client.post("/intake", data={**form, "title": "财务系统上线保障", "process_id": STANDBY},
                          follow_redirects=False)
    assert standby.status_code == 303
    ticket_page = client.get(standby.headers["location"]).text
    assert "制定保障计划" in ticket_page and "待计划" in ticket_page and "启动流程" in ticket_page


def test_the_intake_page_keeps_the_chosen_procedure_on_errors(client: TestClient) -> None:
    csrf = _staff_login(client, "service_desk")
    wrong = client.post("/intake", data={**CONTACT, "contact_email": "wang", "channel": "phone", "title": "保障",
                                         "process_id": STANDBY, "csrf": csrf})
    assert wrong.status_code == 422 and 'id="err-contact_email"' in wrong.text
    assert f'<option value="{STANDBY}" selected>' in wrong.text


def test_the_intake_page_has_no_choice_when_there_is_none(client: TestClient) -> None:
    _staff_login(client, "engineer")
    assert 'name="process_id"' not in client.get("/intake").text


def test_the_ticket_page_starts_a_linked_procedure(client: TestClient, facade: Aftercare, clock: FakeClock) -> None:
    origin = Desk(facade, clock).create(title="上线前咨询")
    csrf = _staff_login(client, "manager")
    page = client.get(f"/tickets/{origin}").text
    action = f'action="/tickets/{origin}/procedures/{STANDBY}"'
    assert action in page and "启动流程：重要事件保障" in page
    english = client.get(f"/tickets/{origin}?lang=en").text
    assert "Start procedure: Major-event standby" in english
    client.get(f"/tickets/{origin}?lang=zh-CN")
    assert client.post(f"/tickets/{origin}/procedures/{STANDBY}", data={"title": "保障"}).status_code == 403
    empty = client.post(f"/tickets/{origin}/procedures/{STANDBY}", data={"title": " ", "csrf": csrf})
    assert empty.status_code == 422 and "此项必填" in empty.text
    started = client.post(f"/tickets/{origin}/procedures/{STANDBY}", data={"title": "上线保障", "csrf": csrf},
                          follow_redirects=False)
    assert started.status_code == 303
    new_page = client.get(started.headers["location"]).text
    assert "制定保障计划" in new_page and f'href="/tickets/{origin}"' in new_page  # opened from the origin
    number = re.search(r"<h1>(AC-[\d-]+) ·", new_page).group(1)
    origin_page = client.get(f"/tickets/{origin}").text
    assert "已从本工单启动流程" in origin_page and number in origin_page


def test_the_ticket_page_has_no_buttons_for_a_role_that_may_not_start(client: TestClient, facade: Aftercare,
                                                                       clock: FakeClock) -> None:
    origin = Desk(facade, clock).create()
    _staff_login(client, "engineer")
    page = client.get(f"/tickets/{origin}").text
    assert "/procedures/" not in page and "启动流程" not in page


def test_the_plan_form_asks_for_times_and_engineers(client: TestClient, facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    tid = desk.facade.start_procedure(process_id=STANDBY, actor=desk.actor("manager"), title="保障", description="",
                                      **CONTACT)["id"]
    task = desk.task(tid, "plan_standby")
    csrf = _staff_login(client, "manager")
    form = client.get(f"/tasks/{task['id']}").text
    assert 'type="datetime-local" id="f-event_start" name="event_start"' in form
    assert re.search(r'<select id="f-duty_engineer" name="duty_engineer">.*<option >engineer</option>', form, re.S)
    done = client.post(f"/tasks/{task['id']}", follow_redirects=False, data={
        "csrf": csrf, "event_name": "年终结算", "event_start": "2026-12-31T09:00", "event_end": "2026-12-31T23:00",
        "duty_engineer": "engineer", "site_contact": "李经理"})
    assert done.status_code == 303, done.text
    assert desk.names(tid) == ["on_duty"]
    assert "2026-12-31 09:00" in client.get(f"/tickets/{tid}").text  # the timeline in Beijing time
