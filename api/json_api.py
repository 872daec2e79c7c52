"""The JSON API under /api (DESIGN.md §4). Every route but /api/token needs a bearer token.

Bearer routes take no CSRF token: a browser never adds the `Authorization` header by itself, and these routes do not
read the staff session cookie."""
from __future__ import annotations

import html
import re
from typing import Annotated, Any, Literal

import jwt
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from engine.errors import AftercareError, InvalidProcess
from engine.worklist import TaskListQuery

from . import templating
from .deps import MAX_DB_ID, ApiActor, ApiRoute, DbId, Facade, TaskId, api_actor, issue_token, oauth2, token_claims
from .security import client_address
from .validation import Email, Line, Text, excerpt

router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)], route_class=ApiRoute)
token_router = APIRouter(prefix="/api")


class TicketCreate(BaseModel):
    customer: Line = Field(min_length=1, max_length=200)
    contact_name: Line = Field(min_length=1, max_length=200)
    contact_email: Email
    channel: Literal["web", "phone", "email", "wechat"]  # engine/ticket_fields.py CHANNELS
    title: Line = Field(min_length=1, max_length=300)
    description: Text = Field(default="", max_length=20000)
    contact_phone: Line | None = Field(default=None, max_length=50)  # optional; a known contact's is used otherwise


# a client's own key for one ticket-creating request (engine/idempotency.py): visible ASCII, 255 at most
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255,
                                              pattern=r"^[!-~]+$")]


class TokenRevoked(BaseModel):
    revoked: Literal[True]


class TaskCompletion(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict)


def error_response(exc: AftercareError) -> JSONResponse:
    """The JSON shape of a domain error."""
    if isinstance(exc, InvalidProcess):  # the contract's bare list of located problems
        return JSONResponse(exc.problems, status_code=exc.status)
    body: dict[str, Any] = {"detail": excerpt(exc.message, 300)}  # never more than an excerpt of what was sent
    if hasattr(exc, "errors"):
        body["errors"] = [{**e, "message": excerpt(str(e.get("message", "")), 300)} if isinstance(e, dict) else e
                          for e in exc.errors]
    return JSONResponse(body, status_code=exc.status)


@token_router.post("/token", responses={401: {"description": "wrong username or password"},
                                         429: {"description": "too many failed logins: wait Retry-After seconds"}})
def token(request: Request, facade: Facade, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, str]:
    """Exchange a username and password for a bearer token (a server-side session: logout, a password change or
    disabling the user ends it); 429 with Retry-After while failed logins throttle the client (README)."""
    actor, session = facade.sessions.log_in(username=form.username, password=form.password,
                                            address=client_address(request), kind="api")
    return {"access_token": issue_token(facade, actor, session), "token_type": "bearer"}


@router.post("/token/revoke", responses={401: {"description": "no bearer token, or one that no longer works"}})
def revoke_token(facade: Facade, token: Annotated[str | None, Depends(oauth2)]) -> TokenRevoked:
    """Revoke the bearer token this request carries (RFC 7009 in spirit, the token authenticating itself): its
    session ends at once and the token answers 401 from then on; the user's other tokens and browser sessions live
    on (logging out in the browser ends them all)."""
    # the token and its live session were checked before this runs (api_actor, ApiRoute); it may expire in between
    try:
        session = str(token_claims(str(token), facade.settings.secret_key)["sid"])
    except (jwt.PyJWTError, KeyError):
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"}) from None
    facade.sessions.end_session(token=session)
    return TokenRevoked(revoked=True)


@router.post("/tickets", status_code=201)
def create_ticket(body: TicketCreate, facade: Facade, actor: ApiActor, response: Response,
                  idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    """Log a ticket; its maintenance-request case starts at once. With an `Idempotency-Key` header a repeat of the
    request (same caller, key and fields, within 24 h) answers 201 with the first ticket and `Idempotent-Replayed:
    true`; the key with other fields answers 422."""
    created = facade.create_ticket(**body.model_dump(), actor=actor, idempotency_key=idempotency_key)
    if created.get("replayed"):
        response.headers["Idempotent-Replayed"] = "true"
    return shown_ticket(facade.get_ticket(ticket_id=created["id"], actor=actor))


@router.get("/tickets/{ticket_id}")
def get_ticket(ticket_id: DbId, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """A ticket with its SLA clocks, timeline and open tasks (listed as `GET /api/tasks` lists them)."""
    return shown_ticket(facade.get_ticket(ticket_id=ticket_id, actor=actor))


def shown_ticket(ticket: dict[str, Any]) -> dict[str, Any]:
    """A ticket as every JSON answer shows it: its open tasks listed as `GET /api/tasks` lists them."""
    return {**ticket, "tasks": [_listed(task) for task in ticket.get("tasks", [])]}


@router.get("/tasks")
def list_tasks(facade: Facade, actor: ApiActor,
               role: Annotated[str | None, Query(max_length=32, description="Only this role's tasks.")] = None,
               ticket_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID, description="Only this ticket's tasks.")]
               = None,
               limit: Annotated[int, Query(ge=1, le=1000, description="Tasks per page: 100 unless given, at most "
                                           "1000.")] = 100,
               offset: Annotated[int, Query(ge=0, le=MAX_DB_ID, description="Tasks to skip.")] = 0,
               ) -> list[dict[str, Any]]:
    """Open tasks the caller may work on, earliest due first (tasks without a due time last, ties by id), one page
    at a time: `limit` tasks from `offset`; a page shorter than `limit` is the last. `has_instructions` says whether
    a task has instructions; `GET /api/tasks/{id}` gives them filled in with the case's data."""
    query = TaskListQuery(role=role, ticket_id=ticket_id, limit=limit, offset=offset)
    return [_listed(task) for task in facade.worklist(actor=actor, query=query).rows]


def _listed(task: dict[str, Any]) -> dict[str, Any]:
    """A task in a list: never its raw instructions template ({{ ticket_number }}). Filling one reads its ticket and
    case (about 30 ms; half a minute for a page of 1000), so a list says only whether a task has instructions."""
    listed = {k: v for k, v in task.items() if k != "instructions"}
    return {**listed, "has_instructions": bool(task.get("instructions"))}


@router.get("/tasks/{task_id}")
def get_task(task_id: TaskId, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """One open task and its form (JSON Schema). `instructions` are the task page's: filled with the case's
    variables, in the reader's language (`?lang=` or Accept-Language), as plain text; `instructions_html` the same
    as the page shows it."""
    task = facade.get_task(task_id=task_id, actor=actor)
    ticket = facade.get_ticket(ticket_id=task["ticket_id"], actor=actor) if task["ticket_id"] else None
    variables = facade.task_variables(task_id=task_id, actor=actor) if task["instructions"] else {}
    shown = templating.instructions(task["instructions"], ticket, variables)
    return {**task, "instructions": _plain(shown) or None, "instructions_html": str(shown) or None}


def _plain(markup: str) -> str:
    """The instructions' HTML (paragraphs, headings, bold) as plain text, a blank line between blocks."""
    blocks = re.split(r"</(?:p|h3)>", markup)
    return "\n\n".join(html.unescape(re.sub(r"<[^>]+>", "", b)).strip() for b in blocks if b.strip()).strip()


@router.post("/tasks/{task_id}/complete")
def complete_task(task_id: TaskId, body: TaskCompletion, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Complete a task with form data."""
    return facade.complete_task(task_id=task_id, data=body.data, actor=actor)


@router.get("/processes")
def list_processes(facade: Facade) -> list[dict[str, Any]]:
    """The newest version of every procedure."""
    return facade.list_processes()
