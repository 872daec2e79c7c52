"""The staff task list: one indexed query over projections, filtered, sorted and paged in SQL."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .effects import CUSTOMER_LANE, ROLES
from .models import Customer, HumanTask, Ticket
from .paging import Page, capped_count, last_page
from .users import SUPERVISORS, Actor, visible_lanes

SORTS = {"due": HumanTask.due_at, "created": HumanTask.created_at, "severity": Ticket.severity,
         "number": Ticket.number}
VIEWS = ("mine", "queue", "all")
LANES = (*ROLES, CUSTOMER_LANE)
SEVERITIES = ("1", "2", "3")
MAX_PAGE = 1_000_000  # far past any real list; keeps the SQL offset a small number
_YES, _NO = ("true", "1", "on", "yes"), ("false", "0", "off", "no")


@dataclass
class WorklistQuery:
    """What the task list asks for."""

    view: str = "queue"
    role: str | None = None
    severity: int | None = None
    customer: str | None = None
    breached: bool = False
    sort: str = "due"
    descending: bool = False
    page: int = 1
    per_page: int = 25

    def params(self, **changes: Any) -> dict[str, str]:
        """The query as address values, defaults left out, with `changes` applied: for paging and sorting links."""
        query = replace(self, **changes)
        values = {"view": query.view, "role": query.role or "", "severity": str(query.severity or ""),
                  "customer": query.customer or "", "breached": "true" if query.breached else "",
                  "sort": "" if query.sort == "due" else query.sort, "desc": "true" if query.descending else "",
                  "page": str(query.page) if query.page > 1 else ""}
        return {name: value for name, value in values.items() if value}


def parse_query(params: Mapping[str, str], actor: Actor) -> tuple[WorklistQuery, dict[str, str]]:
    """A query from the task list's address, leniently: an empty value means no filter, and a value that means
    nothing is left out and returned by name, so the page can say so instead of refusing."""
    ignored: dict[str, str] = {}

    def pick(name: str, allowed: tuple[str, ...]) -> str:
        value = params.get(name, "").strip()
        if value and value.lower() not in allowed:
            ignored[name] = value
        return value.lower() if value.lower() in allowed else ""

    view = pick("view", VIEWS) or ("all" if actor.role in SUPERVISORS else "queue")
    severity, page = pick("severity", SEVERITIES), params.get("page", "").strip()
    if page and not (page.isdigit() and 1 <= int(page) <= MAX_PAGE):
        ignored["page"] = page
    query = WorklistQuery(
        view=view, role=pick("role", LANES) or None, severity=int(severity) if severity else None,
        customer=params.get("customer", "").strip() or None, breached=pick("breached", _YES + _NO) in _YES,
        sort=pick("sort", tuple(SORTS)) or "due", descending=pick("desc", _YES + _NO) in _YES,
        page=int(page) if "page" not in ignored and page else 1)
    return query, ignored


class WorklistPage(Page):
    """One page of the task list."""


def worklist(session: Session, actor: Actor, query: WorklistQuery, now: datetime) -> WorklistPage:
    """The rows of the task list the actor may see."""
    stmt = _filtered(actor, query, now)
    # Counting every match of a broad filter costs more than the page itself at 100,000 tickets: stop at a cap.
    total = capped_count(session, stmt)
    order = SORTS.get(query.sort, HumanTask.due_at)
    order_by = order.desc().nulls_last() if query.descending else order.asc().nulls_last()
    page = last_page(query.page, total, query.per_page)
    result = session.execute(stmt.order_by(order_by, HumanTask.id)
                             .offset((page - 1) * query.per_page).limit(query.per_page))
    rows = [_row(task, ticket, customer_name, now) for task, ticket, customer_name in result]
    return WorklistPage(rows=rows, total=total, page=page, per_page=query.per_page)


def _filtered(actor: Actor, query: WorklistQuery, now: datetime) -> Any:
    stmt: Any = (select(HumanTask, Ticket, Customer.name).join(Ticket, Ticket.id == HumanTask.ticket_id)
            .join(Customer, Customer.id == Ticket.customer_id).where(HumanTask.state == "open"))
    lanes = visible_lanes(actor.role)
    if query.view == "mine":
        stmt = stmt.where(HumanTask.assignee == actor.name)
    elif query.view == "queue" or lanes is not None:
        own = [actor.role] if query.view == "queue" and actor.role in (lanes or [actor.role]) else lanes
        if own is not None:
            stmt = stmt.where(HumanTask.role.in_(own))
        if query.view == "queue":
            stmt = stmt.where(or_(HumanTask.assignee.is_(None), HumanTask.assignee == actor.name))
    if query.role:
        stmt = stmt.where(HumanTask.role == query.role)
    if query.severity:  # a severity is a fault's: other tickets may carry one from triage, meaning nothing
        stmt = stmt.where(Ticket.severity == query.severity, Ticket.category == "fault")
    if query.customer:
        stmt = stmt.where(Customer.name.contains(query.customer))
    if query.breached:
        stmt = stmt.where(or_(HumanTask.due_at < now, Ticket.resolve_due < now))
    return stmt


def sla_state(due: datetime | None, start: datetime, now: datetime) -> str:
    """on_track, warning (80 % of the time used) or breached."""
    if due is None:
        return "none"
    if now >= due:
        return "breached"
    span = (due - start).total_seconds()
    return "warning" if span > 0 and (now - start).total_seconds() >= 0.8 * span else "on_track"


def _row(task: HumanTask, ticket: Ticket, customer: str, now: datetime) -> dict[str, Any]:
    due = task.due_at
    return {"id": task.id, "name": task.bpmn_id, "title": task.title, "role": task.role, "assignee": task.assignee,
            "due_at": due.isoformat() if due else None, "created_at": task.created_at.isoformat(),
            "ticket_id": ticket.id, "number": ticket.number, "ticket_title": ticket.title, "customer": customer,
            "category": ticket.category, "severity": ticket.severity, "status": ticket.status,
            "sla_state": sla_state(due, task.created_at, now)}
