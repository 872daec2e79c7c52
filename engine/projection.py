"""Save a case: its state, and every projection lists and reports read instead of the workflow."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy.orm import Session

from . import appends, links, notifications, outbox, repository, rows, waiting
from .effects import CUSTOMER_LANE, Effects
from .language import ticket_language
from .models import HumanTask, Instance, Ticket, TicketSearch, TimelineEvent
from .runtime import ReadyTask, Runtime, to_datetime
from .search import document, index_ticket, own_texts
from .users import Actor, may_work_on
from .worklist import ticket_columns

_TIME_FIELDS = ("response_due", "resolve_due", "responded_at", "resolved_at", "accepted_at")
_PLAIN_FIELDS = ("category", "severity", "onsite", "sla_calendar", "auto_accepted", "satisfaction")


@dataclass
class SaveContext:
    """Everything one save needs besides the session."""

    runtime: Runtime
    secret: str
    now: datetime
    actor: Actor
    link_valid_days: int
    completed_task_id: str | None = None
    # What the caller already read in this unit, so saving need not read it again: the case's open task rows
    # (locked and fresh), and the texts the unit added to the ticket (the completed form's answers).
    open_rows: list[HumanTask] | None = None
    new_texts: list[Any] | None = None
    indexed: bool = True  # the ticket has its search document already (False: a ticket opened in this unit)


def save_case(session: Session, ctx: SaveContext, instance: Instance, ticket: Ticket | None,
              wf: BpmnWorkflow, effects: Effects, fired: list[str]) -> None:
    """Write state, human tasks, timer index, ticket columns, timeline and outbox for one unit of work.

    Nothing read here depends on what this save writes (the flushes that must come first are explicit), so the
    session does not flush before each read, and the events and mail it appends are written together after it
    (engine/appends.py): the rows go out together, in batches per table."""
    with session.no_autoflush, appends.held(session):
        _save_case(session, ctx, instance, ticket, wf, effects, fired)


def _save_case(session: Session, ctx: SaveContext, instance: Instance, ticket: Ticket | None,
               wf: BpmnWorkflow, effects: Effects, fired: list[str]) -> None:
    waiting.apply_clock(wf, effects)  # before the dump and the timer index: held and moved timers are state
    rows.update_versioned(session, instance, {
        "state": ctx.runtime.dump(wf), "serializer_version": ctx.runtime.version,
        "next_timer_at": ctx.runtime.next_timer_at(wf), "status": "completed" if wf.is_completed() else "running",
        "error": None, "updated_at": ctx.now})
    for name in fired:
        _event(session, ticket, instance, ctx.now, "timer_fired", "system", {"timer": name})
    ready = ctx.runtime.ready_tasks(wf)
    if ctx.open_rows is None:  # read once: the breach notices and the task projection both need them
        ctx.open_rows = list(repository.open_tasks_of_instance(session, instance.id))
    if ticket is not None:
        _project_ticket(session, ctx, ticket, wf, effects, ready)
    _apply_effects(session, ctx, instance, ticket, effects)
    if ticket is not None:
        rows.write_changes(session, ticket)  # the projection's and the effects' changes (breaches, escalation ...)
    _project_tasks(session, ctx, instance, ticket, ready)
    if ticket is not None and wf.is_completed() and ticket.archive is None:
        _freeze(session, ticket, ctx.now)
    if ticket is not None:
        _index(session, ctx, ticket)


def _index(session: Session, ctx: SaveContext, ticket: Ticket) -> None:
    """The search document, in the same unit of work as the ticket; only a completed form adds text to it. A
    document is the ordered set of its texts' tokens, so the texts this unit added extend it in place instead of the
    whole timeline being read and tokenized again; the row is written only when a token is new."""
    if ctx.completed_task_id is None and ctx.indexed:
        return  # a timer firing or a claim adds no text
    if not ctx.indexed:  # opened in this unit: no document yet, and no form or message to read
        rows.insert_row(session, TicketSearch, {"ticket_id": ticket.id,
                                                "document": document(own_texts(session, ticket))})
        return
    stored = rows.value(session, TicketSearch.document, ticket.id)  # the column alone: no object to load
    if stored is None or ctx.new_texts is None:
        appends.write(session)
        session.flush()  # the full path reads the timeline, this unit's events included
        index_ticket(session, ticket)
        return
    known = stored.split(" ") if stored else []
    seen = set(known)
    added = [t for t in dict.fromkeys(document(ctx.new_texts).split(" ")) if t and t not in seen]
    if added:
        rows.update_key(session, TicketSearch, ticket.id, {"document": " ".join([*known, *added])})


def _freeze(session: Session, ticket: Ticket, now: datetime) -> None:
    """The archived record (故障处理单): every step, who, when, SLA figures and sign-off, frozen."""
    from .queries import ticket_detail

    rows.update(session, ticket, {"closed_at": ticket.closed_at or now})
    appends.write(session)
    session.flush()  # the record reads the timeline and whatever else the unit changed
    rows.update(session, ticket, {"archive": {**ticket_detail(session, ticket), "frozen_at": now.isoformat()}})


def _project_ticket(session: Session, ctx: SaveContext, ticket: Ticket, wf: BpmnWorkflow,
                    effects: Effects, ready: list[ReadyTask]) -> None:
    data = ctx.runtime.case_data(wf)
    values: dict[str, Any] = {name: to_datetime(data[name]) for name in _TIME_FIELDS if name in data}
    values.update({name: data[name] for name in _PLAIN_FIELDS if name in data})
    if "score" in data:
        values["survey_score"] = data["score"]
    values["status"] = status = _status(ticket, wf, effects, ready)
    if status == "archived" and ticket.closed_at is None:
        values["closed_at"] = ctx.now  # archived while a survey may still be open beside it: closed now
    values["updated_at"] = ctx.now
    for name, value in values.items():  # written with the effects' changes in one UPDATE (rows.write_changes)
        if getattr(ticket, name) != value:
            setattr(ticket, name, value)


def _status(ticket: Ticket, wf: BpmnWorkflow, effects: Effects, ready: list[ReadyTask]) -> str:
    if effects.status:
        return effects.status
    if ticket.status == "archived":
        return "archived"  # terminal: a survey still open beside it does not pull the ticket back
    staff = [t.status for t in ready if t.status and t.lane != CUSTOMER_LANE]
    customer = [t.status for t in ready if t.status and t.lane == CUSTOMER_LANE]
    if staff or customer:
        return (staff or customer)[0]
    if wf.is_completed():
        return ticket.status if ticket.status == "archived" else "closed"
    return ticket.status


def _apply_effects(session: Session, ctx: SaveContext, instance: Instance, ticket: Ticket | None,
                   effects: Effects) -> None:
    for kind, data in effects.events:
        _event(session, ticket, instance, ctx.now, kind, "system", data)
    if ticket is not None:
        _apply_clock(ctx, ticket, effects)
        _apply_breaches(session, ctx, instance, ticket, effects)
        _apply_escalations(session, ctx, instance, ticket, effects)
    for target, template, data in effects.emails:
        notify(session, ctx.now, ticket, target, template, data)


def _apply_clock(ctx: SaveContext, ticket: Ticket, effects: Effects) -> None:
    """The paused resolve clock as the SLA table shows it: since when, and the working time of earlier pauses."""
    for action in effects.clock:
        if action[0] == "pause":
            ticket.paused_at = ticket.paused_at or ctx.now
        else:
            ticket.paused_seconds = (ticket.paused_seconds or 0) + round(action[1] * 3600)
            ticket.paused_at = None


def _apply_breaches(session: Session, ctx: SaveContext, instance: Instance, ticket: Ticket,
                    effects: Effects) -> None:
    for kind in effects.breaches:
        if any(b.get("kind") == kind for b in ticket.breaches):
            continue
        ticket.breaches = [*ticket.breaches, {"kind": kind, "at": ctx.now.isoformat()}]
        _event(session, ticket, instance, ctx.now, "sla_breach", "system", {"breach": kind})
        _notify_assignees(session, ctx, ticket, "deadline_breached", {"breach": kind}, skip_roles=[])


def _apply_escalations(session: Session, ctx: SaveContext, instance: Instance, ticket: Ticket,
                       effects: Effects) -> None:
    for level, roles, reason in effects.escalations:
        if level <= ticket.escalation_level:
            continue  # each level once, however often a rework re-arms its timer
        ticket.escalation_level = level
        _event(session, ticket, instance, ctx.now, "escalation", "system",
               {"level": level, "roles": roles, "reason": reason})
        for role in roles:
            notify(session, ctx.now, ticket, role, "escalation", {"level": level, "reason": reason})
        _notify_assignees(session, ctx, ticket, "escalation", {"level": level, "reason": reason}, skip_roles=roles)


def notify(session: Session, now: datetime, ticket: Ticket | None, target: str, template: str,
           data: dict[str, Any]) -> int:
    """Queue `template` for the ticket's contact (target 'customer') or every user of a role; staff mail carries
    its recipient and kind, so it may reach them in a digest (engine/notifications.py), customer mail never does."""
    context = {**data, "ticket_id": ticket.id if ticket else None}
    if target == CUSTOMER_LANE:
        if ticket is None or not ticket.contact_email:
            return 0
        # a new task's link is given; other mail to the customer carries the link of a customer task still open
        open_link = context.get("link_id") or links.unused_of_ticket(session, ticket.id, CUSTOMER_LANE)
        if open_link:
            context["link_id"] = open_link
        outbox.enqueue(session, to_addr=ticket.contact_email, template=template,
                       language=ticket_language(session, ticket), context=context,
                       ticket_id=ticket.id, now=now)
        return 1
    users = [u for u in repository.users_with_role(session, target) if u.email]
    for user in users:
        outbox.enqueue(session, to_addr=str(user.email), template=template, language=user.language,
                       context={**context, "recipient": user.username, "role": target},
                       ticket_id=ticket.id if ticket else None, now=now, recipient=user.username,
                       kind=notifications.kind_of(template))
    return len(users)


def _notify_assignees(session: Session, ctx: SaveContext, ticket: Ticket, template: str, data: dict[str, Any],
                      skip_roles: list[str]) -> None:
    """E-mail the people who hold the case's open tasks, unless their whole role was just told."""
    for task in sorted(ctx.open_rows or [], key=lambda t: (t.created_at, t.id)):
        user = repository.user_by_name(session, task.assignee) if task.assignee else None
        if user is not None and user.email and user.role not in skip_roles:
            outbox.enqueue(session, to_addr=user.email, template=template, language=user.language,
                           context={**data, "ticket_id": ticket.id, "recipient": user.username, "task": task.title},
                           ticket_id=ticket.id, now=ctx.now, recipient=user.username,
                           kind=notifications.kind_of(template))


