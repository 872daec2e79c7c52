"""Customer pages behind e-mail links (/c/{token}): public, the token is the credential. They speak the
customer's language (the ticket's contact's, else the customer's); ?lang=zh-CN|en switches."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from engine.errors import LinkError, ValidationFailed
from engine.incidents import CaseIsParked, CaseParked

from . import i18n
from .deps import Facade
from .templating import templates
from .timeline import in_language

public_customer_router = APIRouter(prefix="/c")
_ = i18n.gettext
DONE = "Thank you, your answer has been recorded."
# the case's diagram code failed (engine/incidents.py): nothing was recorded, the case waits for a person
NOT_RECORDED = ("We could not record your answer right now. Nothing was changed. Our service team has been told and "
                "will contact you; you can also use this link again later.")
PARKED_STATUS = 409  # the case's state (parked until a person retries it) refuses the answer; the server is fine


def _language(request: Request, ticket: dict[str, Any] | None) -> str:
    """The reader's choice (?lang=, remembered), else the ticket's contact's or customer's language."""
    return i18n.prefer(request.query_params.get("lang"), request.cookies.get("lang"), (ticket or {}).get("language"))


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, f"customer/{name}.html", {"lang": i18n.current(), **context},
                                      status_code=status)


def _link_page(request: Request, exc: LinkError) -> HTMLResponse:
    # no ticket to take a language from: the request's own (?lang=, the cookie, Accept-Language) stands
    status = {"invalid": 404, "expired": 410, "used": 410, "closed": 409}.get(exc.reason, 400)
    return _render(request, "message", {"message": in_language(exc.message), "tone": "bad", "ticket": None}, status)


def _done_page(request: Request, ticket: dict[str, Any] | None) -> HTMLResponse:
    return _render(request, "message", {"message": _(DONE), "tone": "ok", "ticket": ticket})


def _not_recorded_page(request: Request, ticket: dict[str, Any] | None) -> HTMLResponse:
    """The case is parked as an incident: a friendly page in the customer's language, never the error itself."""
    return _render(request, "message", {"message": _(NOT_RECORDED), "tone": "bad", "ticket": ticket}, PARKED_STATUS)


@public_customer_router.get("/{token}", response_class=HTMLResponse)
def show(token: str, request: Request, facade: Facade, score: str = "") -> HTMLResponse:
    """The form of the customer's step. A survey link with ?score=N shows that score ready to confirm with one
    tap: only the POST records it, so a mail scanner that fetches (or even renders) the link votes nothing."""
    try:
        view = facade.open_link(token=token)
    except LinkError as exc:
        return _link_page(request, exc)
    _language(request, view["ticket"])
    if view.get("parked"):
        return _not_recorded_page(request, view["ticket"])
    if "score" in view["form"].get("properties", {}):
        chosen = int(score) if score in ("1", "2", "3", "4", "5") else None  # anything else: choose on the page
        return _render(request, "survey_click", {**view, "score": chosen})
    return _form_page(request, view, {}, [])


@public_customer_router.post("/{token}/comment", response_class=HTMLResponse)
async def comment(token: str, request: Request, facade: Facade) -> HTMLResponse:
    """The optional comment after a one-click score."""
    _language(request, None)
    text = str((await request.form()).get("comment", "")).strip()
    try:
        if text:
            await run_in_threadpool(lambda: facade.add_survey_comment(token=token, comment=text))
    except LinkError as exc:
        return _link_page(request, exc)
    return _done_page(request, None)


def _form_page(request: Request, view: dict[str, Any], values: dict[str, Any], errors: list[Any],
               status: int = 200) -> HTMLResponse:
    name = "survey_click" if "score" in view["form"].get("properties", {}) else "task"
    score = values.get("score") if str(values.get("score", "")).isdigit() else None
    return _render(request, name, {**view, "values": values, "errors": errors, "score": score}, status)


@public_customer_router.post("/{token}", response_class=HTMLResponse)
async def submit(token: str, request: Request, facade: Facade) -> HTMLResponse:
    """Complete the customer's step through the same verb staff use."""
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str) and v != "" and k != "key"}
    key = str(form.get("key", ""))
    try:
        view = await run_in_threadpool(lambda: facade.open_link(token=token))
        _language(request, view["ticket"])
        await run_in_threadpool(lambda: facade.complete_by_link(token=token, data=data, key=key))
    except LinkError as exc:
        if exc.reason == "stale":  # the survey page was too old: show it again, fresh, with the choice kept
            fresh = await run_in_threadpool(lambda: facade.open_link(token=token))
            return _form_page(request, fresh, data, [{"field": "(form)", "message": exc.message}], status=409)
        return _link_page(request, exc)
    except ValidationFailed as exc:
        return _form_page(request, view, data, exc.errors, status=422)
    except (CaseParked, CaseIsParked):  # nothing was recorded; the link stays usable once the case is retried
        return _not_recorded_page(request, view["ticket"])
    if "score" in view["form"].get("properties", {}):
        return _render(request, "survey_thanks", {"score": data.get("score"), "ticket": view["ticket"],
                                                  "token": token, "commented": bool(data.get("comment"))})
    return _done_page(request, None)
