"""The inbound mail log for the service desk: every message the mail-in listener received and what became of it
(a reply on a ticket, a new ticket, an auto-reply set aside, a refusal), as a staff page and its JSON twin."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from engine.services.inbound import OUTCOMES

from .deps import ApiActor, ApiRoute, Facade, api_actor
from .security import StaffActor, staff_actor
from .staff import page

PAGE = "/inbound-mail"
page_router = APIRouter(dependencies=[Depends(staff_actor)])
api_router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)], route_class=ApiRoute)


def _outcome(value: str | None) -> str | None:
    return value if value in OUTCOMES else None


@page_router.get(PAGE, response_class=HTMLResponse)
def inbound_mail_page(request: Request, facade: Facade, actor: StaffActor, outcome: str | None = None) -> HTMLResponse:
    """The newest 200 inbound messages, optionally of one outcome."""
    chosen = _outcome(outcome)
    rows = facade.list_inbound_mail(actor=actor, outcome=chosen, limit=200)
    return page(request, "inbound_mail", actor, rows=rows, outcomes=OUTCOMES, chosen=chosen or "")


@api_router.get(PAGE)
def inbound_mail(facade: Facade, actor: ApiActor, outcome: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The inbound log, newest first: `?outcome=` one of reply, note, new_ticket, unmatched, auto_reply, bounce,
    loop, refused; `?limit=` at most 1000."""
    return facade.list_inbound_mail(actor=actor, outcome=outcome, limit=limit)
