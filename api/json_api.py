"""The JSON API under /api (DESIGN.md §4). Every route but /api/token needs a bearer token."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from engine.errors import AftercareError, InvalidProcess

from .deps import ApiActor, DbId, Facade, api_actor, issue_token

router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)])
token_router = APIRouter(prefix="/api")


class TicketCreate(BaseModel):
    customer: str = Field(min_length=1, max_length=200)
    contact_name: str = Field(min_length=1, max_length=200)
    contact_email: str = Field(min_length=3, max_length=320)
    channel: str
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20000)
    contact_phone: str | None = Field(default=None, max_length=50)  # optional; a known contact's is used otherwise


class TaskCompletion(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict)


def error_response(exc: AftercareError) -> JSONResponse:
    """The JSON shape of a domain error."""
    if isinstance(exc, InvalidProcess):  # the contract's bare list of located problems
        return JSONResponse(exc.problems, status_code=exc.status)
    body: dict[str, Any] = {"detail": exc.message}
    if hasattr(exc, "errors"):
        body["errors"] = exc.errors
    return JSONResponse(body, status_code=exc.status)


@token_router.post("/token")
def token(facade: Facade, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, str]:
    """Exchange a username and password for a bearer token."""
    actor = facade.authenticate(username=form.username, password=form.password)
    return {"access_token": issue_token(facade, actor), "token_type": "bearer"}


@router.post("/tickets", status_code=201)
def create_ticket(body: TicketCreate, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Log a ticket; its maintenance-request case starts at once."""
    created = facade.create_ticket(**body.model_dump(), actor=actor)
    return facade.get_ticket(ticket_id=created["id"], actor=actor)


@router.get("/tickets/{ticket_id}")
def get_ticket(ticket_id: DbId, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """A ticket with its SLA clocks and timeline."""
    return facade.get_ticket(ticket_id=ticket_id, actor=actor)


@router.get("/tasks")
def list_tasks(facade: Facade, actor: ApiActor, role: str | None = None,
               ticket_id: int | None = None) -> list[dict[str, Any]]:
    """Open tasks the caller may work on."""
    return facade.list_tasks(actor=actor, role=role, ticket_id=ticket_id)


@router.get("/tasks/{task_id}")
def get_task(task_id: str, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """One open task and its form (JSON Schema)."""
    return facade.get_task(task_id=task_id, actor=actor)


@router.post("/tasks/{task_id}/complete")
def complete_task(task_id: str, body: TaskCompletion, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Complete a task with form data."""
    return facade.complete_task(task_id=task_id, data=body.data, actor=actor)


@router.get("/processes")
def list_processes(facade: Facade) -> list[dict[str, Any]]:
    """The newest version of every procedure."""
    return facade.list_processes()
