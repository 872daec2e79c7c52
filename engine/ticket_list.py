"""The ticket list: every ticket, found through the search index, filtered, sorted and paged in SQL over the
ticket projection columns (never a workflow).

At 100,000 tickets (bench/search.py) a page is two short queries after the count: the page's ids, in the order
walked on an index where the count says matches are many or sorted after filtering where they are few (`_walk`), then
those tickets' rows; a search alone is counted on the search index."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, String, and_, cast, exists, func, not_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from . import search
from .calendar import SHANGHAI
from .figures import service_ticket
from .models import Customer, HumanTask, Ticket
from .paging import COUNT_CAP, Page, capped_count
from .ticket_fields import CHANNELS

WAITING = ("awaiting_acceptance", "awaiting_signoff", "waiting_customer")  # the case waits on the customer
STATES = ("unclosed", "open", "waiting", "closed", "archived")  # unclosed: open or waiting (未结)
CATEGORIES = ("fault", "question", "change", "complaint", "inspection", "standby", "monthly_report", "kb_article")
ALL_CHANNELS = (*CHANNELS, "inspection", "monthly_report", "kb_article")
SORTS: dict[str, Any] = {"created": Ticket.created_at, "updated": Ticket.updated_at, "number": Ticket.number,
                         "severity": Ticket.severity, "status": Ticket.status, "due": Ticket.resolve_due,
                         "closed": Ticket.closed_at, "customer": Customer.name, "title": Ticket.title}
MAX_PAGE, MAX_PER_PAGE, EXPORT_CAP = 1_000_000, 200, 50_000
AT_RISK = 0.8  # share of the resolve time used
SPARSE = 2_000  # matches up to which a page is sorted after filtering, on SQLite (see _walk)
_YES, _NO = ("true", "1", "on", "yes"), ("false", "0", "off", "no", "")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass
class TicketQuery:
    """What the ticket list asks for; empty means no filter."""

    q: str = ""
    status: str = ""
    category: str = ""
    severity: int | None = None
    customer: str = ""
    assignee: str = ""
    channel: str = ""
    task: str = ""  # an open step (BPMN id) the ticket waits at, e.g. quote_decision
    created_from: date | None = None
    created_to: date | None = None
    closed_from: date | None = None
    closed_to: date | None = None
    breached: bool = False
    at_risk: bool = False
    overdue: bool = False  # a step (an open task) past its due time
    service: bool = False  # service tickets only: not a monthly report's or a knowledge-base article's own case
    sort: str = "created"
    desc: bool = True
    page: int = 1
    per_page: int = 25

    def params(self, **changes: Any) -> dict[str, str]:
        """The query as address values, defaults left out, with `changes` applied: for paging and sorting links."""
        query, default = replace(self, **changes), TicketQuery()
        values = {}
        for f in fields(query):
            value = getattr(query, f.name)
            if value != getattr(default, f.name):
                values[f.name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return values


class TicketPage(Page):
    """One page of the ticket list."""

    def to_json(self) -> dict[str, Any]:
        """The JSON API's shape: items and total, plus the paging."""
        return {"items": self.rows, "total": self.total, "page": self.page, "per_page": self.per_page}


