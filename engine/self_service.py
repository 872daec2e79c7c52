"""What a signed-in contact sees in "my tickets": every ticket of their organisation, each with its public
conversation, the steps waiting for the customer and the files they may have (engine/conversation.py:
public_attachments). Never an internal note, nor a ticket's status-page link (a credential to write on it)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from . import conversation, links, repository
from .effects import CUSTOMER_LANE
from .models import HumanTask, Message, Ticket
from .portal import PUBLIC_EVENTS, public_event
from .queries import iso

LIST_LIMIT = 200
HIDDEN_CATEGORIES = ("monthly_report",)  # the manager's review of the monthly report is internal work
CLOSED = ("archived", "closed")


def organisation_tickets(session: Session, customer_id: int) -> tuple[list[dict[str, Any]], bool]:
    """The organisation's tickets, open ones first, newest first; and whether there were more than shown."""
    rows = list(session.scalars(select(Ticket).where(
        Ticket.customer_id == customer_id,
        or_(Ticket.category.is_(None), Ticket.category.not_in(HIDDEN_CATEGORIES)))
        .order_by(Ticket.closed_at.is_not(None), Ticket.created_at.desc(), Ticket.id.desc()).limit(LIST_LIMIT + 1)))
    ids = [t.id for t in rows[:LIST_LIMIT]]
    waiting = set(session.scalars(select(HumanTask.ticket_id).where(
        HumanTask.ticket_id.in_(ids), HumanTask.state == "open", HumanTask.role == CUSTOMER_LANE))) if ids else set()
    return [{"id": t.id, "number": t.number, "title": t.title, "status": t.status, "contact_name": t.contact_name,
             "created_at": iso(t.created_at), "updated_at": iso(t.updated_at), "closed": t.status in CLOSED,
             "waiting_for_you": t.id in waiting} for t in rows[:LIST_LIMIT]], len(rows) > LIST_LIMIT


def visible_ticket(session: Session, customer_id: int, ticket_id: int) -> Ticket | None:
    """The ticket if it is the organisation's and shown in "my tickets" (else None, as if it did not exist)."""
    ticket = session.get(Ticket, ticket_id) if 0 < ticket_id < 2**31 else None
    if ticket is None or ticket.customer_id != customer_id or ticket.category in HIDDEN_CATEGORIES:
        return None
    return ticket


def ticket_view(session: Session, ticket: Ticket, *, secret: str, now: datetime) -> dict[str, Any]:
    """One ticket as its customer sees it."""
    messages = list(session.scalars(select(Message).where(Message.ticket_id == ticket.id,
                                                          Message.internal.is_(False))
                                    .order_by(Message.at, Message.id)))
    files = conversation.public_attachments(session, ticket)
    by_message: dict[int, list[dict[str, Any]]] = {}
    for f in files:
        if f["message_id"] is not None:
            by_message.setdefault(f["message_id"], []).append(f)
    events = [public_event(e) for e in repository.timeline(session, ticket.id) if e.kind in PUBLIC_EVENTS]
    return {"id": ticket.id, "number": ticket.number, "title": ticket.title, "status": ticket.status,
            "description": ticket.description, "category": ticket.category, "contact_name": ticket.contact_name,
            "created_at": iso(ticket.created_at), "resolve_due": iso(ticket.resolve_due),
            "resolved_at": iso(ticket.resolved_at), "closed_at": iso(ticket.closed_at),
            "events": events,
            "messages": [{"id": m.id, "at": iso(m.at), "author": m.author, "author_kind": m.author_kind,
                          "body": m.body, "files": by_message.get(m.id, [])} for m in messages],
            "actions": pending_actions(session, ticket, secret=secret, now=now),
            "files": [f for f in files if f["message_id"] is None]}


def pending_actions(session: Session, ticket: Ticket, *, secret: str, now: datetime) -> list[dict[str, Any]]:
    """The customer's open steps (acceptance, quote, survey, inspection sign-off) with the link that does them;
    `link` is None when the e-mailed link is spent or expired (the page then asks for a new one)."""
    actions = []
    for task in session.scalars(select(HumanTask).where(HumanTask.ticket_id == ticket.id, HumanTask.state == "open",
                                                        HumanTask.role == CUSTOMER_LANE)
                                .order_by(HumanTask.created_at)):
        link = links.for_task(session, task.id)
        usable = link is not None and link.used_at is None and link.expires_at > now
        actions.append({"task": task.bpmn_id, "title": task.title, "due_at": iso(task.due_at),
                        "link": f"/c/{links.token_for(secret, link)}" if usable and link is not None else None})
    return actions
