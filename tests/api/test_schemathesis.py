"""Schemathesis against the app's own OpenAPI (issue 11 item 2): requests generated from the schema, valid ones and
(where the schema constrains something) invalid ones, for every operation, as an admin (bearer token and a staff
session) and for the JSON API as an engineer too. None may answer a server error (`not_a_server_error`).

The budget is fixed and seeded so the test is the same on every run and stays well under a minute on each database:
a few examples per operation, and the first valid one sent again once per field with that field poisoned (a NUL, a
20-digit number), the issue's probes for every operation. A failure lists each request that broke (as curl)."""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error

from api.security import SESSION_COOKIE
from tests.api.conftest import login

SEED = 11
ADMIN_EXAMPLES = 3  # per operation and mode
ROLE_EXAMPLES = 2
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE


def _negatable(operation: Any) -> bool:
    """Whether the schema constrains anything an invalid request could break: a body, a query, an integer. A path
    of free strings has no invalid value, and Hypothesis would search for one in vain."""
    spec = operation.definition.raw
    return "requestBody" in spec or any(p.get("in") == "query" or p.get("schema", {}).get("type") == "integer"
                                        for p in spec.get("parameters", []))


def _poison(value: Any) -> Any:
    """The value as the issue's probes sent it: text with a NUL in it, an integer no database column holds."""
    if isinstance(value, str):
        return f"{value}\u0000x"
    return 10**20 if isinstance(value, int) and not isinstance(value, bool) else value


def _hostile(operation: Any, case: Any) -> Iterator[Any]:
    """The generated case once per parameter and top-level body field, that one poisoned: a small random budget
    rarely draws a NUL or a huge id, so every operation gets them for sure."""
    parts = {"path_parameters": case.path_parameters or {}, "query": case.query or {},
             "body": case.body if isinstance(case.body, dict) else {}}
    for where, values in parts.items():
        for name, value in values.items():
            if _poison(value) is not value:
                changed = {**parts, where: {**values, name: _poison(value)}}
                yield operation.Case(path_parameters=changed["path_parameters"], query=changed["query"] or None,
                                     body=changed["body"] if isinstance(case.body, dict) else case.body,
                                     headers=dict(case.headers or {}), media_type=case.media_type)


def _fuzz(operation: Any, mode: Any, examples: int, headers: dict[str, str], cookies: dict[str, str]) -> list[str]:
    """Run `examples` generated requests of one operation (and, in the first, each field poisoned); the server
    errors found, as curl commands."""
    failures: list[str] = []
    poisoned: list[bool] = []

    def call(case: Any) -> None:
        try:
            response = case.call(headers=headers, cookies=cookies)
            case.validate_response(response, checks=[not_a_server_error])
        except Exception as exc:  # noqa: BLE001 (collected: one report of every operation that fails)
            failures.append(f"{operation.label} ({mode.value}): {str(exc)[:300]}\n  {case.as_curl_command()[:600]}")

    @seed(SEED)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        call(case)
        if mode == POSITIVE and not poisoned:
            poisoned.append(True)
            for hostile in _hostile(operation, case):
                call(hostile)

    with contextlib.suppress(Unsatisfiable):  # nothing of this kind to generate (no invalid value for it)
        run()
    return failures


def _staff_session(client: TestClient) -> dict[str, str]:
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    client.post("/login", data={"username": "admin", "password": "demo", "next": "/", "csrf": csrf.group(1)},
                follow_redirects=False)
    assert 'name="password"' not in client.get("/").text  # logged in: the staff pages are fuzzed as admin
    return {SESSION_COOKIE: client.cookies[SESSION_COOKIE]}


def _own(client: TestClient, operation: Any, username: str, shared: dict[str, str]) -> dict[str, str]:
    """A token of its own for POST /api/token/revoke, which ends the token it is sent with; the shared one else."""
    return login(client, username) if operation.path == "/api/token/revoke" else shared


def test_no_generated_request_answers_a_server_error(client: TestClient) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    admin, engineer, session = login(client, "admin"), login(client, "engineer"), _staff_session(client)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (POSITIVE, NEGATIVE) if _negatable(operation) else (POSITIVE,):
            failures += _fuzz(operation, mode, ADMIN_EXAMPLES, _own(client, operation, "admin", admin), session)
        if operation.path.startswith("/api/"):
            failures += _fuzz(operation, POSITIVE, ROLE_EXAMPLES, _own(client, operation, "engineer", engineer), {})
    assert operations > 80  # the walk saw the app's operations (pages and JSON API alike)
    assert not failures, "\n".join(failures)
