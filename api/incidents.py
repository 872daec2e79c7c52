"""Incidents (cases parked because their diagram code failed): the staff page with a retry button per case, its
JSON twin, and the banner the ticket page shows while its case is parked. Process owners, managers and admins.

The page and the list carry the notices of engine/incident_notices.py too: the cases that could not start (cleared
by a person) and the tasks whose due expression failed (the ticket page shows those as a banner as well)."""
from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from engine import incident_notices
from engine.commands import Aftercare
from engine.users import Actor

from .deps import MAX_DB_ID, ApiActor, ApiRoute, DbId, Facade, api_actor
from .security import StaffActor, check_csrf, staff_actor
from .staff import page
from .templating import templates

page_router = APIRouter(dependencies=[Depends(staff_actor)])
api_router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)], route_class=ApiRoute)
RETRIERS = ("process_owner", "manager", "admin")


class IncidentRetry(BaseModel):
    to_version: int | None = Field(default=None, ge=1, le=MAX_DB_ID)  # move the case to this version first


@page_router.get("/incidents", response_class=HTMLResponse)
def incidents_page(request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """Every parked case, oldest first, with what failed where and a retry button."""
    items = facade.list_incidents(actor=actor)
    retried = request.query_params.get("retried", "")
    return page(request, "incidents", actor, rows=[i for i in items if i.get("kind", "parked") == "parked"],
                started=[i for i in items if i.get("kind") == incident_notices.START_FAILED],
                dues=[i for i in items if i.get("kind") == incident_notices.DUE_FAILED],
                dues_shown=incident_notices.DUE_SHOWN,
                retried=retried if retried.isdigit() else "", outcome=request.query_params.get("outcome", ""),
                cleared=request.query_params.get("cleared", "").isdigit())


@page_router.post("/incidents/start-failures/{notice_id}/clear", response_model=None)
async def clear_from_page(notice_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Clear the notice of a case that could not start; back to the list."""
    check_csrf(request, await request.form())
    await run_in_threadpool(clear_notice, facade, notice_id, actor)
    return RedirectResponse(f"/incidents?cleared={notice_id}#start-failures", 303)


@page_router.post("/incidents/{instance_id}/retry", response_model=None)
async def retry_from_page(instance_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Retry one parked case (on a newer version when chosen); back to the list, which says how it went."""
    form = await request.form()
    check_csrf(request, form)
    chosen = str(form.get("to_version", "")).strip()
    to_version = int(chosen) if chosen.isdigit() and 0 < int(chosen) <= MAX_DB_ID else None
    result = await run_in_threadpool(lambda: facade.retry_incident(instance_id=instance_id, actor=actor,
                                                                   to_version=to_version))
    return RedirectResponse(f"/incidents?retried={instance_id}&outcome={result['status']}", 303)


@api_router.get("/incidents")
def list_incidents(facade: Facade, actor: ApiActor) -> list[dict[str, Any]]:
    """Parked cases: `kind` "parked", `instance_id`, `ticket_id`, `number`, `procedure`, `version`, `element_id`,
    `error`, `since`; then the cases that could not start (`kind` "start_failed", no case or ticket: `notice_id`,
    `count`, `last_at`, `sources`, `attempts`, `errors`: the last five distinct errors, newest first) and the tasks
    whose due expression failed (`kind` "due_failed": `notice_id`, `task_id`, `task`, `expression`; the newest 200)."""
    return facade.list_incidents(actor=actor)


@api_router.post("/incidents/start-failures/{notice_id}/clear")
def clear_start_failure(notice_id: DbId, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Clear the notice of a case that could not start (after a fix); a start that fails again opens a new one."""
    return clear_notice(facade, notice_id, actor)


@api_router.post("/incidents/{instance_id}/retry")
def retry_incident(instance_id: DbId, facade: Facade, actor: ApiActor,
                   body: Annotated[IncidentRetry | None, Body()] = None) -> dict[str, Any]:
    """Run a parked case again (its due timers and steps); `status` says "running", or "incident" with the new
    `element_id` and `error` when it failed again. 409 when the case is not parked."""
    return facade.retry_incident(instance_id=instance_id, actor=actor, to_version=body.to_version if body else None)


def case_incident(request: Request, ticket_id: int) -> dict[str, Any] | None:
    """For the ticket page's banner: the incident of the ticket's case, if it is parked."""
    found: dict[str, Any] | None = request.app.state.facade.ticket_incident(ticket_id=ticket_id)
    return found


def case_notices(request: Request, ticket_id: int) -> list[dict[str, Any]]:
    """For the ticket page's banner: the ticket's open tasks without a due time because their expression failed."""
    facade = request.app.state.facade
    found: list[dict[str, Any]] = facade.run_in_unit(partial(incident_notices.due_failures, ticket_id=ticket_id))
    return found


def clear_notice(facade: Aftercare, notice_id: int, actor: Actor) -> dict[str, Any]:
    """Clear a start-failure notice in a unit of work of its own."""
    cleared: dict[str, Any] = facade.run_in_unit(partial(
        incident_notices.clear_start_failure, notice_id=notice_id, actor=actor, now=facade.clock.now()), write=True)
    return cleared


templates.env.globals["case_incident"] = case_incident
templates.env.globals["case_notices"] = case_notices
