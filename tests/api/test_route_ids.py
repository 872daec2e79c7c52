"""Every route with an integer path parameter (a database id, a version) answers a client error, never a 500, for
an id no row can have: 0, a negative one, and one beyond what a database integer holds (api/deps.py DbId)."""
from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import routing
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.deps import MAX_DB_ID
from tests.api.conftest import login

IDS = ["0", "-1", "99999999999999999999"]
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _int_params(route: APIRoute) -> list[str]:
    """Its integer path parameters, and the ids it reads from a string itself (/tickets/{ticket_id} takes a number
    too, /kb/{article_id} a slug)."""
    return [p.name for p in route.dependant.path_params
            if p.field_info.annotation is int or (p.name.endswith("_id") and p.name != "process_id")]


def _entries(client: TestClient) -> list[Any]:
    """The app's routes, those of included routers with their full paths."""
    routes = list(client.app.routes)  # type: ignore[attr-defined]
    if hasattr(routing, "iter_route_contexts"):  # FastAPI 0.16x keeps an included router as one entry
        routes = list(routing.iter_route_contexts(routes))
    return routes


def _routes(client: TestClient) -> list[tuple[str, str, list[str]]]:
    """(method, path, its integer path parameters) of every route that has one."""
    found = []
    for entry in _entries(client):
        route = getattr(entry, "original_route", entry)
        if isinstance(route, APIRoute) and (names := _int_params(route)):
            found += [(method, str(entry.path), names) for method in sorted(entry.methods) if method != "HEAD"]
    return found


def _url(path: str, ints: list[str], value: str) -> str:
    """The path with every integer parameter `value` and any other one a plain word."""
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: value if m.group(1) in ints else "x", path)


def test_the_walk_finds_the_routes_that_take_ids(client: TestClient) -> None:
    paths = {(method, path) for method, path, _ in _routes(client)}
    for expected in [("POST", "/tickets/{ticket_id}/messages"), ("GET", "/tickets/{ticket_id}/match"),
                     ("GET", "/tickets/{ticket_id}/service-form"), ("GET", "/tickets/{ticket_id}/service-form.pdf"),
                     ("POST", "/api/tickets/{ticket_id}/messages"), ("GET", "/api/tickets/{ticket_id}/messages"),
                     ("GET", "/api/tickets/{ticket_id}"), ("GET", "/s/{token}/files/{attachment_id}")]:
        assert expected in paths


def test_every_integer_id_of_staff_and_the_api_is_a_db_id(client: TestClient) -> None:
    """The customer's pages (/s/, /my/) bound their ids in the engine and answer their own 404 page instead."""
    unbounded = []
    for entry in _entries(client):
        route = getattr(entry, "original_route", entry)
        if not isinstance(route, APIRoute) or str(entry.path).startswith(("/s/", "/my/")):
            continue
        for p in route.dependant.path_params:
            limits = [(getattr(m, "ge", None), getattr(m, "le", None)) for m in p.field_info.metadata]
            if p.field_info.annotation is int and sorted(limits, key=str) != [(1, None), (None, MAX_DB_ID)]:
                unbounded.append(f"{entry.path} {p.name}")
    assert unbounded == []


def test_no_route_answers_500_for_an_id_no_row_can_have(client: TestClient) -> None:
    client = TestClient(client.app, raise_server_exceptions=False)  # every failure listed, not the first raised
    bearer = login(client, "admin")
    page = client.post("/login", data={"username": "admin", "password": "demo", "next": "/",
                                       "csrf": _csrf(client.get("/login").text)}, follow_redirects=False)
    assert page.status_code == 303
    csrf = _csrf(client.get("/tickets/new").text)
    failures = []
    for method, path, ints in _routes(client):
        for value in IDS:
            url = _url(path, ints, value)
            kwargs: dict[str, Any] = {"headers": bearer}
            if method in BODY_METHODS:
                if path.startswith("/api/"):
                    kwargs["json"] = {"body": "hello", "title": "t", "values": {}}
                else:
                    kwargs["data"] = {"csrf": csrf, "body": "hello", "kind": "reply"}
            response = client.request(method, url, follow_redirects=False, **kwargs)
            if response.status_code >= 500:
                failures.append(f"{method} {url}: {response.status_code}")
    assert not failures, "\n".join(failures)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


@pytest.mark.parametrize("value", IDS)
def test_an_id_out_of_range_is_refused_before_the_handler_runs(client: TestClient, value: str) -> None:
    """The shared DbId type bounds the parameter: 422 naming it, for the JSON API as for pages."""
    response = client.get(f"/api/tickets/{value}/messages", headers=login(client, "admin"))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["ticket_id"]
