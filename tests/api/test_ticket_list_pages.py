"""The ticket list over HTTP: the JSON contract, the staff page and search box, numbers that open tickets,
the CSV and XLSX exports and saved views."""
from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.api.conftest import login
from tests.api.test_attachments import csrf_of, staff_login
from tests.support import Desk


@pytest.fixture
def two(facade: Aftercare, clock: FakeClock) -> dict[str, int]:
    """A login fault at Demo Customer and a printer question at 青山医院."""
    desk = Desk(facade, clock)
    login_id = desk.create()
    desk.triage(login_id, category="fault", severity=1)
    printer = desk.create(customer="青山医院", title="打印机卡纸", description="门诊二楼", channel="web")
    return {"login": login_id, "printer": printer}


def test_json_list_matches_the_contract(client: TestClient, two: dict[str, int]) -> None:
    headers = login(client, "manager")
    body = client.get("/api/tickets", headers=headers).json()
    assert body["total"] == 2 and len(body["items"]) == 2
    item = body["items"][1]
    assert {"id", "number", "title", "customer", "status", "category", "severity"} <= set(item)
    assert (item["id"], item["title"], item["customer"], item["category"], item["severity"]) == (
        two["login"], "系统无法登录", "Demo Customer", "fault", 1)
    found = client.get("/api/tickets", params={"q": "登录"}, headers=headers).json()
    assert [i["id"] for i in found["items"]] == [two["login"]] and found["total"] == 1
    assert client.get("/api/tickets", params={"customer": "青山医院", "severity": "", "breached": "false"},
                      headers=headers).json()["total"] == 1
    paged = client.get("/api/tickets", params={"per_page": 1, "page": 2}, headers=headers).json()
    assert paged["total"] == 2 and [i["id"] for i in paged["items"]] == [two["login"]]


@pytest.mark.parametrize(("params", "field"), [
    ({"per_page": "201"}, "per_page"), ({"page": "0"}, "page"), ({"page": "9" * 30}, "page"),
    ({"severity": "high"}, "severity"), ({"breached": "perhaps"}, "breached"), ({"status": "'; drop"}, "status"),
    ({"created_from": "yesterday"}, "created_from"), ({"sort": "password"}, "sort")])
def test_json_list_refuses_bad_values_by_name(client: TestClient, two: dict[str, int], params: dict[str, str],
                                              field: str) -> None:
    response = client.get("/api/tickets", params=params, headers=login(client, "engineer"))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_json_list_needs_a_token(client: TestClient) -> None:
    assert client.get("/api/tickets").status_code == 401


@pytest.mark.parametrize("role", ["service_desk", "engineer", "expert", "manager", "product", "process_owner",
                                  "admin"])
def test_every_staff_role_sees_the_list_and_the_search_box(client: TestClient, two: dict[str, int],
                                                           role: str) -> None:
    staff_login(client, role)
    page = client.get("/tickets").text
    assert 'id="site-search"' in page and 'href="#main"' in page and "打印机卡纸" in page and "系统无法登录" in page
    assert 'id="site-search"' in client.get("/").text


