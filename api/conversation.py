"""The ticket's conversation on every surface: the JSON API (POST/GET /api/tickets/{id}/messages), the staff ticket
page's reply box (form posts) and the customer's status page (/s/{token}: the public conversation, a reply with
files, and the files of staff replies). The status token is the customer's credential; the reply form also carries
a signed key of the page it came from (engine/conversation.py), so a post from elsewhere or a day-old page says so."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.attachments import MAX_BYTES
from engine.conversation import MAX_BODY, MAX_FILES
from engine.errors import Conflict, LinkError, NotFound, ValidationFailed

from . import i18n
from .attachments import content_disposition, served_type
from .deps import ApiActor, ApiRoute, DbId, Facade, api_actor
from .security import StaffActor, check_csrf, staff_actor
from .staff import _ticket_page
from .templating import templates

api_router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)], route_class=ApiRoute, tags=["conversation"])
router = APIRouter(dependencies=[Depends(staff_actor)])
public_router = APIRouter()
_ = i18n.gettext
Files = list[tuple[str, str | None, bytes]]


class MessageCreate(BaseModel):
    """A staff reply (e-mailed to the ticket's contact) or, with `internal`, a note only staff ever see."""

    body: str = Field(min_length=1, max_length=MAX_BODY)
    internal: bool = False


@api_router.post("/tickets/{ticket_id}/messages", status_code=201)
def create_message(ticket_id: DbId, body: MessageCreate, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Write on a ticket: a reply to the customer, or an internal note; 409 once the ticket is closed."""
    return facade.post_message(ticket_id=ticket_id, body=body.body, internal=body.internal, actor=actor,
                               source="api")


@api_router.get("/tickets/{ticket_id}/messages")
def list_messages(ticket_id: DbId, facade: Facade, actor: ApiActor) -> list[dict[str, Any]]:
    """The ticket's conversation, oldest first, internal notes included (staff only)."""
    return facade.list_messages(ticket_id=ticket_id, actor=actor)


# The most file parts the form parser takes (a little over MAX_FILES: an empty file input is a part too); a post
# with more is refused (400) while it is read, long before 30 parts of 10 MB are spooled.
FORM_FILES = MAX_FILES + 2


TOO_MANY = f"At most {MAX_FILES} files per message."  # the engine's words (engine/conversation.py)
# the form parser stopped at FORM_FILES: the text was not read, so it cannot be shown again
TOO_MANY_UNREAD = f"At most {MAX_FILES} files per message. Your message was not sent: please write it again and " \
                  "choose fewer files."


async def _form(request: Request) -> FormData | None:
    """The posted form; None when it has more file parts than FORM_FILES (the parser stops reading at once, and the
    page says so instead of a bare 400)."""
    try:
        return await request.form(max_files=FORM_FILES, max_fields=20)
    except StarletteHTTPException as exc:
        if exc.status_code == 400 and "files" in str(exc.detail).lower():
            return None
        raise


async def _files(form: FormData) -> Files:
    """The files of a form post; an empty file input (nothing chosen) is no file. More than MAX_FILES are refused
    (ValidationFailed, as the engine would) before any is read into memory."""
    chosen = [item for item in form.getlist("files") if isinstance(item, UploadFile) and (item.filename or item.size)]
    if len(chosen) > MAX_FILES:
        raise ValidationFailed(TOO_MANY, [{"field": "files", "message": TOO_MANY}])
    return [(item.filename or "", item.content_type, await item.read(MAX_BYTES + 1)) for item in chosen]


@router.post("/tickets/{ticket_id}/messages", response_model=None)
async def post_from_page(ticket_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """The ticket page's reply box: a reply to the customer or an internal note, with files."""
    form = await _form(request)
    if form is None:
        reply: dict[str, Any] = {"values": {}, "errors": [{"field": "files", "message": TOO_MANY_UNREAD}],
                                 "notice": None}
        return await run_in_threadpool(lambda: _ticket_page(request, facade, actor, ticket_id, status=413,
                                                            reply=reply))
    check_csrf(request, form)
    body, kind = str(form.get("body", "")), "note" if form.get("kind") == "note" else "reply"
    try:
        files = await _files(form)
        await run_in_threadpool(lambda: facade.post_message(ticket_id=ticket_id, body=body, internal=kind == "note",
                                                            actor=actor, files=files))
    except (ValidationFailed, Conflict) as exc:
        errors = exc.errors if isinstance(exc, ValidationFailed) else [{"field": "(form)", "message": exc.message}]
        reply, code = {"values": {"body": body, "kind": kind}, "errors": errors, "notice": None}, exc.status
        return await run_in_threadpool(lambda: _ticket_page(request, facade, actor, ticket_id, status=code,
                                                            reply=reply))
    return RedirectResponse(f"/tickets/{ticket_id}?sent={kind}#conversation", 303)


# --- the customer's status page ---------------------------------------------------------------------------------

def status_page(request: Request, facade: Any, token: str, *, values: dict[str, Any] | None = None,
                errors: list[Any] | None = None, status: int = 200) -> HTMLResponse:
    """A ticket's status page for its customer, in the customer's language (?lang= switches): the ticket's state,
    its public conversation and a reply form while the ticket is open; a bad token gets a page that says so."""
    try:
        view = facade.ticket_status(token=token)
        talk = facade.conversation.public_conversation(token=token)
    except (LinkError, NotFound):
        return _bad_link(request, facade, "This link is not valid. It may have been mistyped or altered.")
    lang = i18n.prefer(request.query_params.get("lang"), request.cookies.get("lang"), talk["language"])
    context = {"t": view, "talk": talk, "token": token, "values": values or {}, "errors": errors or [],
               "sent": request.query_params.get("sent") == "1", "lang": lang}
    return templates.TemplateResponse(request, "customer/status.html", context, status_code=status)


def _bad_link(request: Request, facade: Any, message: str, status: int = 404) -> HTMLResponse:
    i18n.prefer(request.query_params.get("lang"), request.cookies.get("lang"), None)  # no ticket to ask
    return templates.TemplateResponse(request, "customer/message.html",
                                      {"message": _(message), "tone": "bad", "ticket": None, "lang": i18n.current()},
                                      status_code=status)


@public_router.post("/s/{token}/messages", response_model=None)
async def customer_reply(token: str, request: Request, facade: Facade) -> Response:
    """The customer's message from the status page, with files; the text is kept on any error it was read for."""
    form = await _form(request)
    if form is None:
        errors = [{"field": "files", "message": TOO_MANY_UNREAD}]
        return await run_in_threadpool(lambda: status_page(request, facade, token, errors=errors, status=413))
    body = str(form.get("body", ""))
    lang = f"&lang={request.query_params['lang']}" if request.query_params.get("lang") in i18n.LANGUAGES else ""
    try:
        await run_in_threadpool(lambda: facade.conversation.check_form_key(token=token, key=str(form.get("key", ""))))
        files = await _files(form)
        await run_in_threadpool(lambda: facade.customer_message(token=token, body=body, files=files))
    except LinkError as exc:
        if exc.reason != "stale":
            return await run_in_threadpool(lambda: _bad_link(request, facade, "This link is not valid. It may have "
                                                             "been mistyped or altered."))
        errors = [{"field": "(form)", "message": "This page was open too long. Please check your message and "
                                                "send it again."}]
        return await run_in_threadpool(lambda: status_page(request, facade, token, values={"body": body},
                                                           errors=errors, status=409))
    except (ValidationFailed, Conflict, NotFound) as exc:
        errors = exc.errors if isinstance(exc, ValidationFailed) else [{"field": "(form)", "message": exc.message}]
        code = exc.status
        return await run_in_threadpool(lambda: status_page(request, facade, token, values={"body": body},
                                                           errors=errors, status=code))
    return RedirectResponse(f"/s/{token}?sent=1{lang}#conversation", 303)


@public_router.get("/s/{token}/files/{attachment_id}", response_model=None)
def customer_file(token: str, attachment_id: int, request: Request, facade: Facade) -> Response:
    """A file of the public conversation, as a download (never a page of this site)."""
    try:
        found = facade.conversation.customer_attachment(token=token, attachment_id=attachment_id)
    except (LinkError, NotFound):
        return _bad_link(request, facade, "This file does not exist, or the link is not valid.")
    headers = {"Content-Disposition": content_disposition(found["filename"]), "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'; sandbox", "Cache-Control": "private, no-cache"}
    return Response(found["data"], media_type=served_type(found["content_type"]), headers=headers)
