"""The desk's figures, read from the projections (tickets, tasks, timeline), never from a workflow: SLA compliance
per metric, response and resolve times in working hours, satisfaction against the seed targets, and the counts
the dashboard and the monthly service report (月度服务报告) show.

Counting rules (the README's "Figures" section says the same):
- A clock counts in the month it stops or breaches: met when it stopped in the month without a breach of its
  kind, breached when its breach was recorded in the month. triage and callback stop when their step is completed,
  response at `responded_at`, resolve at `resolved_at`.
- Times run from the ticket's creation on the ticket's SLA calendar (working hours, holidays excluded); time the
  resolve clock was paused (`sla_resumed` events before the resolution) is taken off.
- Satisfaction is the callback score (1-5) and the survey score (1-5) of tickets closed in the month; the survey
  score on 100 is the average × 20.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session

from .calendar import SHANGHAI, working_hours_between
from .models import HumanTask, Ticket, TimelineEvent

METRICS = ("triage", "response", "resolve", "callback")
STEP_OF = {"triage": "triage", "callback": "callback"}  # metrics whose clock stops when the step is completed
TARGET_SHARE, TARGET_SURVEY = 0.85, 90  # the seeds: 服务满意度 > 85 %, quarterly survey score ≥ 90
REPORT_CATEGORY = "monthly_report"  # the monthly report's own tickets count in no figure
KB_CATEGORY = "kb_article"  # nor do the knowledge base's review cases (engine/kb.py)
NOT_SERVICE = (REPORT_CATEGORY, KB_CATEGORY)
DEFAULT_CALENDAR = "working"


@dataclass(frozen=True)
class Period:
    """A Beijing calendar month as a UTC interval [start, end)."""

    month: str
    start: datetime
    end: datetime

    @classmethod
    def of(cls, month: str) -> Period:
        """The period of 'YYYY-MM'; ValueError for anything else."""
        if len(month) != 7 or month[4] != "-" or not (month[:4] + month[5:]).isdigit():
            raise ValueError("not a month (YYYY-MM)")
        year, number = int(month[:4]), int(month[5:])
        if not (2000 <= year <= 2999 and 1 <= number <= 12):
            raise ValueError("not a month (YYYY-MM)")
        first = date(year, number, 1)
        following = date(year + number // 12, number % 12 + 1, 1)
        return cls(month, datetime.combine(first, time(), SHANGHAI), datetime.combine(following, time(), SHANGHAI))

    @classmethod
    def containing(cls, moment: datetime) -> Period:
        """The month `moment` falls in, in Beijing time."""
        return cls.of(f"{moment.astimezone(SHANGHAI):%Y-%m}")

    def previous(self) -> Period:
        """The month before."""
        return Period.containing(self.start - timedelta(days=1))

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end


def month_of(moment: datetime) -> str:
    """'YYYY-MM' of `moment` in Beijing time."""
    return f"{moment.astimezone(SHANGHAI):%Y-%m}"


# --- SLA compliance --------------------------------------------------------------------------------------------


def sla(session: Session, period: Period, customer_id: int | None = None) -> dict[str, dict[str, Any]]:
    """Per metric: clocks met and breached in `period`, and the share met (None when none counted)."""
    breached = breaches_in(session, period, customer_id)
    breached_tickets = {kind: {b["ticket_id"] for b in breached if b["kind"] == kind} for kind in METRICS}
    ever = _ever_breached(session, period, customer_id)
    out = {}
    for metric in METRICS:
        stopped = _stopped(session, metric, period, customer_id)
        met = len([t for t in stopped if metric not in ever.get(t, ())])
        count = len(breached_tickets[metric])
        out[metric] = {"met": met, "breached": count, "rate": _ratio(met, met + count)}
    return out


def _stopped(session: Session, metric: str, period: Period, customer_id: int | None) -> set[int]:
    """Tickets whose `metric` clock stopped in `period`."""
    if metric in STEP_OF:
        stmt = select(HumanTask.ticket_id).where(
            HumanTask.bpmn_id == STEP_OF[metric], HumanTask.state == "done",
            HumanTask.completed_at >= period.start, HumanTask.completed_at < period.end)
        if customer_id is not None:
            stmt = stmt.join(Ticket, Ticket.id == HumanTask.ticket_id).where(Ticket.customer_id == customer_id)
        return {int(t) for t in session.scalars(stmt) if t is not None}
    column = Ticket.responded_at if metric == "response" else Ticket.resolved_at
    due = Ticket.response_due if metric == "response" else Ticket.resolve_due
    stmt = select(Ticket.id).where(column >= period.start, column < period.end, due.is_not(None))
    return set(session.scalars(of_customer(stmt, customer_id)))


def breached_rows(session: Session, since: datetime, customer_id: int | None) -> list[Ticket]:
    """Tickets with a recorded breach, touched since `since` (a breach updates its ticket)."""
    stmt = select(Ticket).where(cast(Ticket.breaches, String) != "[]", Ticket.updated_at >= since)
    return list(session.scalars(of_customer(stmt, customer_id)))


def breaches_in(session: Session, period: Period, customer_id: int | None) -> list[dict[str, Any]]:
    """Every breach recorded in `period`: the ticket and the kind."""
    out = []
    for ticket in breached_rows(session, period.start, customer_id):
        for entry in ticket.breaches or []:
            at = parse_time(entry.get("at")) if isinstance(entry, dict) else None
            if at is not None and at in period:
                out.append({"ticket_id": ticket.id, "number": ticket.number, "title": ticket.title,
                            "kind": entry.get("kind"), "at": at.isoformat()})
    return sorted(out, key=lambda b: b["at"])


def _ever_breached(session: Session, period: Period, customer_id: int | None) -> dict[int, set[str]]:
    """The breach kinds of tickets that could have stopped a clock in `period`."""
    return {t.id: {str(b.get("kind")) for b in t.breaches if isinstance(b, dict)}
            for t in breached_rows(session, period.start, customer_id)}


# --- times -----------------------------------------------------------------------------------------------------


def times(session: Session, period: Period, customer_id: int | None = None) -> dict[str, dict[str, Any]]:
    """Mean and 90th percentile of response and resolve times (working hours) of clocks stopped in `period`."""
    out = {}
    for metric, column, due in (("response", Ticket.responded_at, Ticket.response_due),
                                ("resolve", Ticket.resolved_at, Ticket.resolve_due)):
        stmt = select(Ticket.id, Ticket.created_at, column, Ticket.sla_calendar).where(
            column >= period.start, column < period.end, due.is_not(None))
        rows = session.execute(of_customer(stmt, customer_id)).all()
        paused = _paused_hours(session, [r[0] for r in rows]) if metric == "resolve" else {}
        hours = []
        for ticket_id, created, stopped, calendar in rows:
            spent = working_hours_between(created, stopped, calendar or DEFAULT_CALENDAR)
            spent -= sum(h for at, h in paused.get(ticket_id, []) if at <= stopped)
            hours.append(max(spent, 0.0))
        out[metric] = summary(hours)
    return out


def summary(hours: list[float]) -> dict[str, Any]:
    """Count, mean and 90th percentile (nearest rank), rounded to a tenth of an hour."""
    if not hours:
        return {"count": 0, "mean_hours": None, "p90_hours": None}
    ordered = sorted(hours)
    rank = max(math.ceil(0.9 * len(ordered)), 1)
    return {"count": len(ordered), "mean_hours": round(sum(ordered) / len(ordered), 1),
            "p90_hours": round(ordered[rank - 1], 1)}


def _paused_hours(session: Session, ticket_ids: list[int]) -> dict[int, list[tuple[datetime, float]]]:
    out: dict[int, list[tuple[datetime, float]]] = {}
    for chunk in chunks(ticket_ids):
        for ticket_id, at, data in session.execute(select(
                TimelineEvent.ticket_id, TimelineEvent.at, TimelineEvent.data).where(
                TimelineEvent.ticket_id.in_(chunk), TimelineEvent.kind == "sla_resumed")):
            hours = _number((data or {}).get("paused_hours"))
            if hours:
                out.setdefault(int(ticket_id), []).append((at, hours))
    return out


# --- satisfaction ----------------------------------------------------------------------------------------------


def satisfaction(session: Session, period: Period, customer_id: int | None = None) -> dict[str, Any]:
    """Callback and survey scores of tickets closed in `period`, against the seed targets."""
    stmt = select(Ticket.satisfaction, Ticket.survey_score).where(
        Ticket.closed_at >= period.start, Ticket.closed_at < period.end)
    rows = session.execute(of_customer(stmt, customer_id)).all()
    scores = [int(s) for s, _ in rows if s is not None]
    surveys = [int(s) for _, s in rows if s is not None]
    survey_average = round(sum(surveys) / len(surveys), 2) if surveys else None
    return {"count": len(scores), "average": round(sum(scores) / len(scores), 2) if scores else None,
            "share_4_5": _ratio(len([s for s in scores if s >= 4]), len(scores)), "target_share": TARGET_SHARE,
            "survey_count": len(surveys), "survey_average": survey_average,
            "survey_score_100": round(survey_average * 20, 1) if survey_average is not None else None,
            "target_survey": TARGET_SURVEY}


# --- counts ----------------------------------------------------------------------------------------------------


def counted(rows: Iterable[tuple[Any, int]]) -> list[dict[str, Any]]:
    """[{key, count}] from (key, count) pairs, largest first, None keys left out."""
    pairs = [(k, int(c)) for k, c in rows if k is not None and c]
    return [{"key": k, "count": c} for k, c in sorted(pairs, key=lambda p: (-p[1], str(p[0])))]


def service_ticket() -> Any:
    """Service tickets only: not the own case of a monthly report or of a knowledge-base article."""
    return or_(Ticket.category.is_(None), Ticket.category.not_in(NOT_SERVICE))


def grouped(session: Session, column: Any, *conditions: Any) -> list[dict[str, Any]]:
    """Tickets matching `conditions` counted by `column`."""
    return counted(session.execute(select(column, func.count()).where(
        service_ticket(), *conditions).group_by(column)).all())


def top(values: Iterable[Any], limit: int = 10) -> list[dict[str, Any]]:
    """The most frequent values."""
    return [{"key": k, "count": c} for k, c in Counter(v for v in values if v not in (None, "")).most_common(limit)]


def of_customer(stmt: Any, customer_id: int | None) -> Any:
    return stmt if customer_id is None else stmt.where(Ticket.customer_id == customer_id)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def parse_time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