def test_search_box_finds_and_a_number_opens_its_ticket(client: TestClient, facade: Aftercare,
                                                        two: dict[str, int]) -> None:
    staff_login(client, "service_desk")
    page = client.get("/tickets", params={"q": "登录"}).text
    assert "系统无法登录" in page and "打印机卡纸" not in page
    number = facade.get_ticket(ticket_id=two["printer"], actor=facade.actor(username="admin"))["number"]
    opened = client.get("/tickets", params={"q": number}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/tickets/{two['printer']}"
    by_number = client.get(f"/tickets/{number}", follow_redirects=False)
    assert by_number.status_code == 303 and by_number.headers["location"] == f"/tickets/{two['printer']}"
    assert "打印机卡纸" in client.get(f"/tickets/{number}").text
    assert client.get("/tickets/AC-2026-999999").status_code == 404
    assert client.get("/tickets/" + "9" * 25).status_code == 404
    assert client.get("/tickets", params={"q": "AC-2026-999999"}).status_code == 200  # no such number: a search


def test_the_page_keeps_filters_and_sort_in_its_links(client: TestClient, two: dict[str, int]) -> None:
    staff_login(client, "manager")
    page = client.get("/tickets", params={"customer": "医院", "sort": "number", "desc": "false",
                                          "per_page": "1", "severity": "", "page": "1"}).text
    assert "打印机卡纸" in page and "系统无法登录" not in page
    assert "/tickets.csv?customer=%E5%8C%BB%E9%99%A2&amp;sort=number&amp;desc=false&amp;per_page=1" in page
    bad = client.get("/tickets", params={"severity": "x", "page": "-1"})
    assert bad.status_code == 200 and "notice" in bad.text and "打印机卡纸" in bad.text


def test_exports_hold_the_whole_list(client: TestClient, two: dict[str, int]) -> None:
    staff_login(client, "manager")
    response = client.get("/tickets.csv", params={"per_page": "1", "page": "2", "lang": "en"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Ticket", "Title", "Customer", "Status"]
    assert [r[1] for r in rows[1:]] == ["打印机卡纸", "系统无法登录"]
    assert rows[2][5] == "1" and rows[2][6] == "phone"
    xlsx = client.get("/tickets.xlsx", params={"q": "卡纸"})
    assert xlsx.headers["content-disposition"].endswith('tickets-20261123-1000.xlsx"')  # Beijing time, as listed
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert len(values) == 2 and values[1][1] == "打印机卡纸" and values[1][2] == "青山医院"
    assert client.get("/tickets.pdf").status_code == 404


def test_saved_views_from_the_page(client: TestClient, two: dict[str, int]) -> None:
    csrf = staff_login(client, "engineer")
    saved = client.post("/ticket-views", data={"csrf": csrf, "name": "青山", "query": "customer=青山&page=3"},
                        follow_redirects=False)
    assert saved.status_code == 303
    page = client.get("/tickets").text
    assert ">青山</a>" in page and "/tickets?customer=%E9%9D%92%E5%B1%B1" in page
    view_id = page.split('action="/ticket-views/')[1].split("/")[0]
    assert client.post(f"/ticket-views/{view_id}/delete", data={"csrf": csrf_of(page)},
                       follow_redirects=False).status_code == 303
    assert ">青山</a>" not in client.get("/tickets").text
    assert client.post("/ticket-views", data={"name": "x", "query": ""}).status_code == 403


def test_switching_language_keeps_the_filters(client: TestClient, two: dict[str, int]) -> None:
    staff_login(client, "manager")
    page = client.get("/tickets", params={"status": "unclosed", "severity": "1", "lang": "zh-CN", "done": "1"}).text
    assert '共 1 张工单' in page
    # the filters kept, a notice shown once after an action ("done") not shown again
    assert '<a href="?status=unclosed&amp;severity=1&amp;lang=en" class="lang">English</a>' in page
    english = client.get("/tickets?status=unclosed&severity=1&lang=en").text
    assert "1 tickets" in english and "系统无法登录" in english and "打印机卡纸" not in english
    assert '<a href="?status=unclosed&amp;severity=1&amp;lang=zh-CN" class="lang">中文</a>' in english


def test_the_overdue_and_service_filters(client: TestClient, facade: Aftercare, clock: FakeClock,
                                         two: dict[str, int]) -> None:
    headers = login(client, "manager")

    def listed(**params: str) -> list[int]:
        return sorted(i["id"] for i in client.get("/api/tickets", params=params, headers=headers).json()["items"])
    assert listed(overdue="true") == []
    Desk(facade, clock).travel(minutes=20)  # the printer question's 15-minute triage is past due, nothing else
    assert listed(overdue="true") == [two["printer"]]
    Desk(facade, clock).travel(hours=3)  # and the severity-1 fault's one-hour response step
    assert listed(overdue="true") == sorted(two.values())
    assert listed(service="true") == sorted(two.values())  # no report or article case among them
    staff_login(client, "manager")
    page = client.get("/tickets", params={"overdue": "true"}).text
    assert 'id="t-overdue" type="checkbox" name="overdue" value="true" checked' in page and '共 2 张工单' in page
