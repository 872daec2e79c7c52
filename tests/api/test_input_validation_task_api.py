"""Two API points of a first run (issue 11 item 8): `GET /api/tasks/{id}` gives the instructions filled with the
case's variables as the task page shows them, and a ticket's `status` and `archived` agree."""
from __future__ import annotations

from fastapi.testclient import TestClient

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.api.conftest import login
from tests.support import Desk, complete_as_customer


def test_a_task_over_the_api_has_its_instructions_filled_in(client: TestClient, facade: Aftercare,
                                                            clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    ticket_id = desk.create(title="报表导出失败")
    task_id = desk.task(ticket_id, "triage")["id"]
    number = desk.ticket(ticket_id)["number"]
    headers = login(client, "service_desk")
    chinese = client.get(f"/api/tasks/{task_id}", headers=headers).json()
    assert number in chinese["instructions"] and "报表导出失败" in chinese["instructions"]
    assert "{{" not in chinese["instructions"] and "<" not in chinese["instructions"]
    assert "<strong>报表导出失败</strong>" in chinese["instructions_html"] and chinese["form"]["properties"]
    english = client.get(f"/api/tasks/{task_id}?lang=en", headers=headers).json()
    assert english["instructions"].startswith(f"Triage {number}") and "分类定级" not in english["instructions"]


def test_status_and_archived_agree_while_the_survey_is_still_open(client: TestClient, facade: Aftercare,
                                                                 clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    ticket_id = desk.create(title="如何导出月报", channel="wechat")
    desk.triage(ticket_id, category="question")
    desk.complete(ticket_id, "answer_question", {"answer": "在报表菜单中选择导出"})
    complete_as_customer(facade, ticket_id, {"accepted": True})
    desk.complete(ticket_id, "callback", {"recurred": False, "satisfaction": 5, "comment": "满意"})
    headers = login(client, "admin")
    archived = client.get(f"/api/tickets/{ticket_id}", headers=headers).json()
    assert desk.names(ticket_id) == ["satisfaction_survey"]  # the customer may still answer the survey
    assert archived["status"] == "archived" and archived["archived"] is True
    assert archived["record_frozen"] is False  # the record freezes when the case ends
    complete_as_customer(facade, ticket_id, {"score": 4})
    done = client.get(f"/api/tickets/{ticket_id}", headers=headers).json()
    assert done["status"] == "archived" and done["archived"] is True and done["record_frozen"] is True


def test_an_open_ticket_is_not_archived(client: TestClient, facade: Aftercare, clock: FakeClock) -> None:
    ticket_id = Desk(facade, clock).create()
    ticket = client.get(f"/api/tickets/{ticket_id}", headers=login(client, "admin")).json()
    assert ticket["status"] == "triage" and ticket["archived"] is False and ticket["record_frozen"] is False
    listed = client.get("/api/tickets", headers=login(client, "admin")).json()["items"]
    assert [t["status"] for t in listed if t["id"] == ticket_id] == ["triage"]
