"""The dashboard's figures and the month's figures of the monthly service report (月度服务报告), built from
engine/figures.py and the projections. Shapes: README "Figures"."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from . import figures as fg
from .figures import Period
from .models import Contract, Customer, HumanTask, Inspection, MonthlyReport, Ticket, TimelineEvent, User
from .ticket_list import WAITING, at_risk, breached

REPORT_PROCESS = "monthly_report"
CLOSED = ("closed", "archived")
WORKERS = ("engineer", "expert")
INSPECTION_HORIZON = timedelta(days=30)
QUOTE_STEP = "quote_decision"
QUOTE_EVENTS = {"quote_accepted": "accepted", "quote_declined": "declined", "quote_expired": "expired"}
RESOLUTION_STEPS = ("engineer_resolution", "expert_resolution", "fault_resolution")


def dashboard(session: Session, now: datetime) -> dict[str, Any]:
    """What a manager sees of the whole desk now, this month against last month."""
    this = Period.containing(now)
    last = this.previous()
    is_open = Ticket.status.not_in(CLOSED)
    strictly_open = Ticket.status.not_in((*CLOSED, *WAITING))
    dialect = session.get_bind().dialect.name
    return {
        "now": now.isoformat(), "month": this.month, "previous_month": last.month,
        "open": {"total": sum(r["count"] for r in fg.grouped(session, Ticket.status, is_open)),
                 "by_status": fg.grouped(session, Ticket.status, is_open),
                 "by_category": fg.grouped(session, Ticket.category, is_open),
                 "by_severity": fg.grouped(session, Ticket.severity, is_open, Ticket.category == "fault")},
        "breached_now": _count(session, strictly_open, breached(now)),
        "at_risk_now": _count(session, at_risk(dialect, now)),
        "sla": {"this_month": fg.sla(session, this), "last_month": fg.sla(session, last)},
        "times": {"this_month": fg.times(session, this), "last_month": fg.times(session, last)},
        "workload": workload(session, now),
        "unassigned": fg.counted(session.execute(
            select(HumanTask.role, func.count()).where(HumanTask.state == "open", HumanTask.assignee.is_(None))
            .group_by(HumanTask.role)).all()),
        "satisfaction": {"this_month": fg.satisfaction(session, this), "last_month": fg.satisfaction(session, last)},
        "inspections": inspections_due(session, now),
        "quotes_waiting": _waiting_quotes(session),
    }


def workload(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Open and overdue tasks of every active engineer and expert (idle ones too)."""
    users = session.execute(select(User.username, User.role).where(
        User.role.in_(WORKERS), User.active.is_(True)).order_by(User.role, User.username)).all()
    late = case((and_(HumanTask.due_at.is_not(None), HumanTask.due_at < now), 1), else_=0)
    held = {name: (int(total), int(overdue or 0)) for name, total, overdue in session.execute(
        select(HumanTask.assignee, func.count(), func.sum(late))
        .where(HumanTask.state == "open", HumanTask.assignee.is_not(None)).group_by(HumanTask.assignee))}
    return [{"user": name, "role": role, "open_tasks": held.get(name, (0, 0))[0],
             "overdue": held.get(name, (0, 0))[1]} for name, role in users]


def inspections_due(session: Session, now: datetime) -> dict[str, int]:
    """Inspections coming up within 30 days or under way on time (due), and those with a step past due."""
    late_tickets = select(HumanTask.ticket_id).where(HumanTask.state == "open", HumanTask.due_at < now)
    open_inspections = and_(Ticket.category == "inspection", Ticket.status.not_in(CLOSED))
    overdue = _count(session, open_inspections, Ticket.id.in_(late_tickets))
    under_way = _count(session, open_inspections, Ticket.id.not_in(late_tickets))
    coming = session.scalar(select(func.count()).select_from(Contract).where(
        Contract.active.is_(True), Contract.next_inspection_at.is_not(None),
        Contract.next_inspection_at < now + INSPECTION_HORIZON)) or 0
    return {"due": under_way + int(coming), "overdue": overdue}


