"""Security headers (CSP everywhere, HSTS and Secure cookies only over https) and the rule that refuses the
published development secret anywhere but on a developer's own machine."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from engine.commands import Aftercare
from engine.settings import DEV_SECRET, Settings
from tests.api.test_attachments import csrf_of


@pytest.fixture
def https_client(facade: Aftercare) -> Iterator[TestClient]:
    facade.settings.base_url = "https://service.example.com"
    with TestClient(create_app(facade, run_worker=False), base_url="https://service.example.com") as client:
        yield client


def _log_in(client: TestClient) -> str:
    csrf = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "engineer", "password": "demo", "csrf": csrf},
                           follow_redirects=False)
    assert response.status_code == 303
    return response.headers["set-cookie"]


def test_over_https_cookies_are_secure_and_hsts_is_sent(https_client: TestClient) -> None:
    cookie = _log_in(https_client)
    assert "secure" in cookie.lower() and "httponly" in cookie.lower()
    assert https_client.get("/login").headers["strict-transport-security"].startswith("max-age=")
    assert "secure" in https_client.get("/login?lang=en").headers["set-cookie"].lower()  # the language cookie too


def test_over_http_there_is_no_hsts_and_no_secure_flag(client: TestClient) -> None:
    cookie = _log_in(client)
    assert "secure" not in cookie.lower()
    assert "strict-transport-security" not in client.get("/login").headers


@pytest.mark.parametrize("path", ["/login", "/", "/portal", "/kb", "/api/processes", "/healthz"])
def test_every_response_carries_a_strict_policy(client: TestClient, path: str) -> None:
    _log_in(client)
    headers = client.get(path).headers
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "same-origin"


def test_the_api_documentation_keeps_working_under_its_own_policy(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn.jsdelivr.net" in docs.text and "<script>" in docs.text
    policy = docs.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in client.get("/portal").headers["content-security-policy"]


def test_the_nonce_changes_per_response_and_matches_the_inline_styles(client: TestClient) -> None:
    first, second = client.get("/portal"), client.get("/portal")
    nonces = [re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"]).group(1)  # type: ignore[union-attr]
              for r in (first, second)]
    assert nonces[0] != nonces[1]
    assert f'<style nonce="{nonces[0]}">' in first.text
    assert "<script>" not in first.text and " style=" not in first.text


def test_only_the_decision_table_pages_allow_style_attributes(client: TestClient) -> None:
    csrf = csrf_of(client.get("/login").text)
    client.post("/login", data={"username": "process_owner", "password": "demo", "csrf": csrf})
    for path in ("/workbench/sla", "/workbench/edit/sla.dmn"):
        assert "style-src-attr 'unsafe-inline';" in client.get(path).headers["content-security-policy"]
    for path in ("/", "/workbench", "/workbench/edit/maintenance_request.bpmn", "/tickets"):
        assert "style-src-attr" not in client.get(path).headers["content-security-policy"]


def test_the_default_secret_is_refused_outside_local_development() -> None:
    assert Settings(secret_key=DEV_SECRET).secret_key == DEV_SECRET  # `make run`: http://127.0.0.1:8000
    assert Settings(secret_key=DEV_SECRET, base_url="http://localhost:8000").is_local_development()
    for refused in ({"base_url": "https://127.0.0.1:8000"}, {"base_url": "http://service.example.com"},
                    {"base_url": "http://10.0.0.5:8000"}, {"environment": "production"},
                    {"environment": "development", "base_url": "https://service.example.com"}):
        with pytest.raises(ValidationError, match="AFTERCARE_SECRET_KEY must be set"):
            Settings(secret_key=DEV_SECRET, **refused)  # type: ignore[arg-type]
    assert Settings(secret_key="x" * 40, base_url="https://service.example.com").https


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_serve_refuses_to_listen_beyond_loopback_with_the_default_secret(
        host: str, tmp_path: pytest.TempPathFactory) -> None:
    """The base URL may say 127.0.0.1, but `serve --host 0.0.0.0` would let the network in with the published secret:
    it refuses before binding anything."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["AFTERCARE_DATABASE_URL"] = f"sqlite:///{tmp_path}/a.db"
    done = subprocess.run([sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main(sys.argv[1:]))",
                           "serve", "--host", host, "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"refusing to listen on {host}" in done.stderr and "AFTERCARE_SECRET_KEY" in done.stderr


def test_the_app_does_not_start_with_the_default_secret_on_a_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_BASE_URL", "https://service.example.com")
    monkeypatch.setenv("AFTERCARE_ENVIRONMENT", "development")
    monkeypatch.delenv("AFTERCARE_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="published development secret"):
        create_app()


def test_a_sender_address_with_a_line_break_is_refused_at_start() -> None:
    """AFTERCARE_SMTP_FROM goes into every e-mail's From header as it is: a line break would add a header (a Bcc)."""
    from pydantic import ValidationError
    from pytest import raises

    from engine.settings import Settings

    with raises(ValidationError, match="line break"):
        Settings(smtp_from="Aftercare <a@example.com>\r\nBcc: someone@example.org")
    assert Settings(smtp_from="Aftercare 售后服务 <a@example.com>").smtp_from.endswith("<a@example.com>")
