"""The JSON API checks a bearer token's session in the thread that runs the endpoint (api/deps.py ApiRoute), before
the endpoint: a token whose session ended changes nothing, on synchronous and asynchronous routes alike, and every
route that needs a token is such a route."""
from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pytest import raises

from api.deps import ApiActor, ApiRoute, api_actor
from tests.api.conftest import login
from tests.api.test_json_api import TICKET


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every API route of the app, through the routers it includes."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI's included router
            yield from _routes(route.original_router.routes)


def test_a_token_whose_session_ended_changes_nothing(client: TestClient) -> None:
    admin, desk = login(client, "admin"), login(client, "service_desk")
    before = client.get("/api/tickets", headers=admin).json()["total"]
    task = client.get("/api/tasks", headers=admin).json()
    assert client.post("/api/token/revoke", headers=desk).status_code == 200

    created = client.post("/api/tickets", headers=desk, json=TICKET)
    assert created.status_code == 401 and created.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/api/tickets", headers=admin).json()["total"] == before  # the endpoint never ran
    if task:
        done = client.post(f"/api/tasks/{task[0]['id']}/complete", headers=desk, json={"data": {}})
        assert done.status_code == 401
        assert client.get(f"/api/tasks/{task[0]['id']}", headers=admin).json()["state"] == "open"
    # an asynchronous endpoint (it reads uploads) checks the session itself, in a thread of its own
    checked = client.post("/api/processes/check", headers=desk, files=[("files", ("a.bpmn", b"<x/>", "text/xml"))])
    assert checked.status_code == 401
    # and a live token of the same role still works on both
    fresh = login(client, "service_desk")
    assert client.post("/api/tickets", headers=fresh, json=TICKET).status_code == 201
    assert client.get("/api/tickets", headers=admin).json()["total"] == before + 1


def test_every_route_that_needs_a_token_checks_its_session_with_the_endpoint(client: TestClient) -> None:
    guarded = []
    for route in _routes(client.app.routes):  # type: ignore[attr-defined]
        if any(d.call is api_actor for d in route.dependant.dependencies):
            guarded.append(route.path)
            assert isinstance(route, ApiRoute), route.path
            wrapped = inspect.unwrap(route.endpoint)
            assert route.checks_session == (not inspect.iscoroutinefunction(wrapped)), route.path
    assert "/api/tasks/{task_id}/complete" in guarded and "/api/tickets" in guarded and len(guarded) >= 40


def _scope_of(actor: ApiActor) -> str:  # would get the session check's stand-in, not the actor
    return actor.role


def test_a_dependency_that_takes_the_actor_is_refused_when_the_app_is_built() -> None:
    router = APIRouter(route_class=ApiRoute)
    with raises(RuntimeError, match="takes the actor"):
        @router.get("/api/scoped")
        def scoped(scope: Annotated[str, Depends(_scope_of)]) -> str:
            return scope