def month_figures(session: Session, period: Period, customer: Customer | None, now: datetime) -> dict[str, Any]:
    """The month's figures of one customer, or of all customers together (the report to management)."""
    cid = customer.id if customer else None
    in_month = and_(Ticket.created_at >= period.start, Ticket.created_at < period.end)
    mine = [Ticket.customer_id == cid] if cid is not None else []
    figures: dict[str, Any] = {
        "month": period.month, "customer": customer.name if customer else None,
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "tickets": {
            "opened": _count(session, in_month, *mine),
            "closed": _count(session, Ticket.closed_at >= period.start, Ticket.closed_at < period.end, *mine),
            "open_at_end": _count(session, Ticket.created_at < period.end,
                                  or_(Ticket.closed_at.is_(None), Ticket.closed_at >= period.end), *mine)},
        "by_category": fg.grouped(session, Ticket.category, in_month, *mine),
        "by_severity": fg.grouped(session, Ticket.severity, in_month, Ticket.category == "fault", *mine),
        "by_channel": fg.grouped(session, Ticket.channel, in_month, *mine),
        "sla": fg.sla(session, period, cid), "sla_previous": fg.sla(session, period.previous(), cid),
        "times": fg.times(session, period, cid),
        "satisfaction": fg.satisfaction(session, period, cid),
        "inspections": _inspections_done(session, period, cid),
        "changes": _changes(session, period, cid),
        "quotes": _quotes(session, period, cid),
    }
    figures.update(_faults(session, period, cid))
    if customer is None:
        figures["customers"] = _per_customer(session, period)
    return figures


def _faults(session: Session, period: Period, cid: int | None) -> dict[str, Any]:
    """Breaches with their causes, recurrences, and the most frequent fault types and modules of the month."""
    breaches = fg.breaches_in(session, period, cid)
    resolved = select(Ticket.id).where(Ticket.resolved_at >= period.start, Ticket.resolved_at < period.end,
                                       Ticket.category == "fault")
    resolved_ids = list(session.scalars(fg.of_customer(resolved, cid)))
    forms = _resolution_forms(session, [*resolved_ids, *(b["ticket_id"] for b in breaches)])
    for b in breaches:
        data = forms.get(b["ticket_id"], {})
        b["cause"] = str(data.get("root_cause") or data.get("escalation_reason") or "")[:500]
    events = _events(session, period, cid, ("reopened",))
    recurrences = []
    for ticket, data in events:
        if data.get("reason") == "recurred":
            origin = session.get(Ticket, ticket.origin_ticket_id) if ticket.origin_ticket_id else None
            recurrences.append({"number": ticket.number, "title": ticket.title,
                                "origin": origin.number if origin else None})
    return {"breaches": [{k: b[k] for k in ("number", "title", "kind", "at", "cause")} for b in breaches],
            "recurrences": recurrences,
            "fault_types": fg.top(forms.get(t, {}).get("fault_type") for t in resolved_ids),
            "modules": fg.top(forms.get(t, {}).get("module") for t in resolved_ids)}


def _resolution_forms(session: Session, ticket_ids: list[int]) -> dict[int, dict[str, Any]]:
    """What the resolution steps' forms said, per ticket (latest wins)."""
    out: dict[int, dict[str, Any]] = {}
    for chunk in fg.chunks(sorted(set(ticket_ids))):
        for ticket_id, data in session.execute(select(TimelineEvent.ticket_id, TimelineEvent.data).where(
                TimelineEvent.ticket_id.in_(chunk), TimelineEvent.kind == "task_completed")
                .order_by(TimelineEvent.at, TimelineEvent.id)):
            if isinstance(data, dict) and data.get("task") in RESOLUTION_STEPS:
                out.setdefault(int(ticket_id), {}).update(
                    {k: v for k, v in (data.get("data") or {}).items() if v not in (None, "")})
    return out


def _events(session: Session, period: Period, cid: int | None,
            kinds: tuple[str, ...]) -> list[tuple[Ticket, dict[str, Any]]]:
    stmt = select(Ticket, TimelineEvent.data).join(TimelineEvent, TimelineEvent.ticket_id == Ticket.id).where(
        TimelineEvent.kind.in_(kinds), TimelineEvent.at >= period.start, TimelineEvent.at < period.end)
    stmt = fg.of_customer(stmt, cid).order_by(TimelineEvent.at, TimelineEvent.id)
    return [(t, d if isinstance(d, dict) else {}) for t, d in session.execute(stmt).all()]


