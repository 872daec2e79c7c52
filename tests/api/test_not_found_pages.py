"""An address with no page (404) or a method a page does not take (405): a browser gets the error page in the
reader's language with a way back (the task list for staff, the portal for customers); the JSON API keeps its JSON."""
from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient

STAFF_MISSES = ["/tickets/1/nothing", "/no-such-page", "/workbench/no-such-page"]
NOT_THERE = {"zh-CN": "此页面或记录不存在。", "en": "This page or record does not exist."}
TASK_LIST = {"zh-CN": "返回任务列表", "en": "Back to the task list"}
PORTAL = {"zh-CN": "前往服务门户", "en": "Go to the service portal"}
NO_METHOD = {"zh-CN": "此页面不接受这种请求", "en": "This page does not take this kind of request."}


def _login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf, "next": "/"})


def _alert(page: str) -> str:
    match = re.search(r'<div class="notice bad" role="alert">(.*?)</div>', page, re.S)
    assert match, page
    return match.group(1).strip()


def _is_page(response: httpx.Response) -> bool:
    return response.headers["content-type"].startswith("text/html") and "<html" in response.text


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_staff_reach_a_missing_page_and_find_their_way_back(client: TestClient, lang: str) -> None:
    _login(client, "engineer")
    for path in STAFF_MISSES:
        page = client.get(path, headers={"Accept-Language": lang, "Accept": "text/html"})
        assert page.status_code == 404 and _is_page(page), path
        assert _alert(page.text) == NOT_THERE[lang]
        assert f'<a href="/">{TASK_LIST[lang]}</a>' in page.text
        assert 'href="/intake"' in page.text  # the menu of a logged-in user
        assert '"detail"' not in page.text


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_logged_out_visitor_gets_the_page_too(client: TestClient, lang: str) -> None:
    for path in STAFF_MISSES:
        page = client.get(f"{path}?lang={lang}")  # no Accept header at all: the address alone decides
        assert page.status_code == 404 and _is_page(page), path
        assert _alert(page.text) == NOT_THERE[lang]
        assert TASK_LIST[lang] not in page.text, "the task list would only ask them to log in"
        assert 'href="/login"' in page.text and f'<a href="/portal">{PORTAL[lang]}</a>' in page.text
        assert 'href="/intake"' not in page.text  # no menu for someone not logged in


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_customers_reach_a_missing_page_and_are_sent_to_the_portal(client: TestClient, lang: str) -> None:
    for path in ["/c/some-token/nothing", "/s/1.abc/nothing", "/my/nothing", "/portal/nothing", "/kb/1/nothing"]:
        page = client.get(path, headers={"Accept-Language": lang})
        assert page.status_code == 404 and _is_page(page), path
        assert _alert(page.text) == NOT_THERE[lang]
        assert f'<a href="/portal">{PORTAL[lang]}</a>' in page.text
        assert TASK_LIST[lang] not in page.text


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_method_a_page_does_not_take_is_a_page_not_json(client: TestClient, lang: str) -> None:
    headers = {"Accept-Language": lang}
    staff = client.put("/login", headers=headers)
    assert staff.status_code == 405 and _is_page(staff)
    assert _alert(staff.text).startswith(NO_METHOD[lang]) and 'href="/login"' in staff.text  # not logged in
    assert "GET" in staff.headers["allow"]  # the framework's Allow header is kept
    customer = client.delete("/portal", headers=headers)
    assert customer.status_code == 405 and _is_page(customer)
    assert _alert(customer.text).startswith(NO_METHOD[lang]) and PORTAL[lang] in customer.text


def test_the_json_api_keeps_its_json(client: TestClient) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "en"}
    for path in ["/api/no-such-thing", "/api/tickets/1/nothing", "/api"]:
        missing = client.get(path, headers=browser)
        assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}, path
    refused = client.delete("/api/token", headers=browser)
    assert refused.status_code == 405 and refused.json() == {"detail": "Method Not Allowed"}
    unauthenticated = client.get("/api/tasks", headers=browser)
    assert unauthenticated.status_code == 401 and unauthenticated.json() == {"detail": "not authenticated"}


def test_docs_schema_and_static_files_still_answer(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "Aftercare"
    assert client.get("/docs").status_code == 200 and "swagger" in client.get("/docs").text.lower()
    assert client.get("/static/favicon.svg").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}
    missing = client.get("/static/no-such-file.css")  # a missing asset is not worth a page
    assert missing.status_code == 404 and "<html" not in missing.text
