"""The JSON API contract of DESIGN.md §4, status by status."""
from __future__ import annotations

import time
from pathlib import Path

import jwt
from fastapi.testclient import TestClient

from tests.api.conftest import login

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TICKET = {"customer": "Demo Customer", "contact_name": "李经理", "contact_email": "li@demo-customer.example",
          "channel": "web", "title": "报表导出失败", "description": "月度报表导出时提示超时"}


def _create(client: TestClient, headers: dict[str, str]) -> dict:
    response = client.post("/api/tickets", json=TICKET, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _task(client: TestClient, headers: dict[str, str], ticket_id: int, name: str) -> dict:
    tasks = client.get("/api/tasks", params={"ticket_id": ticket_id}, headers=headers).json()
    return next(t for t in tasks if t["name"] == name)


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert "/api/tickets" in client.get("/openapi.json").json()["paths"]


def test_token_and_401(client: TestClient) -> None:
    assert client.post("/api/token", data={"username": "engineer", "password": "wrong"}).status_code == 401
    assert client.get("/api/tasks").status_code == 401
    assert client.get("/api/tasks", headers={"Authorization": "Bearer forged"}).status_code == 401
    body = client.post("/api/token", data={"username": "engineer", "password": "demo"}).json()
    assert body["token_type"] == "bearer" and body["access_token"]


def test_a_token_stops_working_when_it_expires_though_its_signature_was_checked_before(client: TestClient) -> None:
    """The server checks a token's signature once and remembers it; the expiry it checks on every request."""
    login(client, "engineer")
    issued = jwt.decode(login(client, "engineer")["Authorization"].split()[1], options={"verify_signature": False})
    key = client.app.state.facade.settings.secret_key  # type: ignore[attr-defined]

    def bearer(key: str = key, **claims: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {jwt.encode({**issued, **claims}, key, algorithm='HS256')}"}
    soon = bearer(exp=time.time() + 1.5)
    assert client.get("/api/tasks", headers=soon).status_code == 200
    assert client.get("/api/tasks", headers=soon).status_code == 200  # the remembered signature
    time.sleep(1.6)
    assert client.get("/api/tasks", headers=soon).status_code == 401
    assert client.get("/api/tasks", headers=bearer(exp=time.time() - 1)).status_code == 401
    assert client.get("/api/tasks", headers=bearer(exp="9999999999")).status_code == 401  # not a number
    assert client.get("/api/tasks", headers=bearer(exp=None)).status_code == 401
    assert client.get("/api/tasks", headers=bearer(key="another key of 32 bytes or more....")).status_code == 401
    assert client.get("/api/tasks", headers=bearer(exp=time.time() + 60)).status_code == 200


def test_create_ticket_201_and_read_it(client: TestClient) -> None:
    desk = login(client, "service_desk")
    created = _create(client, desk)
    assert created["number"].startswith("AC-") and created["status"] == "triage"
    ticket = client.get(f"/api/tickets/{created['id']}", headers=desk).json()
    assert ticket["id"] == created["id"]
    assert created["tasks"] == ticket["tasks"]  # the answer to the POST is the ticket as GET shows it
    assert created["tasks"][0]["has_instructions"] is True and "instructions" not in created["tasks"][0]
    assert ticket["sla"]["breaches"] == [] and ticket["sla"]["resolve_due"] is None
    assert [e["kind"] for e in ticket["timeline"]][:1] == ["ticket_created"]
    assert all("+00:00" in e["at"] for e in ticket["timeline"])


def test_create_ticket_422_names_the_field(client: TestClient) -> None:
    desk = login(client, "service_desk")
    bad = client.post("/api/tickets", json={**TICKET, "channel": "fax"}, headers=desk)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["channel"]
    unknown = client.post("/api/tickets", json={**TICKET, "customer": "Nobody Ltd"}, headers=desk)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "customer"
    missing = client.post("/api/tickets", json={k: v for k, v in TICKET.items() if k != "title"}, headers=desk)
    assert missing.status_code == 422


def test_tasks_list_get_and_complete(client: TestClient) -> None:
    desk = login(client, "service_desk")
    ticket = _create(client, desk)
    tasks = client.get("/api/tasks", params={"role": "service_desk"}, headers=desk).json()
    triage = next(t for t in tasks if t["ticket_id"] == ticket["id"])
    assert triage["name"] == "triage" and triage["role"] == "service_desk" and triage["due_at"]
    assert set(triage) >= {"id", "ticket_id", "name", "title", "role", "form_key", "due_at", "created_at"}
    detail = client.get(f"/api/tasks/{triage['id']}", headers=desk).json()
    assert "category" in detail["form"]["properties"]
    done = client.post(f"/api/tasks/{triage['id']}/complete",
                       json={"data": {"category": "fault", "severity": 2, "onsite": False}}, headers=desk)
    assert done.status_code == 200, done.text
    after = client.get(f"/api/tickets/{ticket['id']}", headers=desk).json()
    assert after["category"] == "fault" and after["severity"] == 2
    assert after["sla"]["resolve_due"] is not None


def test_complete_422_403_404_409(client: TestClient) -> None:
    desk, engineer = login(client, "service_desk"), login(client, "engineer")
    ticket = _create(client, desk)
    triage = _task(client, desk, ticket["id"], "triage")
    url = f"/api/tasks/{triage['id']}/complete"
    wrong = client.post(url, json={"data": {"category": "fault", "severity": 7}}, headers=desk)
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} >= {"severity"}
    extra = client.post(url, json={"data": {"category": "question", "colour": "red"}}, headers=desk)
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "colour"
    assert client.post(url, json={"data": {"category": "question"}}, headers=engineer).status_code == 403
    assert client.get(f"/api/tasks/{triage['id']}", headers=engineer).status_code == 403
    assert client.post(url, json={"data": {"category": "question"}}, headers=desk).status_code == 200
    assert client.post(url, json={"data": {"category": "question"}}, headers=desk).status_code == 409
    assert client.post("/api/tasks/00000000-0000-0000-0000-000000000000/complete", json={"data": {}},
                       headers=desk).status_code == 404
    assert client.get("/api/tickets/999999", headers=desk).status_code == 404


def test_engineer_sees_only_engineer_tasks(client: TestClient) -> None:
    desk, engineer = login(client, "service_desk"), login(client, "engineer")
    _create(client, desk)
    assert client.get("/api/tasks", headers=engineer).json() == []
    assert client.get("/api/tasks", params={"role": "service_desk"}, headers=engineer).json() == []


def test_processes_list_and_deploy(client: TestClient) -> None:
    owner, desk = login(client, "process_owner"), login(client, "service_desk")
    ids = {p["process_id"] for p in client.get("/api/processes", headers=owner).json()}
    assert "maintenance_request" in ids
    files = [("files", ("mini.bpmn", (FIXTURES / "mini.bpmn").read_bytes(), "application/xml")),
             ("files", ("mini.json", (FIXTURES / "mini.json").read_bytes(), "application/json"))]
    assert client.post("/api/processes", files=files, headers=desk).status_code == 403
    created = client.post("/api/processes", files=files, headers=owner)
    assert created.status_code == 201, created.text
    assert any(v["process_id"] == "mini" and v["version"] == 1 for v in created.json())


def test_deploy_422_lists_problems(client: TestClient) -> None:
    owner = login(client, "process_owner")
    bad = (FIXTURES / "mini.bpmn").read_text().replace("result = answer * 2", "__import__('os').system('id')")
    response = client.post("/api/processes", headers=owner,
                           files=[("files", ("mini.bpmn", bad.encode(), "application/xml")),
                                  ("files", ("mini.json", (FIXTURES / "mini.json").read_bytes(), "application/json"))])
    assert response.status_code == 422
    problem = response.json()[0]  # the contract's bare list
    assert set(problem) == {"file", "element_id", "line", "message", "message_zh"}
    assert problem["file"] == "mini.bpmn" and problem["element_id"] == "done" and problem["line"]


def test_customers_and_contracts(client: TestClient) -> None:
    manager, engineer = login(client, "manager"), login(client, "engineer")
    assert "Demo Customer" in {c["name"] for c in client.get("/api/customers", headers=engineer).json()}
    body = {"number": "HT-2026-777", "customer": "青山医院", "tier": "premium", "starts_on": "2026-12-01",
            "ends_on": "2027-11-30", "warranty_end": "2027-11-30", "free_scope": ["bugfix"]}
    assert client.post("/api/contracts", json=body, headers=engineer).status_code == 403
    created = client.post("/api/contracts", json=body, headers=manager)
    assert created.status_code == 201 and created.json()["in_warranty"] is True
    bad = client.post("/api/contracts", json={**body, "tier": "gold"}, headers=manager)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "tier"
    numbers = [c["number"] for c in client.get("/api/contracts", params={"customer": "青山医院"},
                                               headers=engineer).json()]
    assert numbers == ["HT-2023-007", "HT-2026-777"]


def test_contact_email_must_be_one_plain_address(client: TestClient) -> None:
    desk = login(client, "service_desk")
    for bad in ("a@x.cn, b@y.cn", "x@y.cn\r\nBcc: z@w.cn", "Bob <b@c.cn>", "nobody"):
        response = client.post("/api/tickets", json={**TICKET, "contact_email": bad}, headers=desk)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "contact_email", bad
