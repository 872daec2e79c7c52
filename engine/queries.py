"""Read side: what the task list, ticket page and API show, built from projections only."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import repository
from .contacts import is_unmatched
from .errors import Forbidden, NotFound
from .language import ticket_language
from .models import Contract, Customer, HumanTask, Instance, ProcessVersion, Ticket
from .users import Actor, may_work_on
from .waiting import paused_seconds


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, or None."""
    return value.isoformat() if value else None


def task_dict(row: HumanTask) -> dict[str, Any]:
    """A task as the API shows it; `row` may also be a row of repository.TASK_COLUMNS."""
    return {"id": row.id, "ticket_id": row.ticket_id, "name": row.bpmn_id, "title": row.title, "role": row.role,
            "form_key": row.form_key, "due_at": iso(row.due_at), "created_at": iso(row.created_at),
            "state": row.state, "instructions": row.instructions, "assignee": row.assignee}


def ticket_brief(session: Session, ticket: Ticket) -> dict[str, Any]:
    """The few ticket facts a customer page shows."""
    customer = session.get(Customer, ticket.customer_id)
    return {"id": ticket.id, "number": ticket.number, "title": ticket.title, "status": ticket.status,
            "customer": customer.name if customer else None, "contact_name": ticket.contact_name,
            "description": ticket.description, "created_at": iso(ticket.created_at),
            "resolved_at": iso(ticket.resolved_at), "language": ticket_language(session, ticket)}


def ticket_detail(session: Session, ticket: Ticket) -> dict[str, Any]:
    """Everything about a ticket: fields, SLA clocks, timeline, conversation and open tasks."""
    from .conversation import messages  # conversation reads attachments, which read this module

    customer = session.get(Customer, ticket.customer_id)
    instance = session.get(Instance, ticket.instance_id) if ticket.instance_id else None
    version = session.get(ProcessVersion, instance.version_id) if instance else None
    contract = session.get(Contract, ticket.contract_id) if ticket.contract_id else None
    origin = session.get(Ticket, ticket.origin_ticket_id) if ticket.origin_ticket_id else None
    linked = session.scalars(select(Ticket).where(Ticket.origin_ticket_id == ticket.id).order_by(Ticket.id)).all()
    return {
        "id": ticket.id, "number": ticket.number, "status": ticket.status, "category": ticket.category,
        "severity": ticket.severity, "onsite": ticket.onsite, "tier": ticket.tier,
        "customer": customer.name if customer else None, "contact_name": ticket.contact_name,
        "contact_email": ticket.contact_email, "contact_phone": ticket.contact_phone, "contact_id": ticket.contact_id,
        "customer_unmatched": is_unmatched(customer), "channel": ticket.channel, "title": ticket.title,
        "description": ticket.description, "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at), "closed_at": iso(ticket.closed_at),
        "accepted_at": iso(ticket.accepted_at), "auto_accepted": ticket.auto_accepted,
        "satisfaction": ticket.satisfaction, "survey_score": ticket.survey_score,
        "escalation_level": ticket.escalation_level,
        "contract_number": contract.number if contract else None,
        "origin": {"id": origin.id, "number": origin.number, "title": origin.title} if origin else None,
        "linked": [{"id": t.id, "number": t.number, "title": t.title, "status": t.status} for t in linked],
        "process": {"process_id": version.process_id, "version": version.version} if version else None,
        "sla": {"calendar": ticket.sla_calendar, "response_due": iso(ticket.response_due),
                "resolve_due": iso(ticket.resolve_due), "responded_at": iso(ticket.responded_at),
                "resolved_at": iso(ticket.resolved_at), "breaches": list(ticket.breaches),
                "paused_at": iso(ticket.paused_at), "paused_seconds": paused_seconds(ticket)},
        "timeline": [{"at": iso(e.at), "kind": e.kind, "actor": e.actor, **e.data}
                     for e in repository.timeline(session, ticket.id)],
        "tasks": [task_dict(t) for t in repository.open_tasks(session, roles=None, ticket_id=ticket.id)],
        "messages": messages(session, ticket.id, include_internal=True),  # staff only: notes included
        # what `status` says (a survey may still be open beside an archived ticket); whether the record (故障处理单)
        # is frozen yet is `record_frozen` (it freezes when the case ends)
        "archived": ticket.status == "archived", "record_frozen": ticket.archive is not None,
    }


def quote_offer(events: Any) -> dict[str, Any] | None:
    """The quote a customer is asked to decide on: the latest round the paid-service negotiation logged
    (round, items, total, currency, valid until, why it is paid, the manager's note, the counter-offer it answers)."""
    rounds = [e.data for e in events if e.kind == "quote_prepared"]
    return dict(rounds[-1]) if rounds else None


def previous_answer(session: Session, row: HumanTask) -> dict[str, Any]:
    """What was entered the last time this step of this case was completed (empty the first time)."""
    if row.ticket_id is None:
        return {}
    answers = [e.data.get("data") or {} for e in repository.timeline(session, row.ticket_id)
               if e.kind == "task_completed" and e.instance_id == row.instance_id and e.data.get("task") == row.bpmn_id]
    return dict(answers[-1]) if answers else {}


def open_task_for(session: Session, task_id: str, actor: Actor) -> HumanTask:
    """An open task `actor` may work on; NotFound or Forbidden otherwise."""
    row = session.get(HumanTask, task_id)
    if row is None or row.state != "open":
        raise NotFound("no such open task", task_id=task_id)
    if not may_work_on(actor.role, row.role):
        raise Forbidden(f"role {actor.role!r} may not work on {row.role!r} tasks", task_role=row.role,
                        ticket_id=row.ticket_id)
    return row
