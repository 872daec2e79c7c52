"""Service records (服务单) built from a ticket's projections: the change and extension development service form
(客户需求变更及扩展开发服务单) is read from the ticket's facts and its timeline, never from the workflow state.

Form fields come from `task_completed` events (latest value wins); the procedures' own events (entitlement,
quote_prepared, quote_accepted, ...) fill in what no form holds. Field names are looked up under every name
they have had, so a record of an older case still reads."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .models import Ticket
from .queries import ticket_detail

QUOTE_OUTCOMES = {"quote_accepted": "accepted", "quote_declined": "declined", "quote_expired": "expired"}


def change_record(session: Session, ticket: Ticket) -> dict[str, Any]:
    """The service form's record: ticket facts and each stage of the change, None for a stage not reached."""
    detail = ticket_detail(session, ticket)
    timeline = detail["timeline"]
    tasks = _task_forms(timeline)
    return {
        **{key: detail.get(key) for key in ("number", "title", "description", "customer", "contract_number",
                                             "contact_name", "contact_email", "channel", "status", "created_at",
                                             "closed_at")},
        "resolved_at": detail["sla"]["resolved_at"],
        "assessment": _assessment(tasks.get("change_assessment"), _last(timeline, "entitlement")),
        "entitlement": _entitlement(_last(timeline, "entitlement")),
        "quote": _quote(timeline, tasks.get("prepare_quote"), tasks.get("quote_decision"),
                        tasks.get("approve_quote")),
        "schedule": _schedule(tasks.get("schedule_change")),
        "implementation": _implementation(tasks.get("implement_change")),
        "not_pursued": _pick(_last(timeline, "change_not_pursued") or {}, "outcome", "reason") or None,
        "acceptance": _acceptance(timeline, detail),
        "archived_at": _archived_at(timeline, ticket),
    }


def _task_forms(timeline: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task: the submitted fields merged over every completion (latest wins), who last completed it, when."""
    forms: dict[str, dict[str, Any]] = {}
    for e in timeline:
        if e["kind"] == "task_completed" and e.get("task"):
            form = forms.setdefault(e["task"], {"data": {}})
            form["data"].update(e.get("data") or {})
            form.update(by=e.get("actor"), at=e.get("at"), last=e.get("data") or {})
    return forms


def _last(timeline: list[dict[str, Any]], *kinds: str) -> dict[str, Any] | None:
    return next((e for e in reversed(timeline) if e["kind"] in kinds), None)


def _get(data: dict[str, Any], *names: str) -> Any:
    """The first of `names` that holds a value (fields renamed over time keep reading)."""
    return next((data[n] for n in names if data.get(n) not in (None, "")), None)


def _pick(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: data[n] for n in names if data.get(n) not in (None, "")}


def _assessment(form: dict[str, Any] | None, entitlement: dict[str, Any] | None) -> dict[str, Any] | None:
    if form is None and entitlement is None:
        return None
    data, ent = (form or {}).get("data", {}), entitlement or {}
    effort = _get(data, "effort_days")
    return {"change_kind": _get(data, "change_kind") or ent.get("kind"),
            "scope": _get(data, "change_scope", "scope"),
            "effort_days": effort if effort is not None else ent.get("effort_days"),
            "impact": _get(data, "change_impact", "impact"),
            "affected_modules": _get(data, "affected_modules", "modules"),
            "decision": _get(data, "assessment_decision", "decision"),
            "answer": _get(data, "assessment_answer", "answer"),
            "by": (form or {}).get("by"), "at": (form or {}).get("at")}


def _entitlement(event: dict[str, Any] | None) -> dict[str, Any] | None:
    return {"charge": event.get("charge"), "reason": event.get("reason")} if event else None


def _quote(timeline: list[dict[str, Any]], prepared: dict[str, Any] | None, decision: dict[str, Any] | None,
           approval: dict[str, Any] | None) -> dict[str, Any] | None:
    rounds = [e for e in timeline if e["kind"] == "quote_prepared"]
    if not rounds and prepared is None:
        return None
    latest = rounds[-1] if rounds else {}
    form = (prepared or {}).get("last", {})
    items = [_item(i) for i in (latest.get("items") or _get(form, "quote_items", "items") or []) if isinstance(i, dict)]
    total = latest.get("amount")
    outcome_event = _last(timeline, *QUOTE_OUTCOMES)
    outcome = QUOTE_OUTCOMES[outcome_event["kind"]] if outcome_event else None
    return {"items": items,
            "total": total if total is not None else round(sum(_float(i["amount"]) or 0 for i in items), 2),
            "currency": latest.get("currency") or "CNY",
            "valid_until": latest.get("valid_until"),
            "rounds": max([int(e.get("round") or 0) for e in rounds] + [len(rounds) or 1]),
            "note": latest.get("note") or _get(form, "quote_note", "note"),
            "reason": latest.get("reason"),
            "outcome": outcome, "decided_at": outcome_event["at"] if outcome_event else None,
            "decided_by": (decision or {}).get("by") if outcome in ("accepted", "declined") else None,
            "accepted_at": outcome_event["at"] if outcome == "accepted" and outcome_event else None,
            "approved_by": (approval or {}).get("by")}


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    """A quote line; amount = quantity × unit price when the line does not carry it."""
    quantity = raw.get("quantity") or 1
    unit_price, amount = raw.get("unit_price"), raw.get("amount")
    count, price, total = _float(quantity), _float(unit_price), _float(amount)
    if amount is None and count is not None and price is not None:
        amount = round(count * price, 2)
    if unit_price is None and total is not None and count:
        unit_price = round(total / count, 2)
    return {"description": str(raw.get("description") or ""), "quantity": quantity, "unit_price": unit_price,
            "amount": amount}


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _schedule(form: dict[str, Any] | None) -> dict[str, Any] | None:
    if form is None:
        return None
    data = form["data"]
    return {"planned_start": _get(data, "planned_start"), "planned_end": _get(data, "planned_end"),
            "engineer": _get(data, "change_engineer", "engineer"), "by": form.get("by"), "at": form.get("at")}


def _implementation(form: dict[str, Any] | None) -> dict[str, Any] | None:
    if form is None:
        return None
    data = form["data"]
    return {"resolution": _get(data, "resolution"), "version": _get(data, "release_version", "version"),
            "by": form.get("by"), "at": form.get("at")}


def _acceptance(timeline: list[dict[str, Any]], detail: dict[str, Any]) -> dict[str, Any] | None:
    """The customer's latest word on the work: accepted (by whom), auto-accepted, or rejected."""
    last = _last_acceptance(timeline)
    if last is None:
        return None
    if last["kind"] == "auto_accepted":
        return {"outcome": "auto_accepted", "by": None, "at": detail.get("accepted_at") or last["at"], "comment": None}
    data = last.get("data") or {}
    accepted = data.get("accepted") is True or str(data.get("accepted")).lower() == "true"
    return {"outcome": "accepted" if accepted else "rejected", "by": last.get("actor"),
            "at": (detail.get("accepted_at") or last["at"]) if accepted else last["at"],
            "comment": _get(data, "reason", "comment")}


def _last_acceptance(timeline: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((e for e in reversed(timeline) if e["kind"] == "auto_accepted" or (
        e["kind"] == "task_completed" and e.get("task") == "customer_acceptance")), None)


def _archived_at(timeline: list[dict[str, Any]], ticket: Ticket) -> str | None:
    archived = _last(timeline, "archived")
    if archived is not None:
        return str(archived["at"])
    frozen = (ticket.archive or {}).get("frozen_at")
    return str(frozen) if frozen else None
