"""My tickets: a customer's contact signs in with a link e-mailed to them (no password) and follows every ticket of
their organisation. Public routes; the signed, expiring cookie the link sets is the credential."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.errors import LinkError, NotFound
from engine.portal import PORTAL
from engine.ticket_fields import is_address

from . import i18n
from .attachments import content_disposition, served_type
from .deps import Facade
from .documents import pdf_response
from .pdf import change_service_form_pdf
from .portal import RateLimiter
from .service_form import fault_form_pdf
from .templating import templates
from .timeline import in_language

public_self_service_router = APIRouter(prefix="/my")
COOKIE = "aftercare_my"
sign_in_limiter = RateLimiter("my", limit=10, window=600)  # per client address: e-mails asked for, known or not


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    query = f"?lang={request.query_params['lang']}" if request.query_params.get("lang") in i18n.LANGUAGES else ""
    return templates.TemplateResponse(request, f"customer/{name}.html",
                                      {"lang": i18n.current(), "q": query, **context}, status_code=status)


def _speak(request: Request, language: str) -> None:
    """The contact's language, unless the reader switched (?lang=, remembered in the `lang` cookie)."""
    i18n.prefer(request.query_params.get("lang"), request.cookies.get("lang"), language)


def _link_problem(request: Request, exc: LinkError, *, session: bool = False) -> HTMLResponse:
    status = 410 if exc.reason == "expired" else 404
    problem = ("session_" if session else "") + exc.reason  # the e-mailed link, or the sign-in it opened
    return _page(request, "my_sign_in", status=status, problem=problem, values={}, errors=[])


@public_self_service_router.get("", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    """Ask for a sign-in link; someone signed in already goes straight to their tickets."""
    if request.cookies.get(COOKIE):
        return RedirectResponse("/my/tickets", 303)
    return _page(request, "my_sign_in", values={}, errors=[])


@public_self_service_router.post("", response_class=HTMLResponse)
async def ask_for_link(request: Request, facade: Facade) -> HTMLResponse:
    """E-mail a sign-in link if the address is an active contact's; the answer is the same either way."""
    form = await request.form()
    email = str(form.get("email", "")).strip()[:320]
    if not is_address(email):
        return _page(request, "my_sign_in", status=422, values={"email": email},
                     errors=[{"field": "email", "message": i18n.gettext("Not an e-mail address")}])
    if form.get("website") or not await sign_in_limiter.allow(facade, request):
        return _page(request, "my_sign_in", status=429, values={"email": email},
                     errors=[{"field": "(form)", "message": i18n.gettext("Too many requests; please try later.")}])
    await run_in_threadpool(lambda: facade.request_sign_in(email=email))
    return _page(request, "my_sign_in", sent=True, values={}, errors=[])


@public_self_service_router.get("/in/{token}", response_model=None)
def open_link(token: str, request: Request, facade: Facade) -> Response:
    """The e-mailed link: check it and sign the contact in with a cookie."""
    try:
        signed = facade.contacts.sign_in(token=token)
    except LinkError as exc:
        return _link_problem(request, exc)
    lang = request.query_params.get("lang")
    response = RedirectResponse(f"/my/tickets?lang={lang}" if lang in i18n.LANGUAGES else "/my/tickets", 303)
    response.set_cookie(COOKIE, signed["session"], max_age=signed["max_age"], httponly=True, samesite="lax",
                        path="/my", secure=facade.settings.base_url.startswith("https://"))
    response.headers["Cache-Control"] = "no-store"
    return response


@public_self_service_router.post("/out", response_model=None)
def sign_out() -> Response:
    """Forget the sign-in on this device."""
    response = RedirectResponse("/my", 303)
    response.delete_cookie(COOKIE, path="/my")
    return response


@public_self_service_router.get("/tickets", response_class=HTMLResponse)
def my_tickets(request: Request, facade: Facade) -> Response:
    """Every ticket of the contact's organisation."""
    try:
        view = facade.contacts.my_tickets(token=request.cookies.get(COOKIE, ""))
    except LinkError as exc:
        return _signed_out(request, exc)
    _speak(request, view["contact"]["language"])
    return _page(request, "my_tickets", view=view)


@public_self_service_router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def my_ticket(ticket_id: int, request: Request, facade: Facade) -> Response:
    """One ticket: its conversation, the steps waiting for the customer and its documents."""
    try:
        view = facade.contacts.my_ticket(token=request.cookies.get(COOKIE, ""), ticket_id=ticket_id)
    except LinkError as exc:
        return _signed_out(request, exc)
    except NotFound:
        return _page(request, "my_sign_in", status=404, problem="not_found", values={}, errors=[], signed_in=True)
    _speak(request, view["contact"]["language"])
    ticket = view["ticket"]
    for item in [*ticket["actions"], *ticket["events"]]:  # step names come from the diagrams as "中文 English"
        for key in ("title", "step"):
            if item.get(key):
                item[key] = in_language(item[key])
    return _page(request, "my_ticket", view=view, t=ticket)


@public_self_service_router.get("/tickets/{ticket_id}/files/{attachment_id}", response_model=None)
def my_file(ticket_id: int, attachment_id: int, request: Request, facade: Facade) -> Response:
    """A file of one of the organisation's tickets, as a download."""
    try:
        found = facade.contacts.my_attachment(token=request.cookies.get(COOKIE, ""), ticket_id=ticket_id,
                                              attachment_id=attachment_id)
    except LinkError as exc:
        return _signed_out(request, exc)
    except NotFound:
        return Response(status_code=404)
    headers = {"Content-Disposition": content_disposition(found["filename"]), "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'; sandbox", "Cache-Control": "private, no-cache"}
    return Response(found["data"], media_type=served_type(found["content_type"]), headers=headers)


@public_self_service_router.get("/tickets/{ticket_id}/service-form.pdf", response_model=None)
def my_service_form(ticket_id: int, request: Request, facade: Facade) -> Response:
    """The printed form of one of the organisation's tickets: the change and extension development service form
    of a change, the fault handling form (故障处理单) of a fault or question."""
    try:
        view = facade.contacts.my_ticket(token=request.cookies.get(COOKIE, ""), ticket_id=ticket_id)
        if view["ticket"]["category"] == "change":
            record = facade.change_form(ticket_id=ticket_id, actor=PORTAL)
            content = change_service_form_pdf(record)
            name = f"{record.get('number') or ticket_id}-service-form.pdf"
        else:
            content, name = fault_form_pdf(facade, PORTAL, ticket_id)
    except LinkError as exc:
        return _signed_out(request, exc)
    except NotFound:
        return Response(status_code=404)
    return pdf_response(content, name)


def _signed_out(request: Request, exc: LinkError) -> Response:
    """No valid sign-in: with no cookie at all, the sign-in page; with a stale or altered one, say so there."""
    if not request.cookies.get(COOKIE):
        return RedirectResponse("/my", 303)
    response = _link_problem(request, exc, session=True)
    response.delete_cookie(COOKIE, path="/my")
    return response
