"""The workbench over HTTP: the JSON contract (DESIGN.md §4 "Workbench"), roles, uploads that are not text, and the
staff pages with their CSRF-checked posts."""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import login

ROOT = Path(__file__).resolve().parents[2]
SLA = (ROOT / "processes" / "sla.dmn").read_text(encoding="utf-8")
TICKET = {"customer": "Demo Customer", "contact_name": "李经理", "contact_email": "li@demo-customer.example",
          "channel": "phone", "title": "报表导出失败", "description": "月度报表导出时提示超时"}


def _upload(name: str, text: str | bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    data = text.encode() if isinstance(text, str) else text
    return [("files", (name, data, "application/xml"))]


def test_check_stores_nothing_and_answers_the_bare_problem_list(client: TestClient) -> None:
    owner = login(client, "process_owner")
    assert client.post("/api/processes/check", headers=owner, files=_upload("sla.dmn", SLA)).json() == []
    broken = client.post("/api/processes/check", headers=owner, files=_upload("sla.dmn", SLA[:500]))
    assert broken.status_code == 422
    assert broken.json()[0]["file"] == "sla.dmn" and broken.json()[0]["line"]
    versions = client.get("/api/processes/maintenance_request/versions", headers=owner).json()
    assert [v["version"] for v in versions] == [1]


def test_deploy_versions_files_and_rollback(client: TestClient) -> None:
    owner = login(client, "process_owner")
    looser = SLA.replace("&quot;PT24H&quot;", "&quot;PT48H&quot;")
    created = client.post("/api/processes", headers=owner, files=_upload("sla.dmn", looser),
                          params={"note": "L2 resolve 48 h"})
    assert created.status_code == 201
    assert {"process_id": "maintenance_request", "version": 2} in created.json()
    assert set(created.json()[0]) == {"process_id", "version"}
    versions = client.get("/api/processes/maintenance_request/versions", headers=owner).json()
    assert [(v["version"], v["deployed_by"], v["note"]) for v in versions][0] == (2, "process_owner",
                                                                                  "L2 resolve 48 h")
    assert set(versions[0]) >= {"version", "hash", "deployed_by", "deployed_at", "running_cases"}

    archive = client.get("/api/processes/maintenance_request/versions/2/files", headers=owner)
    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as files:
        assert "PT48H" in files.read("sla.dmn").decode() and "maintenance_request.bpmn" in files.namelist()

    changes = client.get("/api/processes/maintenance_request/compare", params={"old": 1, "new": 2},
                         headers=owner).json()["changes"]
    sla = next(d for d in changes["dmn"] if d["file"] == "sla.dmn")
    assert changes["files"]["changed"] == ["sla.dmn"] and [r["id"] for r in sla["changed"]] == ["sla_rule_9"]

    rolled = client.post("/api/processes/maintenance_request/versions/1/rollback", headers=owner)
    assert rolled.status_code == 201 and {"process_id": "maintenance_request", "version": 3} in rolled.json()


def test_migration_dry_run_and_move_over_http(client: TestClient) -> None:
    owner, desk = login(client, "process_owner"), login(client, "service_desk")
    ticket = client.post("/api/tickets", json=TICKET, headers=desk).json()
    client.post("/api/processes", headers=owner,
                files=_upload("sla.dmn", SLA.replace("&quot;PT24H&quot;", "&quot;PT48H&quot;")))
    body = {"from_version": 1, "to_version": 2, "dry_run": True}
    dry = client.post("/api/processes/maintenance_request/migrations", json=body, headers=owner).json()
    assert dry == {"cases": [dry["cases"][0]], "moved": 0}
    assert (dry["cases"][0]["ticket_id"], dry["cases"][0]["movable"]) == (ticket["id"], True)
    moved = client.post("/api/processes/maintenance_request/migrations", json={**body, "dry_run": False},
                        headers=owner).json()
    assert moved["moved"] == 1
    kinds = [e["kind"] for e in client.get(f"/api/tickets/{ticket['id']}", headers=owner).json()["timeline"]]
    assert "case_migrated" in kinds
    same = client.post("/api/processes/maintenance_request/migrations",
                       json={"from_version": 2, "to_version": 2, "dry_run": True}, headers=owner)
    assert same.status_code == 422


def test_sla_replay_over_http(client: TestClient) -> None:
    owner = login(client, "process_owner")
    result = client.post("/api/sla/replay", params={"days": 30}, headers=owner, files=_upload("sla.dmn", SLA))
    assert result.status_code == 200
    assert {"tickets", "breached_actual", "breached_candidate", "by_class"} <= set(result.json())
    bad = client.post("/api/sla/replay", params={"days": 30}, headers=owner, files=_upload("sla.dmn", "<x"))
    assert bad.status_code == 422 and bad.json()[0]["file"] == "sla.dmn"
    assert client.post("/api/sla/replay", params={"days": 0}, headers=owner,
                       files=_upload("sla.dmn", SLA)).status_code == 422
    as_field = client.post("/api/sla/replay", data={"days": "7"}, headers=owner, files=_upload("sla.dmn", SLA))
    assert as_field.json()["days"] == 7


def test_roles_and_uploads_that_are_no_text(client: TestClient) -> None:
    engineer, manager, owner = (login(client, r) for r in ("engineer", "manager", "process_owner"))
    assert client.post("/api/processes/check", headers=engineer, files=_upload("sla.dmn", SLA)).status_code == 403
    assert client.get("/api/processes/maintenance_request/versions", headers=engineer).status_code == 403
    assert client.get("/api/processes/maintenance_request/versions", headers=manager).status_code == 200
    assert client.post("/api/processes", headers=manager, files=_upload("sla.dmn", SLA)).status_code == 403
    binary = client.post("/api/processes", headers=owner, files=_upload("x.bpmn", b"\xff\xfe\x00binary"))
    assert binary.status_code == 422 and binary.json()[0]["file"] == "x.bpmn"
    assert client.get("/api/processes/nope/versions", headers=owner).status_code == 404
    twice = client.post("/api/processes/check", headers=owner,
                        files=_upload("sla.dmn", SLA[:100]) + _upload("sla.dmn", SLA))
    assert twice.status_code == 422 and "twice" in twice.json()[0]["message"]
    noted = client.post("/api/processes", headers=owner, data={"note": "as a form field"},
                        files=_upload("sla.dmn", SLA.replace("&quot;PT4H&quot;", "&quot;PT5H&quot;")))
    assert noted.status_code == 201
    assert client.get("/api/processes/maintenance_request/versions",
                      headers=owner).json()[0]["note"] == "as a form field"
    assert client.get("/api/processes/maintenance_request/versions/2147483648/files",
                      headers=owner).status_code == 422
    assert client.post("/api/processes/maintenance_request/migrations", headers=owner,
                       json={"from_version": 1}).status_code == 422


def _staff(client: TestClient, username: str) -> str:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf.group(1), "next": "/"})
    found = re.search(r'data-csrf="([^"]+)"', client.get("/workbench/sla").text)
    assert found
    return found.group(1)


