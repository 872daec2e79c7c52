"""What the overseers see of diagram code that failed where there was no case to park: a portal request that could
not start reaches the process owner and the managers by e-mail (real SMTP, each in their language) and as a notice in
GET /api/incidents and on the incidents page ("Cases that could not start"), which a person clears; a failing due
expression is a notice on the incidents page, on the ticket page and by e-mail, while the case goes on."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.mail import Mailer
from engine import script_limits
from engine.commands import Aftercare
from engine.users import Actor
from tests.api.conftest import login
from tests.api.test_attachments import csrf_of, staff_login
from tests.fixtures.incidents.diagrams import broken_start, limited, start
from tests.support import SmtpSink, body

OWNER = Actor("process_owner", "process_owner")
MANAGER = "manager@aftercare.example"  # a demo user, reading Chinese
OLIVIA = "olivia@aftercare.example"
PORTAL = {"contact_name": "王工", "contact_email": "wang@demo-customer.example", "title": "收银机无法开机",
          "description": "门店 3", "kind": "request", "idempotency_key": "portal-start-fails"}


@pytest.fixture(autouse=True)
def short_budget(facade: Aftercare) -> Iterator[None]:
    script_limits.configure(cpu_seconds=0.2)
    yield
    script_limits.configure(cpu_seconds=1.0)


def send_all(facade: Aftercare) -> None:
    mailer = Mailer(facade)
    while mailer.send_pending():
        pass


def test_a_portal_request_that_cannot_start_is_mailed_listed_and_cleared(client: TestClient, facade: Aftercare,
                                                                        smtp: SmtpSink) -> None:
    facade.add_user(username="olivia", role="manager", password="pw", email=OLIVIA, language="en")
    facade.deploy(files=broken_start("x = 1 // 0"), actor=OWNER)
    for attempt in range(2):  # the customer tries twice: one notice, one e-mail per overseer
        portal = client.post("/portal?lang=zh-CN", data={**PORTAL, "idempotency_key": f"k-{attempt}"})
        assert portal.status_code == 409, "the customer is told, as before"
    send_all(facade)
    [english] = smtp.to(OLIVIA)
    assert "could not start" in smtp.subjects(OLIVIA)[0]
    text = body(english)
    assert "at element acknowledge" in text and "ZeroDivisionError" in text and "the customer portal" in text
    assert "收银机无法开机" in text and "wang@demo-customer.example" in text and "/incidents#start-failures" in text
    [chinese] = smtp.to(MANAGER)
    assert "无法启动" in smtp.subjects(MANAGER)[0] and "启动来源：客户门户" in body(chinese)

    owner = login(client, "process_owner")
    [notice] = [i for i in client.get("/api/incidents", headers=owner).json() if i["kind"] == "start_failed"]
    assert (notice["process_id"], notice["element_id"], notice["count"]) == ("maintenance_request", "acknowledge", 2)
    assert notice["sources"] == ["portal"] and notice["ticket_id"] is None and "since" in notice
    url = f"/api/incidents/start-failures/{notice['notice_id']}/clear"
    assert client.post(url, headers=login(client, "engineer")).status_code == 403
    assert client.post("/api/incidents/start-failures/999999/clear", headers=owner).status_code == 404

    staff_login(client, "process_owner")
    page = client.get("/incidents?lang=zh-CN")
    assert "无法启动的流程" in page.text and f'id="start-failure-{notice["notice_id"]}"' in page.text
    assert "客户门户" in page.text and "<code>acknowledge</code>" in page.text
    assert "Cases that could not start" in client.get("/incidents?lang=en").text
    cleared = client.post(f"/incidents/start-failures/{notice['notice_id']}/clear",
                          data={"csrf": csrf_of(page.text)}, follow_redirects=True)
    assert cleared.status_code == 200 and 'id="clear-outcome"' in cleared.text
    assert 'id="no-start-failures"' in cleared.text
    assert client.get("/api/incidents", headers=owner).json() == []


def test_a_failing_due_expression_is_shown_and_mailed_while_the_case_goes_on(client: TestClient, facade: Aftercare,
                                                                            smtp: SmtpSink) -> None:
    facade.add_user(username="olivia", role="manager", password="pw", email=OLIVIA, language="en")
    facade.deploy(files=limited(first="task", due="1 // 0"), actor=OWNER)
    ticket_id = start(facade)
    send_all(facade)
    [english] = [m for m in smtp.to(OLIVIA) if "due expression failed" in str(m["Subject"])]
    assert 'The due time of the step "Step" (element step)' in body(english)
    assert "Due expression: 1 // 0" in body(english) and "ZeroDivisionError" in body(english)
    assert any("期限表达式出错" in s for s in smtp.subjects(MANAGER))

    owner = login(client, "process_owner")
    [notice] = [i for i in client.get("/api/incidents", headers=owner).json() if i["kind"] == "due_failed"]
    assert (notice["ticket_id"], notice["element_id"], notice["expression"]) == (ticket_id, "step", "1 // 0")
    staff_login(client, "process_owner")
    page = client.get("/incidents?lang=en")
    assert "Tasks without a due time" in page.text and f'id="due-failure-{notice["notice_id"]}"' in page.text

    desk = login(client, "service_desk")  # the case goes on: the step is done as any other
    [task] = client.get(f"/api/tasks?ticket_id={ticket_id}", headers=desk).json()
    done = client.post(f"/api/tasks/{task['id']}/complete", json={"data": {"answer": 1}}, headers=desk)
    assert done.status_code == 200, done.text
    assert client.get("/api/incidents", headers=owner).json() == []
    assert 'id="no-due-failures"' in client.get("/incidents").text


def test_the_ticket_page_says_why_a_step_has_no_due_time(client: TestClient, facade: Aftercare) -> None:
    facade.deploy(files=limited(first="task", due="1 // 0"), actor=OWNER)
    ticket_id = start(facade)
    staff_login(client, "engineer")
    ticket_page = client.get(f"/tickets/{ticket_id}?lang=en").text
    assert "The step Step has no due time" in ticket_page and "the process owner has been told" in ticket_page
    assert "1 // 0" not in ticket_page and 'id="incident-banner"' not in ticket_page, "details for the overseers"
    staff_login(client, "manager")
    ticket_page = client.get(f"/tickets/{ticket_id}?lang=zh-CN").text
    assert "步骤 Step 没有期限" in ticket_page and "<code>1 // 0</code>" in ticket_page


def test_a_parked_case_shows_what_holds_it_not_that_it_goes_on(client: TestClient, facade: Aftercare) -> None:
    facade.deploy(files=limited("x = 1 // 0", first="task", due="1 // 0"), actor=OWNER)
    ticket_id = start(facade)  # its step has no due time; completing it runs a script that fails
    desk = login(client, "service_desk")
    [task] = client.get(f"/api/tasks?ticket_id={ticket_id}", headers=desk).json()
    refused = client.post(f"/api/tasks/{task['id']}/complete", json={"data": {"answer": 1}}, headers=desk)
    assert refused.status_code == 409, refused.text
    staff_login(client, "manager")
    page = client.get(f"/tickets/{ticket_id}?lang=en").text
    assert 'id="incident-banner"' in page and "has no due time" not in page and "The case goes on" not in page
    assert "Tasks without a due time" in client.get("/incidents?lang=en").text  # still listed for the overseers
