"""JSON API for oversight: the ticket list and search (contract: ../shared/DESIGN.md §4, "Oversight")."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from .deps import ApiActor, ApiRoute, Facade, api_actor

router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)], route_class=ApiRoute, tags=["oversight"])


@router.get("/tickets")
def list_tickets(request: Request, facade: Facade, actor: ApiActor, q: str = "", status: str = "",
                 category: str = "", severity: str = "", customer: str = "", breached: str = "",
                 page: str = "", per_page: str = "") -> dict[str, Any]:
    """Tickets matching `q` (number, title, description, customer, contact, form and message text, Chinese
    substrings too) and the filters; also assignee, channel, created_from/_to, closed_from/_to (YYYY-MM-DD),
    at_risk, sort, desc. A bad value answers 422 naming its field; per_page is at most 200."""
    query, _ = facade.tickets.parse_query(params=dict(request.query_params), strict=True)
    return facade.list_tickets(query=query, actor=actor, exact=True).to_json()
