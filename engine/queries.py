"""Read side: what the task list, ticket page and API show, built from projections only."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from . import repository, rows
from .contacts import UNMATCHED_CUSTOMER
from .errors import Forbidden, NotFound
from .language import ticket_language
from .models import Contract, Customer, HumanTask, Instance, ProcessVersion, Ticket, TimelineEvent
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

    facts = rows.read(session, _DETAIL_FACTS, {"ticket_id": ticket.id})
    fact = facts[0] if facts else None
    linked = rows.read(session, _LINKED, {"ticket_id": ticket.id})
    return {
        "id": ticket.id, "number": ticket.number, "status": ticket.status, "category": ticket.category,
        "severity": ticket.severity, "onsite": ticket.onsite, "tier": ticket.tier,
        "customer": fact.customer if fact else None, "contact_name": ticket.contact_name,
        "contact_email": ticket.contact_email, "contact_phone": ticket.contact_phone, "contact_id": ticket.contact_id,
        "customer_unmatched": fact is not None and fact.customer == UNMATCHED_CUSTOMER, "channel": ticket.channel,
        "title": ticket.title, "description": ticket.description, "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at), "closed_at": iso(ticket.closed_at),
        "accepted_at": iso(ticket.accepted_at), "auto_accepted": ticket.auto_accepted,
        "satisfaction": ticket.satisfaction, "survey_score": ticket.survey_score,
        "escalation_level": ticket.escalation_level,
        "contract_number": fact.contract_number if fact else None,
        "origin": {"id": fact.origin_id, "number": fact.origin_number, "title": fact.origin_title}
        if fact and fact.origin_id is not None else None,
        "linked": [{"id": t.id, "number": t.number, "title": t.title, "status": t.status} for t in linked],
        "process": {"process_id": fact.process_id, "version": fact.version}
        if fact and fact.process_id is not None else None,
        "sla": {"calendar": ticket.sla_calendar, "response_due": iso(ticket.response_due),
                "resolve_due": iso(ticket.resolve_due), "responded_at": iso(ticket.responded_at),
                "resolved_at": iso(ticket.resolved_at), "breaches": list(ticket.breaches),
                "paused_at": iso(ticket.paused_at), "paused_seconds": paused_seconds(ticket)},
        "timeline": [{"at": iso(e.at), "kind": e.kind, "actor": e.actor, **e.data}
                     for e in rows.read(session, _TIMELINE, {"ticket_id": ticket.id})],
        "tasks": [task_dict(t) for t in repository.open_tasks(session, roles=None, ticket_id=ticket.id)],
        "messages": messages(session, ticket.id, include_internal=True),  # staff only: notes included
        # what `status` says (a survey may still be open beside an archived ticket); whether the record (故障处理单)
        # is frozen yet is `record_frozen` (it freezes when the case ends)
        "archived": ticket.status == "archived", "record_frozen": ticket.archive is not None,
    }


# What the detail reads besides the ticket's own columns, built once (the ticket page, GET /api/tickets/{id} and the
# frozen record at archive all read it): the customer's name, the case's procedure and version, the contract's
# number and the ticket it was opened from, in one statement; the tickets opened from it; its timeline.
_origin = aliased(Ticket)
_DETAIL_FACTS = (
    select(Customer.name.label("customer"), ProcessVersion.process_id, ProcessVersion.version,
           Contract.number.label("contract_number"), _origin.id.label("origin_id"),
           _origin.number.label("origin_number"), _origin.title.label("origin_title"))
    .select_from(Ticket)
    .outerjoin(Customer, Customer.id == Ticket.customer_id)
    .outerjoin(Instance, Instance.id == Ticket.instance_id)
    .outerjoin(ProcessVersion, ProcessVersion.id == Instance.version_id)
    .outerjoin(Contract, Contract.id == Ticket.contract_id)
    .outerjoin(_origin, _origin.id == Ticket.origin_ticket_id)
    .where(Ticket.id == bindparam("ticket_id")))
_LINKED = select(Ticket.id, Ticket.number, Ticket.title, Ticket.status).where(
    Ticket.origin_ticket_id == bindparam("ticket_id")).order_by(Ticket.id)
_TIMELINE = select(TimelineEvent.at, TimelineEvent.kind, TimelineEvent.actor, TimelineEvent.data).where(
    TimelineEvent.ticket_id == bindparam("ticket_id")).order_by(TimelineEvent.at, TimelineEvent.id)


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
