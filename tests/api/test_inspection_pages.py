"""Inspections over HTTP: the scheduler starts one when due, the e-mail asks the customer to sign, the report
page, its PDF and the JSON API show it, and only staff see them."""
from __future__ import annotations

import re
from datetime import timedelta
from email.header import decode_header, make_header
from email.message import Message

from fastapi.testclient import TestClient

from api.worker import Worker
from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.api.conftest import login
from tests.engine.test_inspection import CHECKLIST, PLAN
from tests.support import SmtpSink, body, link_in


def _staff_login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf, "next": "/"})


def _started(client: TestClient, facade: Aftercare, clock: FakeClock) -> int:
    manager = login(client, "manager")
    moved = client.post("/api/contracts/HT-2026-003/inspection", headers=manager,
                        json={"at": (clock.now() + timedelta(minutes=2)).isoformat()})
    assert moved.status_code == 200, moved.text
    worker = Worker(facade, 1)
    worker.tick()
    assert client.get("/api/inspections", headers=manager).json() == []  # not due yet
    clock.advance(minutes=3)
    worker.tick()
    [inspection] = client.get("/api/inspections", headers=manager).json()
    assert inspection["contract_number"] == "HT-2026-003" and inspection["number"].startswith("XJ-")
    return int(inspection["ticket_id"])


def _subject(message: Message) -> str:
    return str(make_header(decode_header(str(message["Subject"]))))


def _task(client: TestClient, headers: dict[str, str], ticket_id: int, name: str) -> dict:
    [task] = [t for t in client.get(f"/api/tickets/{ticket_id}", headers=headers).json()["tasks"] if t["name"] == name]
    return task


def test_inspection_from_schedule_to_signed_report(client: TestClient, facade: Aftercare, clock: FakeClock,
                                                   smtp: SmtpSink) -> None:
    tid = _started(client, facade, clock)
    manager, engineer = login(client, "manager"), login(client, "engineer")
    done = client.post(f"/api/tasks/{_task(client, manager, tid, 'plan_inspection')['id']}/complete",
                       headers=manager, json={"data": PLAN})
    assert done.status_code == 200, done.text
    bad = client.post(f"/api/tasks/{_task(client, engineer, tid, 'perform_inspection')['id']}/complete",
                      headers=engineer, json={"data": {**CHECKLIST, "disk_usage": 140}})
    assert bad.status_code == 422 and "disk_usage" in bad.text
    done = client.post(f"/api/tasks/{_task(client, engineer, tid, 'perform_inspection')['id']}/complete",
                       headers=engineer, json={"data": CHECKLIST})
    assert done.status_code == 200, done.text
    Worker(facade, 1).tick()

    [mail] = [m for m in smtp.to("ops@east-grid.example") if "巡检报告" in _subject(m)]
    text = body(mail)
    assert "数据盘使用率 92%" in text and "系统总体运行正常" in text
    link = link_in(mail).replace("http://testserver", "")
    page = client.get(link)
    assert page.status_code == 200 and "数据盘使用率 92%" in page.text and "扩容或清理归档日志" in page.text
    signed = client.post(link, data={"signed_by": "周主任", "signoff_confirmed": "true"})
    assert signed.status_code == 200

    report = client.get(f"/api/tickets/{tid}/report", headers=manager).json()
    assert report["signed_by"] == "周主任" and report["risks"][0]["ticket_number"].startswith("AC-")
    _staff_login(client, "engineer")
    html = client.get(f"/tickets/{tid}/report")
    assert html.status_code == 200 and "周主任" in html.text and report["risks"][0]["ticket_number"] in html.text
    listing = client.get("/inspections")
    assert listing.status_code == 200 and report["number"] in listing.text and "周主任" in listing.text
    ticket_page = client.get(f"/tickets/{report['risks'][0]['ticket_id']}")
    assert report["number"] in ticket_page.text  # the risk's ticket links back to its inspection
    pdf = client.get(f"/tickets/{tid}/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_inspection_pages_need_a_login_and_report_needs_an_inspection(client: TestClient, facade: Aftercare,
                                                                       clock: FakeClock) -> None:
    assert client.get("/inspections", follow_redirects=False).status_code in (303, 307, 401)
    assert client.get("/tickets/1/report", follow_redirects=False).status_code in (303, 307, 401)
    assert client.get("/api/inspections").status_code == 401
    engineer = login(client, "engineer")
    assert client.post("/api/contracts/HT-2026-003/inspection", headers=engineer,
                       json={"at": clock.now().isoformat()}).status_code == 403
    assert client.post("/api/contracts/NOPE/inspection", headers=login(client, "manager"),
                       json={"at": clock.now().isoformat()}).status_code == 404
    created = client.post("/api/tickets", headers=login(client, "service_desk"), json={
        "customer": "Demo Customer", "contact_name": "王工", "contact_email": "wang@demo-customer.example",
        "channel": "phone", "title": "登录失败", "description": "500"})
    assert client.get(f"/api/tickets/{created.json()['id']}/report", headers=engineer).status_code == 404