def test_workbench_pages_and_their_posts(client: TestClient) -> None:
    csrf = _staff(client, "process_owner")
    home = client.get("/workbench")
    assert home.status_code == 200 and "maintenance_request" in home.text and "sla.dmn" in home.text
    fault_handling = re.search(r'<tr data-process="fault_handling">(.*?)</tr>', home.text, re.S)
    assert fault_handling and "随维护请求运行" in fault_handling.group(1)  # called, not started itself
    complaint = re.search(r'<tr data-process="complaint">(.*?)</tr>', home.text, re.S)
    assert complaint and "随维护请求运行" in complaint.group(1)
    assert client.get("/workbench/processes/maintenance_request").status_code == 200
    assert client.get("/workbench/edit/maintenance_request.bpmn").status_code == 200
    assert client.get("/workbench/edit/nothing.bpmn").status_code == 404
    forged = client.post("/workbench/check", files=_upload("sla.dmn", SLA), data={"csrf": "forged"})
    assert forged.status_code == 403
    checked = client.post("/workbench/check", files=_upload("sla.dmn", SLA[:300]), data={"csrf": csrf})
    assert checked.status_code == 422 and checked.json()[0]["file"] == "sla.dmn"
    preview = client.post("/workbench/forms/preview", data={"csrf": csrf, "name": "triage.json",
                                                            "schema": (ROOT / "forms" / "triage.json").read_text()})
    assert preview.status_code == 200 and 'name="category"' in preview.text
    bad = client.post("/workbench/forms/preview", data={"csrf": csrf, "schema": '{"type": "array"}'})
    assert bad.status_code == 422 and bad.json()[0]["message"]
    deployed = client.post("/workbench/deploy", data={"csrf": csrf, "note": "48 h"},
                           files=_upload("sla.dmn", SLA.replace("&quot;PT24H&quot;", "&quot;PT48H&quot;")))
    assert deployed.status_code == 201 and {"process_id": "maintenance_request", "version": 2} in deployed.json()
    compare = client.get("/workbench/processes/maintenance_request/compare", params={"old": 1, "new": 2})
    assert compare.status_code == 200 and "sla_rule_9" in compare.text
    triage = json.loads((ROOT / "forms" / "triage.json").read_text())
    retitled = json.dumps({**triage, "title": "分类定级（新）"}, ensure_ascii=False)
    assert client.post("/workbench/deploy", data={"csrf": csrf, "note": "title"},
                       files=_upload("triage.json", retitled)).status_code == 201
    compare = client.get("/workbench/processes/maintenance_request/compare", params={"old": 2, "new": 3}).text
    assert f'~ <code>title</code>: {triage["title"]} → 分类定级（新）' in compare  # what changed, not only the name
    newest = client.get("/workbench/processes/maintenance_request/compare").text  # no versions named: 3 against 2
    assert "v2 → v3" in newest and "分类定级（新）" in newest
    lone = client.get("/workbench/processes/fault_handling/compare", follow_redirects=False)
    assert (lone.status_code, lone.headers["location"]) == (303, "/workbench/processes/fault_handling")


