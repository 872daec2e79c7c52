"""Server-side staff sessions: logout, a password change and disabling a user end every browser session and API
token of that user; sessions idle out and expire; checking one is a read, its `last_seen_at` written at most once
a minute."""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import itsdangerous
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.security import SESSION_COOKIE
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.models import StaffSession
from tests.api.conftest import login as api_login
from tests.api.test_attachments import csrf_of, staff_login


@pytest.fixture
def wall(facade: Aftercare) -> FakeClock:
    """The sessions' wall clock, made to stand still so a test can move it."""
    clock = FakeClock(datetime.now(UTC))
    facade.sessions.clock = clock
    facade.people.wall = clock
    return clock


@pytest.fixture
def other(facade: Aftercare) -> Iterator[TestClient]:
    """A second browser (another cookie jar) on the same app."""
    with TestClient(create_app(facade, run_worker=False)) as second:
        yield second


def test_a_cookie_copied_before_logout_is_refused_after(client: TestClient, other: TestClient) -> None:
    csrf = staff_login(client, "engineer")
    stolen = client.cookies[SESSION_COOKIE]
    other.cookies.set(SESSION_COOKIE, stolen)
    assert other.get("/", follow_redirects=False).status_code == 200  # the copy works while the session lives

    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    replay = other.get("/", follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")
    assert other.get("/kb", follow_redirects=False).text.count("engineer ·") == 0  # no page sees the user any more


def test_a_signed_cookie_without_a_server_session_is_refused(client: TestClient, facade: Aftercare) -> None:
    """The old kind of cookie ({"user": ...}, signed with the secret) no longer logs anyone in."""
    signer = itsdangerous.TimestampSigner(facade.settings.secret_key)
    forged = signer.sign(base64.b64encode(json.dumps({"user": "admin"}).encode())).decode()
    client.cookies.set(SESSION_COOKIE, forged)
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_logout_ends_the_users_api_tokens_too(client: TestClient, other: TestClient) -> None:
    headers = api_login(other, "engineer")
    assert other.get("/api/tasks", headers=headers).status_code == 200
    csrf = staff_login(client, "engineer")
    client.post("/logout", data={"csrf": csrf})
    assert other.get("/api/tasks", headers=headers).status_code == 401
    assert other.get("/api/tasks", headers=api_login(other, "engineer")).status_code == 200  # a new login works


def test_a_password_change_ends_every_other_session_and_keeps_this_browser(client: TestClient, other: TestClient,
                                                                           facade: Aftercare) -> None:
    headers = api_login(other, "manager")
    staff_login(other, "manager")
    csrf = staff_login(client, "manager")
    changed = client.post("/account/password", data={"csrf": csrf, "current": "demo", "new": "a-longer-secret",
                                                     "new2": "a-longer-secret"}, follow_redirects=False)
    assert changed.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 200  # this browser got a fresh session
    assert other.get("/api/tasks", headers=headers).status_code == 401
    assert other.get("/", follow_redirects=False).status_code == 303
    assert other.post("/api/token", data={"username": "manager", "password": "demo"}).status_code == 401
    assert other.post("/api/token", data={"username": "manager", "password": "a-longer-secret"}).status_code == 200


def test_a_wrong_current_password_changes_nothing(client: TestClient) -> None:
    csrf = staff_login(client, "engineer")
    refused = client.post("/account/password", data={"csrf": csrf, "current": "nope", "new": "a-longer-secret",
                                                     "new2": "a-longer-secret"})
    assert refused.status_code == 422 and "当前密码" in refused.text
    assert client.post("/api/token", data={"username": "engineer", "password": "demo"}).status_code == 200


def test_guessing_the_current_password_is_throttled_like_a_login(client: TestClient, facade: Aftercare) -> None:
    """A stolen session cannot guess the password freely on the password form: its guesses count like logins."""
    csrf = staff_login(client, "engineer")
    codes = [client.post("/account/password", data={"csrf": csrf, "current": f"guess{n}", "new": "a-longer-secret",
                                                    "new2": "a-longer-secret"}).status_code for n in range(6)]
    assert codes[:5] == [422] * 5 and codes[5] == 429
    blocked = client.post("/account/password?lang=en", data={"csrf": csrf, "current": "demo",
                                                            "new": "a-longer-secret", "new2": "a-longer-secret"})
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] and "Please wait" in blocked.text
    assert facade.authenticate(username="engineer", password="demo", address="198.51.100.99").name == "engineer"


def test_disabling_a_user_ends_their_token_and_browser_session(client: TestClient, other: TestClient,
                                                              facade: Aftercare) -> None:
    headers = api_login(other, "expert")
    staff_login(other, "expert")
    csrf = staff_login(client, "admin")
    response = client.post("/admin/users/active", data={"csrf": csrf, "username": "expert", "active": "0"},
                           follow_redirects=False)
    assert response.status_code == 303
    assert other.get("/api/tasks", headers=headers).status_code == 401
    assert other.get("/", follow_redirects=False).status_code == 303
    assert other.post("/api/token", data={"username": "expert", "password": "demo"}).status_code == 401


def test_sessions_idle_out_and_expire(client: TestClient, other: TestClient, wall: FakeClock) -> None:
    staff_login(client, "engineer")
    headers = api_login(other, "engineer")
    wall.advance(hours=11)
    assert client.get("/", follow_redirects=False).status_code == 200  # used within 12 h: still alive
    wall.advance(hours=11, minutes=59)
    assert client.get("/", follow_redirects=False).status_code == 200  # idleness counts from the last use
    assert other.get("/api/tasks", headers=headers).status_code == 401  # an API token lives 12 h at most
    wall.advance(hours=12)
    idle = client.get("/", follow_redirects=False)
    assert idle.status_code == 303 and idle.headers["location"].startswith("/login")

    staff_login(client, "engineer")
    for _ in range(4):  # used every 6 hours, the browser session still ends 24 h after login
        wall.advance(hours=6)
        last = client.get("/", follow_redirects=False)
    assert last.status_code == 303 and last.headers["location"].startswith("/login")


def test_checking_a_session_writes_last_seen_at_most_once_a_minute(client: TestClient, facade: Aftercare,
                                                                   wall: FakeClock) -> None:
    headers = api_login(client, "engineer")

    def last_seen() -> datetime:
        with facade.kernel.uow(write=False) as session:
            return session.scalars(select(StaffSession.last_seen_at)).one()

    start = last_seen()
    wall.advance(seconds=30)
    client.get("/api/tasks", headers=headers)
    assert last_seen() == start
    wall.advance(seconds=40)
    client.get("/api/tasks", headers=headers)
    assert last_seen() == wall.now()


def test_only_a_hash_of_the_token_is_stored(client: TestClient, facade: Aftercare) -> None:
    token = client.post("/api/token", data={"username": "engineer", "password": "demo"}).json()["access_token"]
    with facade.kernel.uow(write=False) as session:
        stored = session.scalars(select(StaffSession.token_hash)).one()
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["sid"] not in stored and len(stored) == 64
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.get("/api/tasks", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401


def test_a_login_page_after_logout_gives_a_fresh_form(client: TestClient) -> None:
    csrf = staff_login(client, "engineer")
    client.post("/logout", data={"csrf": csrf})
    assert csrf_of(client.get("/login").text) != csrf