def parse_query(params: Mapping[str, str]) -> tuple[TicketQuery, list[dict[str, str]]]:
    """A query from address values; each value that means nothing is left out and named in the errors returned
    (the staff page shows them, the JSON API refuses with them)."""
    errors: list[dict[str, str]] = []
    values: dict[str, Any] = {}

    def bad(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    for name in ("q", "customer", "assignee"):
        values[name] = params.get(name, "").strip()[:search.MAX_QUERY]
    for name, allowed in (("status", None), ("category", None), ("channel", ALL_CHANNELS), ("task", None)):
        value = params.get(name, "").strip().lower()
        if value and (not _NAME.match(value) or (allowed and value not in allowed)):
            bad(name, "not a known value" + (f": one of {', '.join(allowed)}" if allowed else ""))
        elif value:
            values[name] = value
    for name in ("created_from", "created_to", "closed_from", "closed_to"):
        value = params.get(name, "").strip()
        try:
            values[name] = date.fromisoformat(value) if value else None
        except ValueError:
            bad(name, "not a date (YYYY-MM-DD)")
    for name in ("breached", "at_risk", "overdue", "service", "desc"):
        value = params.get(name, "").strip().lower()
        if value and value not in _YES + _NO:
            bad(name, "not true or false")
        elif value:
            values[name] = value in _YES
    for name, low, high in (("severity", 1, 9), ("page", 1, MAX_PAGE), ("per_page", 1, MAX_PER_PAGE)):
        value = params.get(name, "").strip()
        if value and not (value.isascii() and value.isdigit() and low <= int(value) <= high):
            bad(name, f"not a whole number from {low} to {high}")
        elif value:
            values[name] = int(value)
    sort = params.get("sort", "").strip().lower()
    if sort and sort not in SORTS:
        bad("sort", f"one of {', '.join(SORTS)}")
    elif sort:
        values["sort"] = sort
    return TicketQuery(**values), errors


def list_tickets(session: Session, query: TicketQuery, now: datetime, *, exact: bool = False) -> TicketPage:
    """The page of tickets `query` asks for; the total is counted up to the cap unless `exact` (the JSON API's
    contract gives the exact total)."""
    total = _count(session, query, now, exact)
    offset = (query.page - 1) * query.per_page
    past_end = (exact or total <= COUNT_CAP) and offset >= total
    ids = [] if past_end else _page_ids(session, query, now, total, offset)
    return TicketPage(rows=_rows(session, ids, now), total=total, page=query.page, per_page=query.per_page)


def _count(session: Session, query: TicketQuery, now: datetime, exact: bool) -> int:
    """How many tickets match; a search with no other filter is counted on the search index alone (every document
    is a ticket's), without reading a ticket."""
    if _only_search(query):
        return search.count(session, query.q, None if exact else COUNT_CAP)
    matching = select(Ticket.id).where(*_conditions(session, query, now))
    if exact:
        return session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    return capped_count(session, matching)


def _only_search(query: TicketQuery) -> bool:
    """Whether the search is the query's only filter (sorting and paging aside)."""
    alone = TicketQuery(q=query.q, sort=query.sort, desc=query.desc, page=query.page, per_page=query.per_page)
    return bool(query.q) and query == alone


def _page_ids(session: Session, query: TicketQuery, now: datetime, total: int, offset: int) -> list[int]:
    """The page's ticket ids, in order."""
    stmt = _page_stmt(session, query, now, walk=_walk(session, total, offset + query.per_page))
    return list(session.scalars(stmt.offset(offset).limit(query.per_page)))


def _walk(session: Session, total: int, last: int) -> bool:
    """Whether the page is found by walking the list's order rather than by sorting every match. The databases plan
    from guesses, so the count decides: a few matches (up to SPARSE) are found through the filters' indexes and
    sorted; more are met by walking the sort's index and checking each ticket, which on PostgreSQL (a search checked
    costs a tsvector built) only pays for early pages (about 1 ticket in 100 walked)."""
    if session.get_bind().dialect.name == "sqlite":
        return total > SPARSE
    return total > SPARSE and last * 100 <= total


def _page_stmt(session: Session, query: TicketQuery, now: datetime, *, walk: bool) -> Select[Any]:
    """The ids of the matching tickets in the list's order, with the plan `walk` asks for: on SQLite `+column`
    keeps the sort's index out (sorted after filtering), `+ticket.id IN` keeps the id sets of search, task and
    assignee from being the way in (walked)."""
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    conditions = _conditions(session, query, now, walk=walk)
    column = SORTS.get(query.sort, Ticket.created_at)
    key = _plain(column) if on_sqlite and conditions and not walk else column
    order = key.desc() if query.desc else key.asc()
    if column.expression.nullable:  # left out for not-null columns: PostgreSQL then walks their index both ways
        order = order.nulls_last()
    stmt = select(Ticket.id).where(*conditions)
    if query.sort == "customer":
        stmt = stmt.join(Customer, Customer.id == Ticket.customer_id)
    return stmt.order_by(order, Ticket.id.desc() if query.desc else Ticket.id.asc())


def _rows(session: Session, ids: list[int], now: datetime) -> list[dict[str, Any]]:
    """The list's rows of tickets `ids`, in that order."""
    found: dict[int, tuple[Ticket, str]] = {}
    for start in range(0, len(ids), 500):
        for ticket, name in session.execute(select(Ticket, Customer.name).join(
                Customer, Customer.id == Ticket.customer_id).where(Ticket.id.in_(ids[start:start + 500]))):
            found[ticket.id] = (ticket, name)
    holders = _holders(session, ids)
    return [_row(*found[i], holders.get(i, []), now) for i in ids if i in found]


def _conditions(session: Session, query: TicketQuery, now: datetime, *, walk: bool = False) -> list[Any]:
    """The filters of `query`; when the list's order is walked, each ticket met is checked against the id sets."""
    conditions: list[Any] = []
    dialect = session.get_bind().dialect.name
    ticket_id, customer_id = Ticket.id, Ticket.customer_id
    if walk and dialect == "sqlite":
        ticket_id, customer_id = _plain(Ticket.id), _plain(Ticket.customer_id)
    if query.q:
        conditions.append(search.ticket_filter(dialect, query.q, ticket_id, walk=walk))
    conditions.extend(_status(query.status))
    if query.category:
        conditions.append(Ticket.category == query.category)
    if query.severity:  # a severity is a fault's: other tickets may carry one from triage, meaning nothing
        conditions.extend([Ticket.severity == query.severity, Ticket.category == "fault"])
    if query.channel:
        conditions.append(Ticket.channel == query.channel)
    if query.customer:
        conditions.append(customer_id.in_(select(Customer.id).where(Customer.name.contains(query.customer))))
    if query.task:
        conditions.append(ticket_id.in_(select(HumanTask.ticket_id).where(
            HumanTask.bpmn_id == query.task, HumanTask.state == "open")))
    if query.assignee:
        conditions.append(ticket_id.in_(select(HumanTask.ticket_id).where(
            HumanTask.assignee == query.assignee, HumanTask.state == "open")))
    conditions.extend(_between(Ticket.created_at, query.created_from, query.created_to))
    conditions.extend(_between(Ticket.closed_at, query.closed_from, query.closed_to))
    if query.breached:
        conditions.append(breached(now))
    if query.at_risk:
        conditions.append(at_risk(dialect, now))
    if query.overdue:  # per ticket through the task's ticket index: a page stops at its last row
        conditions.append(exists().where(HumanTask.ticket_id == ticket_id, HumanTask.state == "open",
                                         HumanTask.due_at < now))
    if query.service:
        conditions.append(service_ticket())
    return conditions


def _plain(col: Any) -> Any:
    """`+col`: the same value, but SQLite will not use an index of `col` for it (a plan hint, SQLite only)."""
    return UnaryExpression(col, operator=custom_op("+"), type_=col.type)


def _status(status: str) -> list[Any]:
    if not status:
        return []
    if status == "unclosed":
        return [Ticket.status.not_in(("closed", "archived"))]
    if status == "open":
        return [Ticket.status.not_in((*WAITING, "closed", "archived"))]
    if status == "waiting":
        return [Ticket.status.in_(WAITING)]
    return [Ticket.status == status]  # closed, archived, or one of the statuses the procedures set


def state(status: str) -> str:
    """The list's state of a ticket status: open, waiting (on the customer), closed or archived."""
    return status if status in ("closed", "archived") else "waiting" if status in WAITING else "open"


def _between(col: Any, start: date | None, end: date | None) -> list[Any]:
    """Beijing calendar days, both ends included."""
    out = []
    if start:
        out.append(col >= datetime.combine(start, time(), SHANGHAI))
    if end:
        out.append(col < datetime.combine(end + timedelta(days=1), time(), SHANGHAI))
    return out


def breached(now: datetime) -> Any:
    """A deadline was breached (recorded by the SLA timers), or the resolve deadline passed unresolved while the
    clock ran (a clock paused for the customer moves the deadline on when it resumes)."""
    return or_(cast(Ticket.breaches, String) != "[]",
               and_(Ticket.resolve_due < now, Ticket.resolved_at.is_(None), Ticket.closed_at.is_(None),
                    Ticket.paused_at.is_(None)))


def at_risk(dialect: str, now: datetime) -> Any:
    """Not yet breached, but ≥ 80 % of the time from creation to the resolve deadline used."""
    created, due = _epoch(dialect, Ticket.created_at), _epoch(dialect, Ticket.resolve_due)
    # the deadline's index is the way in: SQLite's statistics take `closed_at IS NULL` for a rare value
    closed = _plain(Ticket.closed_at) if dialect == "sqlite" else Ticket.closed_at
    return and_(not_(breached(now)), Ticket.resolve_due >= now, Ticket.resolved_at.is_(None),
                closed.is_(None), Ticket.paused_at.is_(None), created + AT_RISK * (due - created) <= now.timestamp())


def _epoch(dialect: str, col: Any) -> Any:
    if dialect == "sqlite":
        return (func.julianday(col) - 2440587.5) * 86400.0
    return func.extract("epoch", col)


def _holders(session: Session, ids: list[int]) -> dict[int, list[str]]:
    """Who holds each ticket's open tasks."""
    out: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(select(HumanTask.ticket_id, HumanTask.assignee).where(
            HumanTask.ticket_id.in_(ids[start:start + 500]), HumanTask.state == "open",
            HumanTask.assignee.is_not(None)).order_by(HumanTask.created_at))
        for ticket_id, assignee in rows:
            held = out.setdefault(int(ticket_id or 0), [])
            if assignee and assignee not in held:
                held.append(assignee)
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _row(ticket: Ticket, customer: str, holders: list[str], now: datetime) -> dict[str, Any]:
    due, start = ticket.resolve_due, ticket.created_at
    if ticket.paused_at is not None:
        due = None  # the clock stands still while the customer has a question: neither overdue nor at risk
    overdue = due is not None and now >= due and ticket.resolved_at is None and ticket.closed_at is None
    risky = (due is not None and not overdue and ticket.resolved_at is None and ticket.closed_at is None
             and (now - start).total_seconds() >= AT_RISK * (due - start).total_seconds())
    return {"id": ticket.id, "number": ticket.number, "title": ticket.title, "customer": customer,
            "status": ticket.status, "state": state(ticket.status), "category": ticket.category,
            "severity": ticket.severity, "channel": ticket.channel, "contact_name": ticket.contact_name,
            "assignees": holders, "created_at": _iso(ticket.created_at), "updated_at": _iso(ticket.updated_at),
            "resolve_due": _iso(ticket.resolve_due), "closed_at": _iso(ticket.closed_at),
            "breached": bool(ticket.breaches) or overdue, "at_risk": risky and not ticket.breaches}


def query_dict(query: TicketQuery) -> dict[str, Any]:
    """The query as plain values (dates as text)."""
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(query).items()}