def test_an_engineer_has_no_workbench(client: TestClient) -> None:
    _ = login(client, "engineer")
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    client.post("/login", data={"username": "engineer", "password": "demo", "csrf": csrf.group(1), "next": "/"})
    assert client.get("/workbench").status_code == 403
    assert "/workbench" not in client.get("/").text  # no menu entry either


def test_a_manager_reads_procedures_but_gets_no_modeler(client: TestClient) -> None:
    _staff(client, "manager")
    page = client.get("/workbench/edit/maintenance_request.bpmn")
    assert page.status_code == 200
    assert "bpmn-navigated-viewer" in page.text and "bpmn-modeler" not in page.text
    assert 'data-action="deploy"' not in page.text
    form = client.get("/workbench/edit/triage.json")
    assert "readonly" in form.text and 'data-action="deploy"' not in form.text


def test_the_comparison_words_each_change_in_the_readers_language(client: TestClient) -> None:
    csrf = _staff(client, "process_owner")
    bpmn = (ROOT / "processes" / "maintenance_request.bpmn").read_text(encoding="utf-8")
    changed = bpmn.replace('<bpmn:userTask id="triage" name="分类定级 Triage">',
                           '<bpmn:userTask id="triage" name="分类定级与派单 Triage">', 1).replace(
        """<spiffworkflow:property name="due" value="add_working_hours(created_at, 0.25, '24x7')"/>""",
        """<spiffworkflow:property name="due" value="add_working_hours(created_at, 0.5, '24x7')"/>""", 1)
    deployed = client.post("/workbench/deploy", data={"csrf": csrf, "note": "rename"},
                           files=_upload("maintenance_request.bpmn", changed))
    assert deployed.status_code == 201
    page = "/workbench/processes/maintenance_request/compare"
    chinese = client.get(page, params={"old": 1, "new": 2, "lang": "zh-CN"}).text
    assert "名称: &#39;分类定级 Triage&#39; → &#39;分类定级与派单 Triage&#39;" in chinese
    assert "时限: add_working_hours(created_at, 0.25, &#39;24x7&#39;) → " in chinese and "property due" not in chinese
    english = client.get(page, params={"old": 1, "new": 2, "lang": "en"}).text
    assert "name: &#39;分类定级 Triage&#39; → &#39;分类定级与派单 Triage&#39;" in english
    assert "due: add_working_hours(created_at, 0.25, &#39;24x7&#39;) → " in english
