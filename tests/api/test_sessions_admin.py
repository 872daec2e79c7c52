"""The staff users page over HTTP: admins only, CSRF on every form, field errors in the reader's language, and the
guards (not oneself, not the last admin)."""
from __future__ import annotations

from fastapi.testclient import TestClient

from engine.commands import Aftercare
from engine.users import Actor
from tests.api.test_attachments import staff_login

ADMIN = Actor("admin", "admin")


def test_only_admins_see_the_page_and_every_form_needs_the_token(client: TestClient) -> None:
    staff_login(client, "manager")
    assert client.get("/admin/users").status_code == 403
    assert client.post("/admin/users", data={"username": "x"}).status_code == 403  # no CSRF token
    csrf = staff_login(client, "admin")
    page = client.get("/admin/users?lang=en")
    assert page.status_code == 200 and "Staff users" in page.text and 'href="/admin/users"' in page.text
    assert client.post("/admin/users/active", data={"username": "engineer", "active": "0"}).status_code == 403
    assert client.post("/admin/users/active", data={"username": "engineer", "active": "0", "csrf": csrf},
                       follow_redirects=False).status_code == 303


def test_field_errors_come_back_in_the_readers_language(client: TestClient, facade: Aftercare) -> None:
    csrf = staff_login(client, "admin")
    mismatch = client.post("/admin/users", data={"csrf": csrf, "username": "lily", "role": "engineer",
                                                 "language": "zh-CN", "password": "long-enough-1",
                                                 "password2": "long-enough-2"})
    assert mismatch.status_code == 422 and "两次输入的密码不一致" in mismatch.text and 'value="lily"' in mismatch.text
    assert "long-enough" not in mismatch.text  # a password is never sent back
    taken = client.post("/admin/users?lang=en", data={"csrf": csrf, "username": "engineer", "role": "wizard",
                                                      "email": "not-an-address", "language": "en",
                                                      "password": "short", "password2": "short"})
    assert taken.status_code == 422
    for message in ("Role: unknown role", "E-mail: not an e-mail address", "8 to 1024 characters"):
        assert message in taken.text
    assert [u["username"] for u in facade.people.list_users(actor=ADMIN)].count("lily") == 0


def test_an_admin_resets_a_password_and_the_old_one_stops_working(client: TestClient) -> None:
    csrf = staff_login(client, "admin")
    done = client.post("/admin/users/password", data={"csrf": csrf, "username": "engineer",
                                                      "password": "brand-new-pass", "password2": "brand-new-pass"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/admin/users?done=password")
    assert client.post("/api/token", data={"username": "engineer", "password": "demo"}).status_code == 401
    assert client.post("/api/token", data={"username": "engineer", "password": "brand-new-pass"}).status_code == 200


def test_an_admin_cannot_lock_the_last_admin_out(client: TestClient, facade: Aftercare) -> None:
    csrf = staff_login(client, "admin")
    self_off = client.post("/admin/users/active", data={"csrf": csrf, "username": "admin", "active": "0"})
    assert self_off.status_code == 422 and "不能停用自己" in self_off.text
    demoted = client.post("/admin/users/save", data={"csrf": csrf, "username": "admin", "role": "engineer",
                                                     "language": "zh-CN"})
    assert demoted.status_code == 422 and "最后一位管理员" in demoted.text
    facade.people.create_user(actor=ADMIN, username="ada", role="admin", email="", language="en",
                              password="second-admin-pass")
    assert client.post("/admin/users/save", data={"csrf": csrf, "username": "admin", "role": "manager",
                                                  "language": "zh-CN"}, follow_redirects=False).status_code == 303
    assert client.get("/admin/users", follow_redirects=False).status_code == 403  # the role took effect at once