def _inspections_done(session: Session, period: Period, cid: int | None) -> dict[str, Any]:
    stmt = select(Inspection, Ticket).join(Ticket, Ticket.id == Inspection.ticket_id).where(
        Inspection.signed_at >= period.start, Inspection.signed_at < period.end).order_by(Inspection.signed_at)
    items = []
    for inspection, ticket in session.execute(fg.of_customer(stmt, cid)).all():
        report = inspection.report or {}
        items.append({"number": ticket.number, "visit_date": report.get("visit_date"),
                      "risks": len(report.get("risks") or []), "summary": str(report.get("summary") or "")[:500]})
    return {"done": len(items), "risks": sum(i["risks"] for i in items), "items": items}


def _changes(session: Session, period: Period, cid: int | None) -> dict[str, Any]:
    items = [{"number": t.number, "title": t.title} for t, _ in _events(session, period, cid, ("change_implemented",))]
    return {"delivered": len(items), "items": items}


def _quotes(session: Session, period: Period, cid: int | None) -> dict[str, int]:
    out = dict.fromkeys(QUOTE_EVENTS.values(), 0)
    kinds = session.execute(fg.of_customer(
        select(TimelineEvent.kind, func.count()).join(Ticket, Ticket.id == TimelineEvent.ticket_id).where(
            TimelineEvent.kind.in_(tuple(QUOTE_EVENTS)), TimelineEvent.at >= period.start,
            TimelineEvent.at < period.end), cid).group_by(TimelineEvent.kind)).all()
    for kind, count in kinds:
        out[QUOTE_EVENTS[kind]] = int(count)
    out["waiting"] = _waiting_quotes(session, cid)
    return out


def _per_customer(session: Session, period: Period) -> list[dict[str, Any]]:
    opened = dict(session.execute(select(Ticket.customer_id, func.count()).where(
        Ticket.created_at >= period.start, Ticket.created_at < period.end,
        fg.service_ticket()).group_by(Ticket.customer_id)).all())
    closed = dict(session.execute(select(Ticket.customer_id, func.count()).where(
        Ticket.closed_at >= period.start, Ticket.closed_at < period.end,
        fg.service_ticket()).group_by(Ticket.customer_id)).all())
    breaches: dict[int, int] = {}
    for row in fg.breached_rows(session, period.start, None):
        count = len([b for b in row.breaches if isinstance(b, dict) and fg.parse_time(b.get("at")) in period])
        if count:
            breaches[row.customer_id] = breaches.get(row.customer_id, 0) + count
    ids = set(opened) | set(closed) | set(breaches)
    names = dict(session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids))).all()) if ids else {}
    rows = [{"customer": names.get(i, ""), "opened": int(opened.get(i, 0)), "closed": int(closed.get(i, 0)),
             "breaches": breaches.get(i, 0)} for i in ids]
    return sorted(rows, key=lambda r: (-r["opened"], r["customer"]))


def _waiting_quotes(session: Session, cid: int | None = None) -> int:
    stmt = select(func.count(func.distinct(HumanTask.ticket_id))).where(
        HumanTask.bpmn_id == QUOTE_STEP, HumanTask.state == "open")
    if cid is not None:
        stmt = stmt.join(Ticket, Ticket.id == HumanTask.ticket_id).where(Ticket.customer_id == cid)
    return int(session.scalar(stmt) or 0)


def _count(session: Session, *conditions: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(Ticket).where(
        fg.service_ticket(), *conditions)) or 0)


def project_report(session: Session, ticket: Ticket, data: dict[str, Any], now: datetime, actor: str) -> None:
    """Copy what the review wrote, and when the report was sent, into the report row."""
    report = session.scalar(select(MonthlyReport).where(MonthlyReport.ticket_id == ticket.id))
    if report is None:
        return
    reviewed = False
    for name in ("analysis", "measures", "internal_note"):
        value = data.get(name)
        if isinstance(value, str) and value != getattr(report, name):
            setattr(report, name, value)
            reviewed = True
    if reviewed:
        report.reviewed_by = actor[:100]
    if data.get("sent_at") and report.sent_at is None:
        report.sent_at = now
