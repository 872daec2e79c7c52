"""POST /api/token/revoke: a client ends its own bearer token (RFC 7009 in spirit, the token authenticating itself);
that token answers 401 from then on, the user's other tokens and browser sessions carry on."""
from __future__ import annotations

from fastapi.testclient import TestClient

from api.security import SESSION_COOKIE
from tests.api.conftest import login
from tests.api.test_attachments import staff_login


def test_a_revoked_token_answers_401_and_the_users_other_sessions_live_on(client: TestClient) -> None:
    laptop, script = login(client, "engineer"), login(client, "engineer")
    staff_login(client, "engineer")  # and a browser session of the same user
    assert client.get("/api/tasks", headers=script).status_code == 200

    revoked = client.post("/api/token/revoke", headers=script)
    assert revoked.status_code == 200 and revoked.json() == {"revoked": True}

    refused = client.get("/api/tasks", headers=script)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert client.post("/api/token/revoke", headers=script).status_code == 401  # once is all it takes
    assert client.get("/api/tasks", headers=laptop).status_code == 200  # the user's other token
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 200 and "engineer" in page.text  # and the browser session


def test_revoking_takes_a_live_bearer_token_and_nothing_else(client: TestClient) -> None:
    assert client.post("/api/token/revoke").status_code == 401
    assert client.post("/api/token/revoke", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    staff_login(client, "admin")  # a staff cookie alone revokes nothing: the route reads no cookie (no CSRF risk)
    assert client.cookies.get(SESSION_COOKIE)
    assert client.post("/api/token/revoke").status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 200


def test_the_route_is_in_the_openapi_with_its_answer_and_the_bearer_scheme(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/api/token/revoke"]["post"]
    assert operation["security"] == [{"OAuth2PasswordBearer": []}] and "requestBody" not in operation
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert spec["components"]["schemas"][answer]["properties"]["revoked"] == {"type": "boolean", "const": True,
                                                                             "title": "Revoked"}
    assert "401" in operation["responses"]
