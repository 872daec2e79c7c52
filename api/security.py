"""Staff sessions, CSRF and the security headers.

The browser's cookie (Starlette's signed session) carries a random session token; the session itself lives in the
`staff_session` table, so logout, a password change or disabling the user ends it on the server: a cookie copied
before is worth nothing after. `StaffSessionMiddleware` checks the token once per request (one indexed read) and
drops the login from a session that has ended; every page then reads the user from `request.state`.
"""
from __future__ import annotations

import contextvars
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from engine.commands import Aftercare
from engine.errors import Unauthorized
from engine.users import Actor

SESSION_COOKIE = "aftercare_session"
NOT_CHECKED = ("/static/", "/vendor/", "/favicon.ico", "/healthz")  # no login, no database read
# dmn-js sizes its decision table's columns with style attributes; its two pages (the SLA table, a .dmn file in the
# editor) allow inline style attributes only (CSP 3 style-src-attr), never inline <style> elements or scripts. bpmn-js
# (viewer and modeler) needs nothing of the kind. See README "Security".
DECISION_TABLE_PAGES = ("/workbench/sla", "/workbench/edit/")
HSTS = "max-age=63072000"
# FastAPI's API documentation pages (Swagger UI, ReDoc) load from a CDN and start with an inline script; they show no
# data of ours and get a policy of their own.
DOCS = ("/docs", "/redoc")
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
               "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
               "https://fastapi.tiangolo.com https://cdn.redoc.ly; worker-src blob:; object-src 'none'; "
               "base-uri 'none'; frame-ancestors 'none'")
_nonce: contextvars.ContextVar[str] = contextvars.ContextVar("csp_nonce", default="")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class LoginRequired(Exception):
    """No staff user in the session; the handler redirects to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfFailed(Exception):
    """A form post without the session's CSRF token."""


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, form: Any) -> None:
    """Refuse a form post whose hidden csrf field is not the session's token."""
    sent = str(form.get("csrf", ""))
    expected = str(request.session.get("csrf", ""))
    if not expected or not sent.isascii() or not hmac.compare_digest(sent, expected):
        raise CsrfFailed()


def csp_nonce() -> str:
    """This response's nonce for the few inline <style> elements the templates keep (a template global)."""
    return _nonce.get()


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: uvicorn's --forwarded-allow-ips)."""
    return request.client.host if request.client else ""


def start_web_session(request: Request, actor: Actor, token: str) -> None:
    """Put a fresh server-side session into the browser's cookie, keeping only the chosen language."""
    language = request.session.get("lang")
    request.session.clear()  # a new CSRF token for the new privilege level
    request.session.update({"sid": token, "user": actor.name, **({"lang": language} if language else {})})


async def staff_actor(request: Request) -> Actor:
    """The logged-in staff user, or a redirect to the login page (async: it only reads what the middleware found)."""
    actor = getattr(request.state, "staff_actor", None)
    if actor is None:
        raise LoginRequired(quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")))
    return actor


StaffActor = Annotated[Actor, Depends(staff_actor)]


class StaffSessionMiddleware:
    """Checks the cookie's session against the table and adds the security headers to every response.

    Sits inside Starlette's SessionMiddleware (which decodes the cookie). A session that has ended loses its login
    before any route sees it, so code that reads `request.session["user"]` sees only live logins."""

    def __init__(self, app: App, facade: Aftercare) -> None:
        self.app, self.facade = app, facade
        self.https = facade.settings.https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        nonce = secrets.token_urlsafe(16)
        _nonce.set(nonce)
        if not path.startswith(NOT_CHECKED):
            await self._check(scope)
        headers = self._headers(path, nonce)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in headers if k not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _check(self, scope: Scope) -> None:
        session = scope.get("session")
        if not session or not (session.get("sid") or session.get("user")):
            return
        token = str(session.get("sid") or "")
        try:
            actor = await run_in_threadpool(lambda: self.facade.sessions.actor_for(token=token))
        except Unauthorized:
            session.pop("sid", None)
            session.pop("user", None)
            return
        if session.get("user") != actor.name:
            session["user"] = actor.name
        scope.setdefault("state", {})["staff_actor"] = actor

    def _headers(self, path: str, nonce: str) -> list[tuple[bytes, bytes]]:
        table = path.startswith(DECISION_TABLE_PAGES) and (path.endswith(".dmn") or path == "/workbench/sla")
        style_attr = "; style-src-attr 'unsafe-inline'" if table else ""
        csp = DOCS_POLICY if path.startswith(DOCS) else (
            f"default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{nonce}'{style_attr}; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
        headers = [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
                   (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY")]
        if self.https:
            headers.append((b"strict-transport-security", HSTS.encode()))
        return headers
