"""Staff pages to find and oversee tickets: the search box's target, the ticket list, its exports, saved views."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.errors import ValidationFailed

from . import i18n
from .deps import DbId, Facade
from .security import StaffActor, check_csrf, staff_actor
from .staff import page
from .ticket_export import to_csv, to_xlsx

SHANGHAI = ZoneInfo("Asia/Shanghai")

router = APIRouter(dependencies=[Depends(staff_actor)])
_ = i18n.gettext
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@router.get("/tickets", response_model=None)
def ticket_list(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Every ticket, filtered, sorted and paged by the address; a whole ticket number opens that ticket."""
    q = request.query_params.get("q", "")
    found = facade.tickets.find_number(q=q) if q else None
    if found is not None:
        return RedirectResponse(f"/tickets/{found}", 303)
    query, errors = facade.tickets.parse_query(params=dict(request.query_params))
    result = facade.list_tickets(query=query, actor=actor)
    return page(request, "tickets", actor, result=result, query=query, errors=errors,
                choices=facade.tickets.list_choices(actor=actor), here=request.url.query)


@router.get("/tickets.{kind}", response_model=None)
def ticket_export(kind: str, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """The current list, all pages (up to 50,000 rows), as CSV or XLSX."""
    if kind not in MEDIA:
        return page(request, "error", actor, status=404, message=_("Page not found"))
    query, _errors = facade.tickets.parse_query(params=dict(request.query_params))
    rows = facade.export_tickets(query=query, actor=actor).rows
    body = to_csv(rows, _) if kind == "csv" else to_xlsx(rows, _)
    name = f"tickets-{facade.clock.now().astimezone(SHANGHAI):%Y%m%d-%H%M}.{kind}"  # Beijing time, as the list shows
    return Response(body, media_type=MEDIA[kind], headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/ticket-views", response_model=None)
async def save_view(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Keep the current list under a name."""
    form = await request.form()
    check_csrf(request, form)
    name, query = str(form.get("name", "")), str(form.get("query", ""))
    try:
        await run_in_threadpool(lambda: facade.tickets.save_view(actor=actor, name=name, query=query))
    except ValidationFailed as exc:
        return page(request, "error", actor, status=422, message=_(exc.message))
    return RedirectResponse(f"/tickets?{query.lstrip('?')}" if query else "/tickets", 303)


@router.post("/ticket-views/{view_id}/delete", response_model=None)
async def delete_view(view_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Forget a saved view."""
    check_csrf(request, await request.form())
    await run_in_threadpool(lambda: facade.tickets.delete_view(actor=actor, view_id=view_id))
    return RedirectResponse("/tickets", 303)
