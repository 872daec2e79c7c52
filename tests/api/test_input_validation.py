"""Every input validated at the edge (issue 11 item 2): the probes of the issue answer a client error naming the
field, never a 500, on SQLite and PostgreSQL; error bodies quote no more than an excerpt of what was sent."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.validation import Tier, is_email
from engine.commands import Aftercare
from engine.contracts import TIERS
from engine.errors import NotFound, ValidationFailed
from engine.models import Customer, Ticket
from engine.users import Actor
from tests.api.conftest import login

TICKET = {"customer": "Demo Customer", "contact_name": "王工", "contact_email": "wang@demo-customer.example",
          "channel": "phone", "title": "系统无法登录", "description": "所有用户登录报 500"}


@pytest.fixture
def server(client: TestClient) -> TestClient:
    """The app answering 500 instead of raising, so a server error is an answer the test sees."""
    return TestClient(client.app, raise_server_exceptions=False)


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def _tickets(facade: Aftercare) -> int:
    return int(facade.run_in_unit(lambda s: s.query(Ticket).count()))


@pytest.mark.parametrize("ticket_id", ["2147483648", "99999999999999999999", "-1", "0"])
def test_an_id_no_column_can_hold_is_refused_not_a_server_error(server: TestClient, ticket_id: str) -> None:
    response = server.get(f"/api/tickets/{ticket_id}", headers=login(server, "admin"))
    assert response.status_code == 422 and _fields(response) == ["ticket_id"]


def test_an_id_in_range_that_no_ticket_has_is_not_found(server: TestClient) -> None:
    assert server.get("/api/tickets/2147483647", headers=login(server, "admin")).status_code == 404


def test_a_nul_in_a_title_is_refused_naming_the_field(server: TestClient, facade: Aftercare) -> None:
    before = _tickets(facade)
    response = server.post("/api/tickets", json={**TICKET, "title": "a\u0000b"}, headers=login(server, "admin"))
    assert response.status_code == 422 and _fields(response) == ["title"]
    assert "U+0000" in response.json()["errors"][0]["message"] and _tickets(facade) == before


@pytest.mark.parametrize("bad", ["\u0007", "\u001b[31m", "\u007f", "\u0085", "\ud800", "\uffff"])
def test_other_control_characters_are_refused_in_any_field_at_any_depth(server: TestClient, bad: str) -> None:
    headers = {**login(server, "admin"), "Content-Type": "application/json"}  # JSON escapes: "\ud800" as sent
    ticket = server.post("/api/tickets", content=json.dumps({**TICKET, "description": f"x{bad}y"}), headers=headers)
    assert ticket.status_code == 422 and _fields(ticket) == ["description"]
    nested = server.post("/api/tasks/nope/complete", content=json.dumps({"data": {"comment": [f"a{bad}"]}}),
                         headers=headers)
    assert nested.status_code == 422 and nested.json()["errors"][0]["loc"] == ["body", "data", "comment", 0]


def test_tabs_and_line_breaks_pass_in_text_but_not_in_a_title(server: TestClient) -> None:
    headers = login(server, "admin")
    ok = server.post("/api/tickets", json={**TICKET, "description": "第一行\r\n\t第二行"}, headers=headers)
    assert ok.status_code == 201 and ok.json()["description"] == "第一行\r\n\t第二行"
    two_lines = server.post("/api/tickets", json={**TICKET, "title": "a\nb"}, headers=headers)
    assert two_lines.status_code == 422 and _fields(two_lines) == ["title"]


def test_a_nul_in_a_task_id_is_refused_and_an_unknown_or_overlong_one_is_not_found(server: TestClient) -> None:
    headers = login(server, "admin")
    nul = server.get("/api/tasks/%00", headers=headers)
    assert nul.status_code == 422 and _fields(nul) == ["task_id"]
    assert server.get("/api/tasks/" + "0" * 36, headers=headers).status_code == 404
    overlong = server.get("/api/tasks/" + "a" * 5000, headers=headers)
    assert overlong.status_code == 422 and _fields(overlong) == ["task_id"]
    assert server.post("/api/tasks/%00/complete", json={"data": {}}, headers=headers).status_code == 422


def test_query_strings_and_form_posts_are_checked_too(server: TestClient) -> None:
    query = server.get("/api/tickets?q=a%00b", headers=login(server, "admin"))
    assert query.status_code == 422 and _fields(query) == ["q"]
    big = server.get("/api/tasks?ticket_id=99999999999999999999", headers=login(server, "admin"))
    assert big.status_code == 422 and _fields(big) == ["ticket_id"]
    form = server.post("/login", data={"username": "admin\u0000", "password": "demo"})
    assert form.status_code == 422 and _fields(form) == ["username"]
    page = server.post("/login", data={"username": "admin\u0000", "password": "demo"}, headers={"Accept": "text/html"})
    assert page.status_code == 422 and "text/html" in page.headers["content-type"] and "username" in page.text


def test_a_refused_page_request_keeps_the_staff_menu(client: TestClient) -> None:
    """A logged-in user who sends a bad character to a page gets the 422 page with their menu, not one that looks
    logged out (found by a fresh-clone walk)."""
    from tests.api.test_attachments import staff_login
    staff_login(client, "manager")
    page = client.get("/tickets/%00", headers={"Accept": "text/html"})
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    assert 'action="/logout"' in page.text and "manager" in page.text


def _multipart(filename: str, note: str) -> tuple[bytes, dict[str, str]]:
    """A multipart body as sent on the wire (httpx would percent-escape control characters in a file name)."""
    body = (f'--B\r\nContent-Disposition: form-data; name="note"\r\n\r\n{note}\r\n'
            f'--B\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
            'Content-Type: text/xml\r\n\r\n<x/>\r\n--B--\r\n').encode()
    return body, {"Content-Type": "multipart/form-data; boundary=B"}


@pytest.mark.parametrize(("filename", "note", "field"), [("a\u0001.bpmn", "ok", "files"),
                                                         ("a.bpmn", "a\u0000b", "note")])
def test_multipart_file_names_and_fields_are_checked(server: TestClient, filename: str, note: str,
                                                      field: str) -> None:
    body, headers = _multipart(filename, note)
    response = server.post("/api/processes", content=body, headers={**headers, **login(server, "process_owner")})
    assert response.status_code == 422 and _fields(response) == [field]


@pytest.mark.parametrize(("field", "value"), [("language", "zh-CN-with-a-long-tail"), ("tier", "gold"),
                                              ("email", "not an address"), ("email", "a@b"),
                                              ("email", "wang@example.com\r\nBcc: x@y.z"), ("name", "n" * 201)])
def test_a_customer_is_checked_against_its_columns(server: TestClient, facade: Aftercare, field: str,
                                                   value: str) -> None:
    body = {"name": "临江测试医院", "tier": "premium", "email": "it@qingshan.example", "language": "en", field: value}
    response = server.post("/api/customers", json=body, headers=login(server, "admin"))
    assert response.status_code == 422 and _fields(response) == [field]
    assert facade.run_in_unit(lambda s: s.query(Customer).filter_by(name="临江测试医院").count()) == 0


def test_a_good_customer_is_saved(server: TestClient) -> None:
    body = {"name": "临江测试医院", "tier": "premium", "email": "it@qingshan.example", "language": "en"}
    assert server.post("/api/customers", json=body, headers=login(server, "admin")).status_code == 201
    listed = server.get("/api/customers", headers=login(server, "engineer")).json()
    assert {"name": "临江测试医院", "tier": "premium"} in [{k: c[k] for k in ("name", "tier")} for c in listed]


def test_the_tiers_of_the_api_are_the_engines() -> None:
    assert Tier.__args__ == TIERS  # type: ignore[attr-defined]


@pytest.mark.parametrize(("address", "valid"), [("wang@example.com", True), ("a.b+c@mail.example.cn", True),
                                                ("王工@例子.中国", True), ("wang@example", False),
                                                ("wang@@example.com", False), ("wang@example..com", False),
                                                (".wang@example.com", False), ("wang @example.com", False),
                                                ("<wang@example.com>", False), ("wang@-example.com", False),
                                                ("w" * 65 + "@example.com", False), ("wang@1.2.3.4", False)])
def test_email_addresses_are_validated(address: str, valid: bool) -> None:
    assert is_email(address) is valid


def test_a_ten_megabyte_field_is_not_echoed_back(server: TestClient) -> None:
    huge = "x" * 10_000_000
    api = server.post("/api/tickets", json={**TICKET, "description": huge}, headers=login(server, "admin"))
    assert api.status_code == 422 and _fields(api) == ["description"] and len(api.content) < 2000
    form = {"contact_name": "周工", "contact_email": "zhou@demo-customer.example", "title": "t"}
    portal = server.post("/portal", data={**form, "description": huge})  # the form parser's 1 MB limit: 400
    assert portal.status_code == 400 and len(portal.content) < 2000
    long = server.post("/portal", data={**form, "description": "y" * 30_000})  # fits the parser, not the column
    assert long.status_code == 422 and 'id="err-description"' in long.text and not re.search("y{20001}", long.text)


def test_a_contract_and_its_inspection_take_only_dates_the_calendar_knows(server: TestClient) -> None:
    headers = login(server, "admin")
    contract = {"number": "HT-X-1", "customer": "Demo Customer", "starts_on": "0001-01-01", "ends_on": "9999-12-31"}
    response = server.post("/api/contracts", json=contract, headers=headers)
    assert response.status_code == 422 and set(_fields(response)) == {"starts_on", "ends_on"}
    naive = server.post("/api/contracts/HT-2026-003/inspection", json={"at": "2027-01-04T09:00:00"}, headers=headers)
    assert naive.status_code == 422 and _fields(naive) == ["at"]


def test_the_database_refuses_what_the_edge_missed_as_a_client_error(facade: Aftercare) -> None:
    """The net under the edge (engine/uow.py): a value the database cannot store is a 422, never a 500."""
    admin = Actor("admin", "admin")
    with pytest.raises((ValidationFailed, NotFound)) as big:
        facade.get_ticket(ticket_id=10**20, actor=admin)
    assert big.value.status in (404, 422)
    with pytest.raises(ValidationFailed) as surrogate:
        facade.add_customer(name="bad \ud800 name")
    assert surrogate.value.status == 422
    if facade.db.dialect.name == "postgresql":  # SQLite stores a NUL; PostgreSQL's driver refuses it
        with pytest.raises(ValidationFailed) as nul:
            facade.add_customer(name="bad \u0000 name")
        assert "NUL" in nul.value.message


def test_staff_form_posts_answer_a_clear_error_for_values_no_column_holds(server: TestClient,
                                                                         facade: Aftercare) -> None:
    """Values longer than their columns or beyond an integer, through the staff pages: a page saying so (4xx);
    PostgreSQL would refuse them with a server error, SQLite would store them."""
    form = server.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    server.post("/login", data={"username": "admin", "password": "demo", "next": "/", "csrf": csrf})
    csrf = re.search(r'name="csrf" value="([^"]+)"', server.get("/tickets/new").text).group(1)  # type: ignore[union-attr]
    long = "长" * 400
    ticket_id = facade.create_ticket(**TICKET, actor=Actor("admin", "admin"))["id"]
    customer_id = facade.list_customers()[0]["id"]
    posts = {"/intake": {"customer": "Demo Customer", "contact_name": long, "contact_email": "a@b.cn",
                         "channel": "phone", "title": long, "description": "x"},
             "/admin/contracts": {"number": long, "customer": "Demo Customer", "tier": "standard",
                                  "starts_on": "2026-01-01", "ends_on": "2027-01-01", "calendar": "working",
                                  "inspection_months": "99999999999"},
             f"/admin/contacts/{customer_id}/contacts": {"name": long, "email": "x@y.cn", "phone": "1" * 80},
             "/kb/new": {"title": long, "body": "b", "module": long, "tags": long},
             "/ticket-views": {"name": long, "query": "q=" + "x" * 5000},
             f"/tickets/{ticket_id}/match": {"customer": long}}
    answers = {path: server.post(path, data={**data, "csrf": csrf}, follow_redirects=False).status_code
               for path, data in posts.items()}
    assert all(400 <= status < 500 for status in answers.values()), answers
    assert _tickets(facade) == 1
