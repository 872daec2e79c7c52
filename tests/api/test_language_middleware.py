"""The language layer and the security headers as plain ASGI middlewares (issue 11, item 6): the reader's language
is chosen before any route runs and remembered when asked for; every response, files included, carries each
security header exactly once."""
from __future__ import annotations

from fastapi.testclient import TestClient

SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
                    "referrer-policy": "same-origin"}


def _header_values(response: object, name: str) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k.lower() == name]  # type: ignore[attr-defined]


def test_a_language_chosen_with_lang_is_remembered_for_a_year(client: TestClient) -> None:
    chosen = client.get("/login", params={"lang": "en"})
    assert chosen.status_code == 200 and "<h1>Log in</h1>" in chosen.text
    cookies = [c for c in _header_values(chosen, "set-cookie") if c.startswith("lang=")]
    assert cookies == ["lang=en; Max-Age=31536000; Path=/; SameSite=lax"]
    again = client.get("/login")  # the client sends the cookie back: still English, nothing set again
    assert "<h1>Log in</h1>" in again.text
    assert not [c for c in _header_values(again, "set-cookie") if c.startswith("lang=")]
    back = client.get("/login", params={"lang": "zh-CN"})
    assert "<h1>登录</h1>" in back.text and client.cookies.get("lang") == "zh-CN"


def test_accept_language_picks_the_language_without_setting_a_cookie(client: TestClient) -> None:
    english = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "<h1>Log in</h1>" in english.text
    assert not [c for c in _header_values(english, "set-cookie") if c.startswith("lang=")]
    assert "<h1>登录</h1>" in client.get("/login", headers={"Accept-Language": "fr"}).text  # zh-CN by default
    unknown = client.get("/login", params={"lang": "fr"})  # not a language of ours: default, nothing remembered
    assert "<h1>登录</h1>" in unknown.text and "lang" not in client.cookies


def test_errors_speak_the_chosen_language(client: TestClient) -> None:
    """Error handlers run inside the language layer: a refused form answers in the reader's language."""
    refused = client.post("/login?lang=en", data={"username": "admin", "password": "demo", "csrf": "forged"})
    assert refused.status_code == 403
    assert "The form expired or did not come from this site" in refused.text


def test_every_response_carries_each_security_header_once(client: TestClient) -> None:
    for path in ("/healthz", "/login?lang=en", "/static/favicon.svg", "/api/tasks", "/no-such-page"):
        response = client.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert _header_values(response, name) == [value], (path, name)
        assert len(_header_values(response, "content-security-policy")) == 1, path
    assert client.get("/static/favicon.svg").content.startswith(b"<svg")
