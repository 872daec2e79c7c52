"""Incidents over HTTP: the JSON list and retry, a completion that hits the budget answering 409 with the element
and the error, the staff page with its retry button, the ticket page's banner, and instructions that explode."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.templating import instructions
from engine import script_limits
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.users import Actor
from tests.api.conftest import login
from tests.api.test_attachments import csrf_of, staff_login
from tests.fixtures.incidents.diagrams import limited, start

OWNER = Actor("process_owner", "process_owner")


@pytest.fixture(autouse=True)
def short_budget(facade: Aftercare) -> Iterator[None]:
    script_limits.configure(cpu_seconds=0.2)
    yield
    script_limits.configure(cpu_seconds=1.0)


def parked_at_completion(client: TestClient, facade: Aftercare) -> tuple[int, dict[str, str]]:
    """A `limited` case whose step's completion runs `while True`: completed over the API, so it is parked."""
    facade.deploy(files=limited("while True:\n    pass", first="task"), actor=OWNER)
    ticket_id = start(facade)
    desk = login(client, "service_desk")
    [task] = client.get(f"/api/tasks?ticket_id={ticket_id}", headers=desk).json()
    response = client.post(f"/api/tasks/{task['id']}/complete", json={"data": {"answer": 1}}, headers=desk)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["errors"][0]["element_id"] == "calc" and "CPU time over 0.2 s" in body["errors"][0]["message"]
    assert "parked as an incident" in body["detail"]
    return ticket_id, desk


def test_a_completion_over_budget_answers_409_and_the_case_is_listed(client: TestClient, facade: Aftercare) -> None:
    ticket_id, desk = parked_at_completion(client, facade)
    [task] = client.get(f"/api/tasks?ticket_id={ticket_id}", headers=desk).json()  # still open, as it was
    again = client.post(f"/api/tasks/{task['id']}/complete", json={"data": {"answer": 1}}, headers=desk)
    assert again.status_code == 409 and "until the process owner or a manager retries it" in again.json()["detail"]

    [incident] = client.get("/api/incidents", headers=login(client, "manager")).json()
    assert (incident["ticket_id"], incident["element_id"], incident["process_id"]) == (ticket_id, "calc", "limited")
    assert incident["since"] and "CPU time" in incident["error"]
    assert client.get("/api/incidents", headers=login(client, "engineer")).status_code == 403


def test_retry_over_the_api_after_a_fix(client: TestClient, facade: Aftercare) -> None:
    ticket_id, desk = parked_at_completion(client, facade)
    owner = login(client, "process_owner")
    [incident] = client.get("/api/incidents", headers=owner).json()
    url = f"/api/incidents/{incident['instance_id']}/retry"
    assert client.post(url, headers=login(client, "engineer")).status_code == 403
    assert client.post(url, json={"to_version": "x"}, headers=owner).status_code == 422

    created = facade.deploy(files=limited("x = 1", first="task"), actor=OWNER)
    fixed = next(c["version"] for c in created if c["process_id"] == "limited")
    retried = client.post(url, json={"to_version": fixed}, headers=owner)
    assert retried.status_code == 200 and retried.json()["status"] == "running"
    assert client.get("/api/incidents", headers=owner).json() == []
    assert client.post(url, headers=owner).status_code == 409  # no longer parked
    [task] = client.get(f"/api/tasks?ticket_id={ticket_id}", headers=desk).json()
    done = client.post(f"/api/tasks/{task['id']}/complete", json={"data": {"answer": 1}}, headers=desk)
    assert done.status_code == 200, done.text


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_incidents_page_and_the_ticket_banner(client: TestClient, facade: Aftercare, clock: FakeClock,
                                                  lang: str) -> None:
    facade.deploy(files=limited("n = 10\nx = n**n**n"), actor=OWNER)
    ticket_id = start(facade)
    clock.advance(hours=2)
    facade.fire_due_timers()

    staff_login(client, "process_owner")
    page = client.get(f"/incidents?lang={lang}")
    assert page.status_code == 200
    assert ("流程异常" if lang == "zh-CN" else "Incidents") in page.text and "<code>calc</code>" in page.text
    assert 'href="/incidents"' in client.get("/").text  # in the Administration menu
    ticket_page = client.get(f"/tickets/{ticket_id}")
    assert 'id="incident-banner"' in ticket_page.text and "calc" in ticket_page.text

    instance_id = facade.list_incidents(actor=OWNER)[0]["instance_id"]
    refused = client.post(f"/incidents/{instance_id}/retry", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    retried = client.post(f"/incidents/{instance_id}/retry", data={"csrf": csrf_of(page.text)},
                          follow_redirects=True)
    assert retried.status_code == 200 and 'id="retry-outcome"' in retried.text
    assert 'class="notice bad"' in retried.text  # still 10**10**10: parked again, with the new error
    assert len(facade.list_incidents(actor=OWNER)) == 1


def test_the_retry_form_offers_the_newest_version(client: TestClient, facade: Aftercare) -> None:
    """Retrying on the failing version only runs the same diagram again: once a fixed version is deployed, the form
    has it filled in and says so; before that it says a retry only helps if the cause has passed."""
    parked_at_completion(client, facade)
    staff_login(client, "process_owner")
    [incident] = facade.list_incidents(actor=OWNER)
    page = client.get("/incidents?lang=en").text
    assert incident["newest_version"] == incident["version"] and "No newer version is deployed" in page
    created = facade.deploy(files=limited("x = 1", first="task"), actor=OWNER)
    fixed = next(c["version"] for c in created if c["process_id"] == "limited")
    page = client.get("/incidents?lang=en").text
    field = f'id="to-version-{incident["instance_id"]}"'
    assert field in page and f'value="{fixed}"' in page.split(field, 1)[1].split(">", 1)[0]
    assert f"Version {fixed}, deployed after this case started, is filled in" in page
    retried = client.post(f"/incidents/{incident['instance_id']}/retry",
                          data={"csrf": csrf_of(page), "to_version": str(fixed)}, follow_redirects=True)
    assert 'class="notice ok"' in retried.text and facade.list_incidents(actor=OWNER) == []


def test_a_staff_completion_over_budget_shows_the_error_page(client: TestClient, facade: Aftercare) -> None:
    facade.deploy(files=limited("while True:\n    pass", first="task"), actor=OWNER)
    ticket_id = start(facade)
    csrf = staff_login(client, "service_desk")
    [task] = facade.list_tasks(actor=Actor("admin", "admin"), ticket_id=ticket_id)
    response = client.post(f"/tasks/{task['id']}?lang=en", data={"csrf": csrf, "answer": "1"})
    assert response.status_code == 409
    assert "parked as an incident" in response.text and f'href="/tickets/{ticket_id}"' in response.text


def test_exploding_instructions_render_raw_with_a_note_and_the_task_page_answers(
        client: TestClient, facade: Aftercare) -> None:
    shown = str(instructions("Check {{ 10 ** (10 ** 10) }} now", {"number": "AC-1"}))
    assert "Check {{ 10" in shown and "now" in shown and "bits" in shown  # as written (its ** read as bold)

    text = "{% set n = 10 %}Budget {{ n ** (n ** n) }}"  # not a constant: deploy lets it through
    facade.deploy(files=limited(first="task", instructions=text), actor=OWNER)
    ticket_id = start(facade)
    staff_login(client, "service_desk")
    [task] = facade.list_tasks(actor=Actor("admin", "admin"), ticket_id=ticket_id)
    page = client.get(f"/tasks/{task['id']}")
    assert page.status_code == 200
    assert "Budget {{ n" in page.text and "bits (the limit is 100,000)" in page.text
