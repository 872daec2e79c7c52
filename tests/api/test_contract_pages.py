"""The contracts admin page: everyone on staff reads, managers and admins save."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient


def _login(client: TestClient, username: str) -> str:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf, "next": "/"})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/contracts").text).group(1)


def test_manager_adds_a_contract_from_the_page(client: TestClient) -> None:
    csrf = _login(client, "manager")
    page = client.get("/admin/contracts")
    assert "HT-2025-018" in page.text and "质保期内" in page.text and "已过质保" in page.text
    assert "解决 2小时" in page.text and "resolve_within" not in page.text  # the premium contract's override
    saved = client.post("/admin/contracts", data={
        "csrf": csrf, "number": "HT-2026-555", "customer": "青山医院", "tier": "premium",
        "starts_on": "2026-12-01", "ends_on": "2027-11-30", "warranty_end": "2027-11-30",
        "free_scope": ["bugfix", "report"], "calendar": "working", "inspection_months": "6"})
    assert saved.status_code == 200 and "合同已保存" in saved.text and "HT-2026-555" in saved.text
    assert 'name="free_scope" value="new_module"' in page.text  # the change assessment's kinds, as checkboxes
    row = re.search(r"HT-2026-555.*?</tr>", saved.text, re.S).group(0)
    assert "缺陷修复, 报表" in row
    bad = client.post("/admin/contracts", data={"csrf": csrf, "number": "X", "customer": "青山医院",
                                                "starts_on": "2026-12-01", "ends_on": "2026-01-01"})
    assert bad.status_code == 422 and "ends_on" in bad.text


def test_an_engineer_reads_but_cannot_save(client: TestClient) -> None:
    csrf = _login(client, "engineer")
    assert 'action="/admin/contracts"' not in client.get("/admin/contracts").text
    refused = client.post("/admin/contracts", data={"csrf": csrf, "number": "HT-X", "customer": "青山医院",
                                                    "starts_on": "2026-12-01", "ends_on": "2027-01-01"})
    assert refused.status_code == 403
