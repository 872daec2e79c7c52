"""Attachments over staff HTTP: upload from the ticket page, list, download safely, CSRF and login enforced."""
from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.support import Desk

LOG = "2026-11-23 10:00:01 ERROR 登录失败 login failed\n".encode()


def csrf_of(html: str) -> str:
    """The hidden csrf field of a staff page."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no csrf field on the page"
    return match.group(1)


def staff_login(client: TestClient, username: str = "engineer") -> str:
    """Log in through the form; the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": "demo", "csrf": token, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    return csrf_of(client.get("/").text)


@pytest.fixture
def ticket_id(facade: Aftercare, clock: FakeClock) -> int:
    return Desk(facade, clock).create()


def upload(client: TestClient, ticket_id: int, csrf: str | None, name: str, data: bytes, content_type: str,
           back: str = "") -> httpx.Response:
    form = {"csrf": csrf, "back": back} if csrf is not None else {"back": back}
    return client.post(f"/tickets/{ticket_id}/attachments", data=form, files={"file": (name, data, content_type)},
                       follow_redirects=False)


def attachment_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/attachments/(\d+)"', html)]


def test_upload_list_and_download(client: TestClient, ticket_id: int) -> None:
    csrf = staff_login(client)
    response = upload(client, ticket_id, csrf, "服务器日志.log", LOG, "text/plain")
    assert response.status_code == 303 and response.headers["location"] == f"/tickets/{ticket_id}"
    page = client.get(f"/tickets/{ticket_id}")
    assert "服务器日志.log" in page.text and "engineer" in page.text and "附件" in page.text
    [attachment_id] = attachment_ids(page.text)
    download = client.get(f"/attachments/{attachment_id}")
    assert download.status_code == 200 and download.content == LOG
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["content-disposition"] == (
        f"attachment; filename=\"_____.log\"; filename*=UTF-8''{quote('服务器日志.log')}")
    assert download.headers["x-content-type-options"] == "nosniff"


def test_upload_from_task_page_goes_back_there(client: TestClient, ticket_id: int, facade: Aftercare,
                                               clock: FakeClock) -> None:
    csrf = staff_login(client, "service_desk")
    task_path = f"/tasks/{Desk(facade, clock).task(ticket_id, 'triage')['id']}"
    assert 'enctype="multipart/form-data"' in client.get(task_path).text
    response = upload(client, ticket_id, csrf, "screen.png", b"\x89PNG\r\n\x1a\n", "image/png", back=task_path)
    assert response.status_code == 303 and response.headers["location"] == task_path
    assert "screen.png" in client.get(task_path).text


def test_back_to_another_site_is_ignored(client: TestClient, ticket_id: int) -> None:
    csrf = staff_login(client)
    response = upload(client, ticket_id, csrf, "a.txt", b"a", "text/plain", back="//evil.example/")
    assert response.headers["location"] == f"/tickets/{ticket_id}"


@pytest.mark.parametrize(("name", "content_type"), [("page.html", "text/html"), ("logo.svg", "image/svg+xml"),
                                                    ("x.html", "text/html; charset=utf-8")])
def test_active_content_is_served_as_bytes(client: TestClient, ticket_id: int, name: str, content_type: str) -> None:
    csrf = staff_login(client)
    upload(client, ticket_id, csrf, name, b"<script>alert(document.cookie)</script>", content_type)
    [attachment_id] = attachment_ids(client.get(f"/tickets/{ticket_id}").text)
    download = client.get(f"/attachments/{attachment_id}")
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith(f'attachment; filename="{name}"')
    assert download.headers["x-content-type-options"] == "nosniff"


def test_too_large_and_empty_show_the_error_page(client: TestClient, ticket_id: int, facade: Aftercare) -> None:
    csrf = staff_login(client)
    response = upload(client, ticket_id, csrf, "big.bin", b"\0" * (10 * 1024 * 1024 + 1), "application/zip")
    assert response.status_code == 422 and "文件过大（最大 10 兆字节）" in response.text
    response = upload(client, ticket_id, csrf, "empty.txt", b"", "text/plain")
    assert response.status_code == 422 and "文件为空" in response.text
    assert facade.list_attachments(ticket_id=ticket_id) == []


def test_upload_without_csrf_is_refused(client: TestClient, ticket_id: int, facade: Aftercare) -> None:
    staff_login(client)
    assert upload(client, ticket_id, None, "a.txt", b"a", "text/plain").status_code == 403
    assert upload(client, ticket_id, "wrong-token", "a.txt", b"a", "text/plain").status_code == 403
    assert facade.list_attachments(ticket_id=ticket_id) == []


def test_not_logged_in_is_sent_to_login(client: TestClient, ticket_id: int, facade: Aftercare) -> None:
    response = upload(client, ticket_id, "whatever", "a.txt", b"a", "text/plain")
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    response = client.get("/attachments/1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/attachments/1"
    assert facade.list_attachments(ticket_id=ticket_id) == []


def test_unknown_ticket_and_attachment(client: TestClient) -> None:
    csrf = staff_login(client)
    assert upload(client, 999_999, csrf, "a.txt", b"a", "text/plain").status_code == 404
    assert client.get("/attachments/999999").status_code == 404
