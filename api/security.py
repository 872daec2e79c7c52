"""Staff sessions and CSRF: a signed session cookie, a per-session CSRF token checked on every form post."""
from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request

from engine.errors import Unauthorized
from engine.users import Actor

from .deps import Facade

SESSION_COOKIE = "aftercare_session"


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


def staff_actor(request: Request, facade: Facade) -> Actor:
    """The logged-in staff user, or a redirect to the login page."""
    username = request.session.get("user")
    if not username:
        raise LoginRequired(quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")))
    try:
        return facade.actor(username=str(username))
    except Unauthorized:
        request.session.clear()
        raise LoginRequired("/") from None


StaffActor = Annotated[Actor, Depends(staff_actor)]
