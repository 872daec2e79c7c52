"""JSON API for starting procedures by hand: which ones the caller may start, and starting one (bearer token)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from .deps import ApiActor, ApiRoute, Facade, api_actor
from .json_api import shown_ticket

router = APIRouter(prefix="/api/procedures", dependencies=[Depends(api_actor)], route_class=ApiRoute)


class ProcedureStart(BaseModel):
    """A new ticket running a procedure; with `origin_ticket_id` the customer and contact default to that ticket's."""

    customer: str = Field(default="", max_length=200)
    contact_name: str = Field(default="", max_length=200)
    contact_email: str = Field(default="", max_length=320)
    channel: str = "phone"
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20000)
    origin_ticket_id: int | None = None


@router.get("/startable")
def startable(facade: Facade, actor: ApiActor, where: str = "intake") -> list[dict[str, Any]]:
    """The procedures the caller may start from `where`: `intake` or `ticket`."""
    return facade.startable(actor=actor, where=where)


@router.post("/{process_id}/start", status_code=201)
def start(process_id: str, body: ProcedureStart, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Start the newest version of a procedure as a new ticket; the ticket as `GET /api/tickets/{id}` shows it."""
    created = facade.start_procedure(process_id=process_id, actor=actor, **body.model_dump())
    return shown_ticket(facade.get_ticket(ticket_id=created["id"], actor=actor))
