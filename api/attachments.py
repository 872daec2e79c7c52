"""Staff attachments: upload a file to a ticket from its page or a task form, and download it again."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from engine.attachments import MAX_BYTES
from engine.errors import Conflict, ValidationFailed

from . import i18n
from .deps import DbId, Facade
from .security import StaffActor, check_csrf, staff_actor
from .staff import page
from .templating import local
from .timeline import in_language

router = APIRouter(dependencies=[Depends(staff_actor)])
_ = i18n.gettext
# Types a browser would render or run as a page of this site; they are only ever handed out as bytes.
ACTIVE_TYPES = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
                          "text/javascript", "application/javascript"})
RFC5987_SAFE = "!#$&+^`|"  # attr-char besides letters, digits and "-._~", which quote() keeps anyway


def content_disposition(filename: str) -> str:
    """An attachment disposition with an ASCII fallback name and the real name in RFC 5987 form."""
    fallback = "".join(ch if " " <= ch < "\x7f" and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe=RFC5987_SAFE)}"


def served_type(content_type: str) -> str:
    """The stored media type, unless a browser could treat it as a page: then plain bytes."""
    bare = content_type.split(";", 1)[0].strip().lower()
    return "application/octet-stream" if bare in ACTIVE_TYPES else content_type


def _back(form: Any, ticket_id: int) -> str:
    back = str(form.get("back", ""))
    local = back.startswith("/") and not back.startswith(("//", "/\\"))  # not another site
    return back if local else f"/tickets/{ticket_id}"


@router.post("/tickets/{ticket_id}/attachments", response_model=None)
async def upload(ticket_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Attach the posted file to the ticket, then go back where the form was."""
    form = await request.form(max_files=1, max_fields=10)
    check_csrf(request, form)
    file = form.get("file")
    filename, content_type = (file.filename or "", file.content_type) if isinstance(file, UploadFile) else ("", None)
    data = await file.read(MAX_BYTES + 1) if isinstance(file, UploadFile) else b""  # one byte over is enough
    wants_json = "application/json" in request.headers.get("accept", "")  # staff.js uploads in place
    try:
        added = await run_in_threadpool(lambda: facade.add_attachment(
            ticket_id=ticket_id, filename=filename, content_type=content_type, data=data, actor=actor))
    except (ValidationFailed, Conflict) as exc:
        message = in_language(exc.errors[0]["message"]) if isinstance(exc, ValidationFailed) else _(exc.message)
        if wants_json:
            return JSONResponse({"detail": message}, status_code=exc.status)
        return page(request, "error", actor, status=exc.status, message=message, ticket_id=ticket_id)
    if wants_json:
        return JSONResponse({**added, "href": f"/attachments/{added['id']}", "shown_at": local(added["created_at"])},
                            status_code=201)
    return RedirectResponse(_back(form, ticket_id), 303)


@router.get("/attachments/{attachment_id}")
def download(attachment_id: DbId, facade: Facade) -> Response:
    """The file as a download, never rendered inline."""
    found = facade.get_attachment(attachment_id=attachment_id)
    headers = {"Content-Disposition": content_disposition(found["filename"]), "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'; sandbox", "Cache-Control": "private, no-cache"}
    return Response(found["data"], media_type=served_type(found["content_type"]), headers=headers)
