"""The public portal: customers submit a ticket without an account and follow it from a link."""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from engine.errors import ValidationFailed

from . import i18n
from .conversation import status_page
from .deps import Facade
from .templating import templates

public_portal_router = APIRouter()
FIELDS = ("organization", "contact_name", "contact_email", "contact_phone", "title", "description")
REQUIRED = ("contact_name", "contact_email", "title", "description")  # the sender's address finds the customer
KINDS = ("request", "complaint")  # a complaint skips triage; a request is triaged by the service desk


class RateLimiter:
    """At most `limit` submissions per client address in a sliding `window` (seconds), in this process."""

    def __init__(self, limit: int = 5, window: float = 600) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one attempt for `key`; False when over the limit."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


limiter = RateLimiter()


def _portal(request: Request, values: dict[str, Any], errors: list[Any], status: int = 200) -> HTMLResponse:
    shown = [{**e, "message": i18n.gettext(str(e["message"]))} for e in errors]
    return templates.TemplateResponse(request, "customer/portal.html",
                                      {"values": values, "errors": shown, "lang": i18n.current()}, status_code=status)


_MESSAGES = {"contact_email": "Not an e-mail address", "contact_phone": "Not a phone number",
             "title": "This field is required"}  # the engine's bilingual wording gives way to the catalogs'


@public_portal_router.get("/portal", response_class=HTMLResponse)
def portal_form(request: Request) -> HTMLResponse:
    """The public request form."""
    return _portal(request, {}, [])


@public_portal_router.post("/portal", response_class=HTMLResponse)
async def submit(request: Request, facade: Facade) -> HTMLResponse:
    """Create the ticket; the customer gets the number on the page and by e-mail with a status link."""
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in FIELDS}
    if form.get("website"):  # a honeypot field people never see
        return _portal(request, values, [], status=400)
    if not limiter.allow(request.client.host if request.client else "unknown"):
        errors = [{"field": "(form)", "message": "Too many requests; please try later."}]
        return _portal(request, values, errors, status=429)
    kind = str(form.get("kind", "request"))
    values["kind"] = kind
    values["kb_visit"] = str(form.get("kb_visit", "")).strip()[:100]
    missing = [{"field": k, "message": "This field is required"} for k in REQUIRED if not values[k]]
    if kind not in KINDS:
        missing.append({"field": "kind", "message": "Choose a request or a complaint"})
    if missing:
        return _portal(request, values, missing, status=422)
    try:
        created = await run_in_threadpool(lambda: facade.submit_from_portal(
            **{k: values[k] for k in FIELDS}, complaint=kind == "complaint", kb_visit=values["kb_visit"] or None))
    except ValidationFailed as exc:
        errors = [{**e, "message": _MESSAGES.get(str(e.get("field")), e.get("message", ""))} for e in exc.errors]
        return _portal(request, values, errors, status=422)
    return templates.TemplateResponse(request, "customer/submitted.html", {"ticket": created, "lang": i18n.current()})


@public_portal_router.get("/s/{token}", response_class=HTMLResponse)
def status(token: str, request: Request, facade: Facade) -> HTMLResponse:
    """A ticket's status and its conversation for the customer who submitted it (api/conversation.py)."""
    return status_page(request, facade, token)
