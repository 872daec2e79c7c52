"""The public portal: customers submit a ticket without an account and follow it from a link."""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from engine.errors import LinkError, NotFound, ValidationFailed

from .deps import Facade
from .templating import templates

public_portal_router = APIRouter()
FIELDS = ("organization", "contact_name", "contact_email", "title", "description")
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
    return templates.TemplateResponse(request, "customer/portal.html", {"values": values, "errors": errors},
                                      status_code=status)


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
        errors = [{"field": "(form)", "message": "提交过于频繁，请稍后再试。Too many requests; please try later."}]
        return _portal(request, values, errors, status=429)
    kind = str(form.get("kind", "request"))
    values["kind"] = kind
    missing = [{"field": k, "message": "此项必填 This field is required"} for k in FIELDS if not values[k]]
    if kind not in KINDS:
        missing.append({"field": "kind", "message": "请选择类型 choose a request or a complaint"})
    if missing:
        return _portal(request, values, missing, status=422)
    try:
        created = await run_in_threadpool(lambda: facade.submit_from_portal(
            **{k: values[k] for k in FIELDS}, complaint=kind == "complaint"))
    except ValidationFailed as exc:
        return _portal(request, values, exc.errors, status=422)
    return templates.TemplateResponse(request, "customer/submitted.html", {"ticket": created})


@public_portal_router.get("/s/{token}", response_class=HTMLResponse)
def status(token: str, request: Request, facade: Facade) -> HTMLResponse:
    """A ticket's status for the customer who submitted it."""
    try:
        view = facade.ticket_status(token=token)
    except (LinkError, NotFound):
        return templates.TemplateResponse(request, "customer/message.html", {
            "message": "此链接无效。This link is not valid.", "tone": "bad", "ticket": None}, status_code=404)
    return templates.TemplateResponse(request, "customer/status.html", {"t": view})
