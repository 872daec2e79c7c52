"""Waiting for the customer: the diagrams' "waiting for the customer" step (task `customer_answer`, lane customer)
and the resolve clock that pauses while it is open.

The step itself, its reminder and its timeout are drawn in the diagrams; the scripts around it call
`pause_sla(...)` and `resume_sla(...)` (engine/effects.py). This module does what a diagram cannot: it answers the
open step from a message the customer wrote elsewhere (status page, e-mail reply), and it holds and re-arms the
waiting timers that read the resolve deadlines, because Spiff freezes a timer's due time when it starts waiting.
"""
from __future__ import annotations

from datetime import UTC
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from . import calendar, clock, links, repository
from .errors import Conflict
from .models import HumanTask, Message, Ticket
from .users import Actor

ANSWER_TASK = "customer_answer"
ANSWER_FORM = "customer_answer.json"  # any step with this form is a "waiting for the customer" step
ANSWER_MAX = 10000  # forms/customer_answer.json: customer_answer.maxLength
# A held timer waits "forever": the scheduler's index never selects it until resume_sla gives it its new due time.
HELD_UNTIL = "9999-12-31T00:00:00+00:00"


def waiting_task(session: Session, ticket_id: int) -> HumanTask | None:
    """The ticket's open "waiting for the customer" step, if any."""
    return session.scalar(select(HumanTask).where(
        HumanTask.ticket_id == ticket_id, HumanTask.state == "open",
        or_(HumanTask.bpmn_id == ANSWER_TASK, HumanTask.form_key == ANSWER_FORM)).order_by(HumanTask.id).limit(1))


def is_answer_step(row: HumanTask) -> bool:
    """Whether a task is a "waiting for the customer" step."""
    return row.bpmn_id == ANSWER_TASK or row.form_key == ANSWER_FORM


def customer_answered(kernel: Any, session: Session, ticket: Ticket, message: Message) -> bool:
    """Complete the ticket's open "waiting for the customer" step with `message` as the answer and resume the clock
    (the diagram's resume script does); False when the ticket is not waiting. Runs in the caller's unit of work."""
    row = waiting_task(session, ticket.id)
    if row is None:
        return False
    body = (message.body or "").strip() or "（见附件）(see the attachments)"
    actor = Actor((message.author or ticket.contact_name or "customer")[:100], "customer", "customer")
    try:
        with session.begin_nested():  # a conflict part-way leaves nothing of the step behind
            kernel.complete(session, row, {"customer_answer": body[:ANSWER_MAX]}, actor)
    except Conflict:
        return False  # answered a moment ago (the link, or the timeout): the message stays in the conversation
    link = links.for_task(session, row.id)
    if link is not None and link.used_at is None:
        link.used_at = kernel.clock.now()  # the e-mailed link has nothing left to do
    return True


def _timers(wf: Any) -> list[Any]:
    """Waiting date timers of the workflow and its called processes (one event manager tracks them all)."""
    tasks = wf.event_manager.tasks.values() if hasattr(wf, "event_manager") else []
    return [t for t in tasks if isinstance(t.task_spec.event_definition, TimeDateEventDefinition)]


def _reads(task: Any) -> str:
    return str(task.task_spec.event_definition.expression or "").strip()


def hold_timers(wf: Any, variables: tuple[str, ...]) -> list[str]:
    """Stop the waiting timers whose date is one of `variables` from firing; bpmn ids of those held."""
    held = []
    for task in _timers(wf):
        if _reads(task) in variables and task.internal_data.get("event_value") != HELD_UNTIL:
            task.internal_data["held_from"] = task.internal_data.get("event_value")
            task.internal_data["event_value"] = HELD_UNTIL
            held.append(task.task_spec.bpmn_id)
    return held


def move_timers(wf: Any, values: dict[str, Any]) -> list[str]:
    """Re-arm the waiting timers whose date is one of the `values`' names at the new value (held or not), and give
    their data the new value too; bpmn ids of those moved."""
    moved = []
    for task in _timers(wf):
        name = _reads(task)
        if name in values and values[name]:
            task.internal_data.pop("held_from", None)
            task.internal_data["event_value"] = str(values[name])
            task.data[name] = values[name]
            moved.append(task.task_spec.bpmn_id)
    return moved


def apply_clock(wf: Any, effects: Any) -> None:
    """Apply what the scripts of one unit of work asked of the clock to its waiting timers, in order."""
    for action in effects.clock:
        if action[0] == "pause":
            hold_timers(wf, action[1])
        else:
            move_timers(wf, action[2])


def open_question(events: Any) -> str | None:
    """The latest question put to the customer, from a ticket's timeline events (oldest first)."""
    for e in reversed(list(events)):
        if e.kind == "customer_question":
            return str((e.data or {}).get("question") or "") or None
    return None


def post_questions(kernel: Any, session: Session, ticket: Ticket, effects: Any, now: Any, author: str) -> None:
    """Put the questions a unit of work asked into the ticket's conversation. The question's own e-mail (template
    customer_question, with the answer link) already goes out, so the message is written as author_kind "system"
    (no second e-mail) under the name of the engineer who asked."""
    from .conversation import add_message  # conversation imports this module

    for kind, data in effects.events:
        question = str(data.get("question") or "").strip() if kind == "customer_question" else ""
        if question:
            add_message(kernel, session, ticket, now=now, author=author, author_kind="system", body=question,
                        source="web")


def paused_seconds(ticket: Ticket) -> int:
    """The working time the ticket's resolve clock has been paused, on its SLA calendar: earlier pauses plus the
    current one so far."""
    total = ticket.paused_seconds or 0
    if ticket.paused_at is not None:
        now = clock.now()
        start = ticket.paused_at if ticket.paused_at.tzinfo else ticket.paused_at.replace(tzinfo=UTC)
        if now > start:
            try:
                hours = calendar.working_hours_between(start, now, ticket.sla_calendar or "working")
            except ValueError:  # a calendar no longer configured: count it on the working calendar
                hours = calendar.working_hours_between(start, now, "working")
            total += round(hours * 3600)
    return total


def answered_by_link(kernel: Any, session: Session, ticket: Ticket, data: dict[str, Any]) -> None:
    """The answer the customer gave on the link page joins the ticket's conversation, where the engineer reads it
    (the step is already complete, so the message answers nothing a second time)."""
    from .conversation import add_message  # conversation imports this module

    answer = str(data.get("customer_answer") or "").strip()
    if answer:
        add_message(kernel, session, ticket, now=kernel.clock.now(), author=ticket.contact_name or "customer",
                    author_kind="customer", body=answer, source="web")


def customer_view(session: Session, ticket: Ticket) -> dict[str, Any]:
    """What the customer's status page shows of the clock: paused since when, the paused working time, and the
    question waiting for an answer."""
    waiting = ticket.status == "waiting_customer"
    return {"paused_at": ticket.paused_at.isoformat() if ticket.paused_at else None,
            "paused_seconds": paused_seconds(ticket),
            "question": open_question(repository.timeline(session, ticket.id)) if waiting else None}
