"""The fault handling form (故障处理单) of a maintenance request, read from the ticket's facts and timeline like the
change form (engine/records.py): who reported what, the times against the SLA, the work done, the customer's
acceptance, the callback and the satisfaction score. Staff appear by user name only, never by e-mail address."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from .models import Ticket
from .queries import ticket_detail
from .records import _acceptance, _archived_at, _get, _last, _task_forms

FACTS = ("id", "number", "title", "description", "customer", "contract_number", "contact_name", "contact_email",
         "channel", "status", "category", "severity", "onsite", "tier", "created_at", "closed_at", "accepted_at",
         "auto_accepted", "satisfaction", "survey_score")
RESPONSE_TASKS = ("engineer_response", "expert_response")
RESOLUTION_TASKS = ("engineer_resolution", "expert_resolution", "answer_question")


def fault_record(session: Session, ticket: Ticket) -> dict[str, Any]:
    """The record the fault handling form prints: ticket facts, classification, SLA rows, work, sign-off."""
    detail = ticket_detail(session, ticket)
    timeline = detail["timeline"]
    tasks = _task_forms(timeline)
    return {
        **{key: detail.get(key) for key in FACTS},
        "contact_phone": ticket.contact_phone,
        "process_id": (detail.get("process") or {}).get("process_id"),
        "calendar": detail["sla"]["calendar"],
        "triage": _step(tasks, "triage", "category", "severity", "onsite"),
        "response": _latest(tasks, RESPONSE_TASKS, "contact_made", "diagnosis", "plan"),
        "resolution": _latest(tasks, RESOLUTION_TASKS, "resolution", "answer", "root_cause", "preventive_action",
                              "fault_type", "module", "escalation_reason"),
        "escalated": any(name in tasks for name in ("expert_response", "expert_resolution")),
        "rejections": [{"at": e["at"], "reason": e.get("reason")} for e in timeline if e["kind"] == "rejected"],
        "sla": sla_rows(ticket, detail, timeline),
        "paused_hours": round((ticket.paused_seconds or 0) / 3600, 2),
        "acceptance": _acceptance(timeline, detail),
        "callback": _step(tasks, "callback", "recurred", "satisfaction", "comment"),
        "survey_comment": (_last(timeline, "survey_comment") or {}).get("comment"),
        "archived_at": _archived_at(timeline, ticket),
    }


def _step(tasks: dict[str, dict[str, Any]], name: str, *fields: str) -> dict[str, Any] | None:
    form = tasks.get(name)
    if form is None:
        return None
    return {**{f: _get(form["data"], f) for f in fields}, "by": form.get("by"), "at": form.get("at"), "task": name}


def _latest(tasks: dict[str, dict[str, Any]], names: tuple[str, ...], *fields: str) -> dict[str, Any] | None:
    """The last of several steps that record the same things (an engineer's, or the expert team's after them)."""
    steps = [s for s in (_step(tasks, n, *fields) for n in names) if s is not None]
    if not steps:
        return None
    merged: dict[str, Any] = {}
    for step in sorted(steps, key=lambda s: str(s["at"])):
        merged.update({k: v for k, v in step.items() if v not in (None, "")})
    return merged


def sla_rows(ticket: Ticket, detail: dict[str, Any], timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per clock: reported, triaged, responded, resolved, accepted, called back; each with its deadline,
    when it was done and whether the deadline was met (None while open or when there is no deadline)."""
    breached = {str(b.get("kind")) for b in ticket.breaches or [] if isinstance(b, dict)}
    sla = detail["sla"]

    def row(step: str, due: Any, done: Any, kind: str | None = None) -> dict[str, Any]:
        return {"step": step, "due": due, "done": done, "met": _met(due, done, kind in breached if kind else False)}

    return [
        row("reported", None, detail["created_at"]),
        row("triaged", _opened_due(timeline, "triage"), _completed_at(timeline, "triage"), "triage"),
        row("responded", sla["response_due"], sla["responded_at"], "response"),
        row("resolved", sla["resolve_due"], sla["resolved_at"], "resolve"),
        row("accepted", None, detail["accepted_at"]),
        row("called_back", _opened_due(timeline, "callback"), _completed_at(timeline, "callback"), "callback"),
    ]


def _met(due: Any, done: Any, breached: bool) -> bool | None:
    if breached:
        return False
    if not due or not done:
        return None
    return bool(datetime.fromisoformat(str(done)) <= datetime.fromisoformat(str(due)))


def _opened_due(timeline: list[dict[str, Any]], task: str) -> Any:
    opened = [e for e in timeline if e["kind"] == "task_opened" and e.get("task") == task]
    return opened[0].get("due_at") if opened else None


def _completed_at(timeline: list[dict[str, Any]], task: str) -> Any:
    done = [e for e in timeline if e["kind"] == "task_completed" and e.get("task") == task]
    return done[0]["at"] if done else None
