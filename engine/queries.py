"""Read side: what the task list, ticket page and API show, built from projections only."""
from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import forms, repository
from .effects import Effects
from .errors import Conflict, Forbidden, NotFound
from .models import Contract, Customer, HumanTask, Instance, ProcessVersion, Ticket
from .uow import UnitOfWork
from .users import Actor, may_work_on, visible_lanes


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, or None."""
    return value.isoformat() if value else None


def task_dict(row: HumanTask) -> dict[str, Any]:
    """A task as the API shows it."""
    return {"id": row.id, "ticket_id": row.ticket_id, "name": row.bpmn_id, "title": row.title, "role": row.role,
            "form_key": row.form_key, "due_at": iso(row.due_at), "created_at": iso(row.created_at),
            "state": row.state, "instructions": row.instructions, "assignee": row.assignee}


def ticket_brief(session: Session, ticket: Ticket) -> dict[str, Any]:
    """The few ticket facts a customer page shows."""
    customer = session.get(Customer, ticket.customer_id)
    return {"id": ticket.id, "number": ticket.number, "title": ticket.title, "status": ticket.status,
            "customer": customer.name if customer else None, "contact_name": ticket.contact_name,
            "description": ticket.description, "created_at": iso(ticket.created_at),
            "resolved_at": iso(ticket.resolved_at)}


def ticket_detail(session: Session, ticket: Ticket) -> dict[str, Any]:
    """Everything about a ticket: fields, SLA clocks, timeline and open tasks."""
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
        "contact_email": ticket.contact_email, "channel": ticket.channel, "title": ticket.title,
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
                "resolved_at": iso(ticket.resolved_at), "breaches": list(ticket.breaches)},
        "timeline": [{"at": iso(e.at), "kind": e.kind, "actor": e.actor, **e.data}
                     for e in repository.timeline(session, ticket.id)],
        "tasks": [task_dict(t) for t in repository.open_tasks(session, roles=None, ticket_id=ticket.id)],
        "archived": ticket.archive is not None,
    }


def quote_offer(events: Any) -> dict[str, Any] | None:
    """The quote a customer is asked to decide on: the latest round the paid-service negotiation logged
    (round, items, total, currency, valid until, why it is paid, the manager's note, the counter-offer it answers)."""
    rounds = [e.data for e in events if e.kind == "quote_prepared"]
    return dict(rounds[-1]) if rounds else None


def _previous_answer(session: Session, row: HumanTask) -> dict[str, Any]:
    """What was entered the last time this step of this case was completed (empty the first time)."""
    if row.ticket_id is None:
        return {}
    answers = [e.data.get("data") or {} for e in repository.timeline(session, row.ticket_id)
               if e.kind == "task_completed" and e.instance_id == row.instance_id and e.data.get("task") == row.bpmn_id]
    return dict(answers[-1]) if answers else {}


class ReadVerbs:
    """Read verbs of the facade."""

    uow: UnitOfWork

    def get_ticket(self, *, ticket_id: int, actor: Actor) -> dict[str, Any]:
        """One ticket in full."""
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            return ticket_detail(session, ticket)

    def list_tasks(self, *, actor: Actor, role: str | None = None,
                   ticket_id: int | None = None) -> list[dict[str, Any]]:
        """Open tasks the actor may work on, optionally narrowed to a role or a ticket."""
        lanes = visible_lanes(actor.role)
        if role is not None:
            lanes = [role] if lanes is None or role in lanes else []
        with self.uow(write=False) as session:
            rows = repository.open_tasks(session, roles=lanes, ticket_id=ticket_id)
            return [task_dict(r) for r in rows]

    def get_task(self, *, task_id: str, actor: Actor) -> dict[str, Any]:
        """One open task with its form schema."""
        with self.uow(write=False) as session:
            row = _open_task_for(session, task_id, actor)
            instance = session.get(Instance, row.instance_id)
            form = self._form(session, instance.version_id, row.form_key) if instance else {}  # type: ignore[attr-defined]
            form = forms.with_previous_answer(form, _previous_answer(session, row))
            if forms.staff_fields(form):
                form = forms.with_staff_options(form, repository.active_staff(session))
            return {**task_dict(row), "form": form}

    def form_choices(self, *, process_id: str, form_key: str, field: str) -> list[str]:
        """The choices (`oneOf` consts) a field offers in the newest deployed version of a process's form, e.g. the
        kinds of change of the change assessment, which a contract's free-maintenance scope lists."""
        with self.uow(write=False) as session:
            version = repository.latest_version(session, process_id)
            if version is None:
                return []
            form = self._form(session, version.id, form_key)  # type: ignore[attr-defined]
            options = form.get("properties", {}).get(field, {}).get("oneOf", [])
            return [str(o["const"]) for o in options if "const" in o]

    def task_forms(self, *, ticket_id: int) -> dict[str, dict[str, Any]]:
        """The form schema of every step this ticket's case has reached, by task id (the timeline's field titles)."""
        with self.uow(write=False) as session:
            steps = session.execute(select(HumanTask.bpmn_id, HumanTask.form_key, Instance.version_id).distinct()
                                    .join(Instance, Instance.id == HumanTask.instance_id)
                                    .where(HumanTask.ticket_id == ticket_id, HumanTask.form_key.is_not(None))).all()
            found: dict[str, dict[str, Any]] = {}
            for bpmn_id, form_key, version_id in steps:
                with contextlib.suppress(NotFound):  # a form missing from a deployment leaves its fields unlabelled
                    found[bpmn_id] = self._form(session, version_id, form_key)  # type: ignore[attr-defined]
            return found

    def task_variables(self, *, task_id: str, actor: Actor) -> dict[str, Any]:
        """The case variables as the open task sees them: what its instructions (from the diagram) are rendered
        with. Reads the case itself, so only the task page asks for it, never the task list."""
        with self.uow(write=False) as session:
            row = _open_task_for(session, task_id, actor)
            instance = session.get(Instance, row.instance_id)
            if instance is None:
                return {}
            wf = self._load_case(session, instance, Effects(), for_update=False)  # type: ignore[attr-defined]
            try:
                return dict(self.runtime.ready_task(wf, task_id).data)  # type: ignore[attr-defined]
            except Conflict:
                return {}

    def ticket_for_mail(self, *, ticket_id: int) -> dict[str, Any]:
        """Ticket facts an e-mail template may use (no timeline)."""
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                return {}
            detail = ticket_detail(session, ticket)
            detail.pop("timeline")
            detail["quote"] = quote_offer(repository.timeline(session, ticket.id))
            return detail

    def worklist(self, *, actor: Actor, query: Any) -> Any:
        """A page of the staff task list."""
        from .worklist import worklist

        with self.uow(write=False) as session:
            return worklist(session, actor, query, self.clock.now())  # type: ignore[attr-defined]


def _open_task_for(session: Session, task_id: str, actor: Actor) -> HumanTask:
    """An open task `actor` may work on; NotFound or Forbidden otherwise."""
    row = session.get(HumanTask, task_id)
    if row is None or row.state != "open":
        raise NotFound("no such open task", task_id=task_id)
    if not may_work_on(actor.role, row.role):
        raise Forbidden(f"role {actor.role!r} may not work on {row.role!r} tasks")
    return row
