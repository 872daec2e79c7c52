"""The public portal: customers submit a ticket without an account and follow it from a link."""
from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from engine.commands import Aftercare
from engine.errors import ValidationFailed
from engine.incidents import StartFailed
from engine.throttle import Window

from . import i18n
from .conversation import status_page
from .deps import Facade
from .templating import templates

public_portal_router = APIRouter()
FIELDS = ("organization", "contact_name", "contact_email", "contact_phone", "title", "description")
LIMITS = {"organization": 200, "contact_name": 200, "contact_email": 320, "contact_phone": 50, "title": 300,
          "description": 20000}  # the columns' (engine/models.py Ticket); the form's maxlength says the same
KEY = re.compile(r"[!-~]{1,255}")  # an Idempotency-Key: visible ASCII
REQUIRED = ("contact_name", "contact_email", "title", "description")  # the sender's address finds the customer
KINDS = ("request", "complaint")  # a complaint skips triage; a request is triaged by the service desk


class RateLimiter:
    """At most `limit` requests per client address in a sliding `window` (seconds), counted in the database
    (engine/services/shared_limits.py): every process serving one database shares one count per address."""

    def __init__(self, namespace: str, limit: int = 5, window: float = 600) -> None:
        self.rule = Window(namespace, limit, window)

    async def allow(self, facade: Aftercare, request: Request) -> bool:
        """Count one request of the client's address; False (not counted) when over the limit."""
        address = request.client.host if request.client else "unknown"
        return await run_in_threadpool(facade.limits.allow, self.rule, address)


limiter = RateLimiter("portal")  # submissions per client address


def _portal(request: Request, values: dict[str, Any], errors: list[Any], status: int = 200) -> HTMLResponse:
    shown = [{**e, "message": i18n.gettext(str(e["message"]))} for e in errors]
    received = getattr(request.state, "portal_received", None)  # this form's first sending opened that ticket
    return templates.TemplateResponse(request, "customer/portal.html", {
        "values": values, "errors": shown, "lang": i18n.current(), "received": received}, status_code=status)


# The tickets this browser's recent forms opened, by a hash of each form's key: a form sent again and refused (other
# content, a field error, the rate limit) still says that its first sending arrived, and as which ticket.
SENT_COOKIE, SENT_KEEP, SENT_PATTERN = "portal_sent", 5, re.compile(r"([0-9a-f]{16}):([A-Za-z0-9-]{1,40})")


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _sent(request: Request) -> list[tuple[str, str]]:
    return SENT_PATTERN.findall(request.cookies.get(SENT_COOKIE, ""))[-SENT_KEEP:]


def _remember_sent(request: Request, response: HTMLResponse, key: str | None, number: str, secure: bool) -> None:
    if not key:
        return
    pairs = [p for p in _sent(request) if p[0] != _key_hash(key)] + [(_key_hash(key), number)]
    response.set_cookie(SENT_COOKIE, "|".join(f"{h}:{n}" for h, n in pairs[-SENT_KEEP:]), max_age=86400,
                        path="/portal", httponly=True, samesite="lax", secure=secure)


NOT_STARTED = "We could not take your request right now, and nothing was sent. Please try again later, or call us."
_MESSAGES = {"contact_email": "Not an e-mail address", "contact_phone": "Not a phone number",
             "title": "This field is required"}  # the engine's bilingual wording gives way to the catalogs'


@public_portal_router.get("/portal", response_class=HTMLResponse)
def portal_form(request: Request) -> HTMLResponse:
    """The public request form; its hidden `idempotency_key`, new with each page, makes a form sent twice (a double
    click, a retry after a lost answer) open one ticket (engine/idempotency.py)."""
    return _portal(request, {"idempotency_key": secrets.token_urlsafe(24)}, [])


@public_portal_router.post("/portal", response_class=HTMLResponse)
async def submit(request: Request, facade: Facade) -> HTMLResponse:
    """Create the ticket; the customer gets the number on the page and by e-mail with a status link."""
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in FIELDS}
    key = request.headers.get("idempotency-key") or str(form.get("idempotency_key", "")) or None
    request.state.portal_received = dict(_sent(request)).get(_key_hash(key)) if key else None
    refused = _refused(request, values, key)
    if refused:
        return refused
    if form.get("website"):  # a honeypot field people never see
        return _portal(request, values, [], status=400)
    kind = str(form.get("kind", "request"))
    repeat = await run_in_threadpool(lambda: facade.portal_repeat(
        **{k: values[k] for k in FIELDS}, complaint=kind == "complaint", idempotency_key=key))
    if not repeat and not await limiter.allow(facade, request):  # a repeat creates nothing: it is not counted
        errors = [{"field": "(form)", "message": "Too many requests; please try later."}]
        return _portal(request, values, errors, status=429)
    values["kind"] = kind
    values["kb_visit"] = str(form.get("kb_visit", "")).strip()[:100]
    missing = [{"field": k, "message": "This field is required"} for k in REQUIRED if not values[k]]
    if kind not in KINDS:
        missing.append({"field": "kind", "message": "Choose a request or a complaint"})
    if missing:
        return _portal(request, values, missing, status=422)
    try:
        created = await run_in_threadpool(lambda: facade.submit_from_portal(
            **{k: values[k] for k in FIELDS}, complaint=kind == "complaint", kb_visit=values["kb_visit"] or None,
            idempotency_key=key))
    except ValidationFailed as exc:
        errors = [{**e, "message": _MESSAGES.get(str(e.get("field")), e.get("message", ""))} for e in exc.errors]
        if any(e.get("field") == "Idempotency-Key" for e in exc.errors):  # sent before, then changed: a new request
            values["idempotency_key"] = secrets.token_urlsafe(24)
            errors = [{"field": "(form)", "message": "This form was already sent with other content. Check it and "
                                                     "send it again."}]
        return _portal(request, values, errors, status=422)
    except StartFailed:  # the procedure's diagram failed as it started: nothing was created, the form is kept
        errors = [{"field": "(form)", "message": NOT_STARTED}]
        return _portal(request, values, errors, status=StartFailed.status)
    response = templates.TemplateResponse(request, "customer/submitted.html",
                                          {"ticket": created, "lang": i18n.current()})
    _remember_sent(request, response, key, str(created["number"]), facade.settings.https)
    return response


def _refused(request: Request, values: dict[str, Any], key: str | None) -> HTMLResponse | None:
    """The form again (422) for a key that is not one, or a field longer than its column; it carries the key on."""
    values["idempotency_key"] = key if key and KEY.fullmatch(key) else secrets.token_urlsafe(24)
    if key and not KEY.fullmatch(key):
        message = "The form expired or did not come from this site. Please reload the page and try again."
        return _portal(request, values, [{"field": "(form)", "message": message}], status=422)
    too_long = [{"field": k, "message": "This is too long"} for k in FIELDS if len(values[k]) > LIMITS[k]]
    if too_long:  # shown again cut to what fits: never the whole of a huge value
        return _portal(request, {**values, **{k: values[k][:LIMITS[k]] for k in FIELDS}}, too_long, status=422)
    return None


@public_portal_router.get("/s/{token}", response_class=HTMLResponse)
def status(token: str, request: Request, facade: Facade) -> HTMLResponse:
    """A ticket's status and its conversation for the customer who submitted it (api/conversation.py)."""
    return status_page(request, facade, token)