def _project_tasks(session: Session, ctx: SaveContext, instance: Instance, ticket: Ticket | None,
                   ready: list[ReadyTask]) -> None:
    open_rows = {row.id: row for row in ctx.open_rows or []}
    ready_ids = {task.id for task in ready}
    for task_id, row in open_rows.items():
        if task_id not in ready_ids:
            done = task_id == ctx.completed_task_id
            rows.update(session, row, {"state": "done" if done else "closed", "completed_at": ctx.now,
                                       "completed_by": ctx.actor.name if done else None})
    for task in ready:
        existing = open_rows.get(task.id)
        if existing is not None:  # the same step; after a migration, as the new version draws it
            rows.update(session, existing, {  # with the ticket's columns the task list filters on
                "due_at": task.due_at, "title": task.title, "form_key": task.form_key,
                "instructions": task.instructions, "role": task.lane or existing.role, **ticket_columns(ticket)})
            continue
        _open_task(session, ctx, instance, ticket, task)


def _open_task(session: Session, ctx: SaveContext, instance: Instance, ticket: Ticket | None,
               task: ReadyTask) -> None:
    rows.insert_row(session, HumanTask, {
        "id": task.id, "instance_id": instance.id, "ticket_id": ticket.id if ticket else None,
        "bpmn_id": task.bpmn_id, "title": task.title, "role": task.lane or "", "form_key": task.form_key,
        "instructions": task.instructions, "ticket_status": task.status, "state": "open",
        "assignee": _valid_assignee(session, task), "due_at": task.due_at, "created_at": ctx.now,
        "completed_at": None, "completed_by": None, **ticket_columns(ticket)})
    _event(session, ticket, instance, ctx.now, "task_opened", "system",
           {"task": task.bpmn_id, "title": task.title, "role": task.lane,
            "due_at": task.due_at.isoformat() if task.due_at else None})
    if task.lane != CUSTOMER_LANE and ticket is not None:
        notify(session, ctx.now, ticket, task.lane or "", "task_arrived",
               {"task": task.title, "due_at": task.due_at.isoformat() if task.due_at else None, "task_id": task.id})
    if task.lane == CUSTOMER_LANE:
        link = links.create(session, secret=ctx.secret, instance_id=instance.id,
                            ticket_id=ticket.id if ticket else None, task_id=task.id, task_bpmn_id=task.bpmn_id,
                            now=ctx.now, valid_days=ctx.link_valid_days, task_due=task.due_at)
        if task.email_template and ticket is not None:
            notify(session, ctx.now, ticket, CUSTOMER_LANE, task.email_template,
                   {"link_id": link.id, "task": task.bpmn_id})


def _valid_assignee(session: Session, task: ReadyTask) -> str | None:
    """The task's named assignee if that is an active user who may work in the task's lane, else the queue."""
    if not task.assignee:
        return None
    user = repository.user_by_name(session, task.assignee)
    if user is None or not user.active or not may_work_on(user.role, task.lane or ""):
        return None
    return user.username


def _event(session: Session, ticket: Ticket | None, instance: Instance, at: datetime, kind: str, actor: str,
           data: dict[str, Any]) -> None:
    appends.add(session, TimelineEvent, ticket_id=ticket.id if ticket else None, instance_id=instance.id, at=at,
                kind=kind, actor=actor, data=data)


def event(session: Session, ticket: Ticket | None, instance: Instance, at: datetime, kind: str, actor: str,
          data: dict[str, Any]) -> None:
    """Append one timeline event."""
    _event(session, ticket, instance, at, kind, actor, data)
