"""What an e-mail template may say about its ticket, read narrowly: one row of ticket columns (with the customer's
name and the ticket it came from) and the two timeline events a mail can quote. The whole ticket detail (timeline,
tasks, conversation, the case's serialized workflow) used to be built for every e-mail: 60 % of the sender's time.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session, aliased

from . import rows
from .models import Customer, Ticket, TimelineEvent
from .queries import iso

# the timeline events a template quotes: the quote being decided on and the question put to the customer
QUOTED = ("quote_prepared", "customer_question")
_ORIGIN = aliased(Ticket)
# built once: composing a statement with an alias costs more than running it
_FACTS = (select(Ticket.id, Ticket.number, Ticket.status, Ticket.category, Ticket.severity, Ticket.onsite, Ticket.tier,
                 Ticket.channel, Ticket.title, Ticket.contact_name, Ticket.contact_email, Ticket.created_at,
                 Ticket.closed_at, Ticket.escalation_level, Ticket.response_due, Ticket.resolve_due,
                 Ticket.responded_at, Ticket.resolved_at, Ticket.breaches, Customer.name.label("customer"),
                 _ORIGIN.id.label("origin_id"), _ORIGIN.number.label("origin_number"),
                 _ORIGIN.title.label("origin_title"))
          .outerjoin(Customer, Customer.id == Ticket.customer_id)
          .outerjoin(_ORIGIN, _ORIGIN.id == Ticket.origin_ticket_id).where(Ticket.id == bindparam("ticket_id")))
_QUOTED = (select(TimelineEvent.kind, TimelineEvent.data)  # OR, not IN: a list SQLAlchemy would expand per run
           .where(TimelineEvent.ticket_id == bindparam("ticket_id"), or_(*(TimelineEvent.kind == k for k in QUOTED)))
           .order_by(TimelineEvent.at, TimelineEvent.id))


def ticket_facts(session: Session, ticket_id: int) -> dict[str, Any]:
    """The ticket fields e-mail templates use (no timeline, no internal notes); empty when there is no ticket."""
    found = rows.read(session, _FACTS, {"ticket_id": ticket_id})
    if not found:
        return {}
    row = found[0]
    quoted = {kind: dict(data or {}) for kind, data in rows.read(session, _QUOTED, {"ticket_id": ticket_id})}
    question = quoted.get("customer_question", {}).get("question")
    return {
        "id": row.id, "number": row.number, "status": row.status, "category": row.category,
        "severity": row.severity, "onsite": row.onsite, "tier": row.tier, "channel": row.channel, "title": row.title,
        "customer": row.customer, "contact_name": row.contact_name, "contact_email": row.contact_email,
        "created_at": iso(row.created_at), "closed_at": iso(row.closed_at), "escalation_level": row.escalation_level,
        "origin": {"id": row.origin_id, "number": row.origin_number, "title": row.origin_title}
        if row.origin_id is not None else None,
        "sla": {"response_due": iso(row.response_due), "resolve_due": iso(row.resolve_due),
                "responded_at": iso(row.responded_at), "resolved_at": iso(row.resolved_at),
                "breaches": list(row.breaches or [])},
        "quote": quoted.get("quote_prepared"),  # the latest of each kind, timeline order
        "question": str(question or "") or None,
    }
