"""The staff task list and `GET /api/tasks`: open tasks filtered, sorted and paged in SQL over `human_task` alone.

At 100,000 tickets every page is an index walk (bench/worklist.py, migration 0016): each filter the list offers has an
index that starts with `state` and the filter and ends with the sort key and `id`, and the ticket facts the filters
need (a fault's severity, the customer, the resolve deadline, the number) are copied onto the open task by the
projection, so no join stands between a filter and the order. A page is found in two short statements: the page's
ids, walked on such an index, then those tasks' rows with their tickets.

Paging: the count stops at COUNT_CAP ("1000+"). Pages within the counted range are addressed by number (an offset
of at most COUNT_CAP index entries, no dearer than the count); pages past it by a keyset cursor, the sort key and id
of the row at the page's edge, so page 2,000 costs what page 2 costs and a link stays valid while tasks come and go.
The last page is walked backwards from the end (reverse keyset) and numbered from the end.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .effects import CUSTOMER_LANE, ROLES
from .keyset import FEW, Cursor, Walk
from .models import Customer, HumanTask, Ticket
from .queries import task_dict
from .users import SUPERVISORS, Actor, visible_lanes

SORTS: dict[str, Any] = {"due": HumanTask.due_at, "created": HumanTask.created_at,
                         "severity": HumanTask.ticket_severity, "number": HumanTask.ticket_number}
VIEWS = ("mine", "queue", "all")
LANES = (*ROLES, CUSTOMER_LANE)
SEVERITIES = ("1", "2", "3")
MAX_PAGE = 1_000_000  # far past any real list; keeps the SQL offset a small number
COUNT_CAP = 1_000  # the count stops here: "1000+"
_YES, _NO = ("true", "1", "on", "yes"), ("false", "0", "off", "no")


@dataclass
class WorklistQuery:
    """What the task list asks for. `after`/`before` are keyset cursors (encoded); `from_end` numbers a page from
    the end of a list too long to count (1 = the last page)."""

    view: str = "queue"
    role: str | None = None
    severity: int | None = None
    customer: str | None = None
    breached: bool = False
    sort: str = "due"
    descending: bool = False
    page: int = 1
    per_page: int = 25
    after: str | None = None
    before: str | None = None
    from_end: int | None = None

    def params(self, **changes: Any) -> dict[str, str]:
        """The query as address values, defaults left out, with `changes` applied: for paging and sorting links."""
        query = replace(self, **changes)
        values = {"view": query.view, "role": query.role or "", "severity": str(query.severity or ""),
                  "customer": query.customer or "", "breached": "true" if query.breached else "",
                  "sort": "" if query.sort == "due" else query.sort, "desc": "true" if query.descending else "",
                  "page": str(query.page) if query.page > 1 and not query.from_end else "",
                  "end": str(query.from_end or ""), "after": query.after or "", "before": query.before or ""}
        return {name: value for name, value in values.items() if value}

    def fresh(self, **changes: Any) -> dict[str, str]:
        """`params` for a new list (another view, filter or sort): from its first page."""
        return self.params(page=1, after=None, before=None, from_end=None, **changes)


@dataclass
class TaskListQuery:
    """What `GET /api/tasks` asks for: a role's or a ticket's open tasks, by due time, `limit` from `offset`."""

    role: str | None = None
    ticket_id: int | None = None
    limit: int = 100
    offset: int = 0


@dataclass
class WorklistPage:
    """One page: its rows, the count (up to COUNT_CAP + 1), where it is, and the address changes of its neighbours."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    page: int | None = 1  # from the start; None when only its place from the end is known
    from_end: int | None = None
    per_page: int = 25
    links: dict[str, dict[str, Any]] = field(default_factory=dict)  # first/prev/next/last -> WorklistQuery changes

    @property
    def cap(self) -> int:
        """Where the count stops."""
        return COUNT_CAP

    @property
    def capped(self) -> bool:
        """Whether there are more matches than were counted."""
        return self.total > COUNT_CAP

    @property
    def pages(self) -> int:
        """Number of pages (of the counted matches)."""
        return max(1, -(-min(self.total, COUNT_CAP) // self.per_page))


def parse_query(params: Mapping[str, str], actor: Actor) -> tuple[WorklistQuery, dict[str, str]]:
    """A query from the task list's address, leniently: an empty value means no filter, and a value that means
    nothing is left out and returned by name, so the page can say so instead of refusing."""
    ignored: dict[str, str] = {}

    def pick(name: str, allowed: tuple[str, ...]) -> str:
        value = params.get(name, "").strip()
        if value and value.lower() not in allowed:
            ignored[name] = value
        return value.lower() if value.lower() in allowed else ""

    def number(name: str) -> int | None:
        value = params.get(name, "").strip()
        if value and not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_PAGE):
            ignored[name] = value
        return int(value) if value and name not in ignored else None

    view = pick("view", VIEWS) or ("all" if actor.role in SUPERVISORS else "queue")
    severity, sort = pick("severity", SEVERITIES), pick("sort", tuple(SORTS)) or "due"
    cursors = {name: params.get(name, "").strip() for name in ("after", "before")}
    for name, value in cursors.items():
        if value and decode_cursor(value, sort) is None:
            ignored[name] = value
    query = WorklistQuery(
        view=view, role=pick("role", LANES) or None, severity=int(severity) if severity else None,
        customer="".join(c for c in params.get("customer", "") if c.isprintable()).strip()[:200] or None,
        breached=pick("breached", _YES + _NO) in _YES,
        sort=sort, descending=pick("desc", _YES + _NO) in _YES, page=number("page") or 1,
        from_end=number("end"), after=cursors["after"] if "after" not in ignored else None,
        before=cursors["before"] if "before" not in ignored and not cursors["after"] else None)
    return query, ignored


def encode_cursor(key: Any, task_id: str) -> str:
    """A position as an address value."""
    plain = key.isoformat() if isinstance(key, datetime) else key
    return base64.urlsafe_b64encode(json.dumps([plain, task_id]).encode()).decode().rstrip("=")


def decode_cursor(text: str, sort: str) -> Cursor | None:
    """The position an address value names for `sort`, or None when it names none."""
    try:
        key, task_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not (isinstance(task_id, str) and len(task_id) <= 36 and task_id.isprintable()):
            return None
        if key is None or sort == "number" and isinstance(key, str) and len(key) <= 32 and key.isprintable():
            return key, task_id
        if sort == "severity" and isinstance(key, int) and not isinstance(key, bool) and abs(key) < 2**31:
            return key, task_id
        if sort in ("due", "created") and isinstance(key, str):
            moment = datetime.fromisoformat(key)
            return (moment, task_id) if moment.tzinfo is not None else None
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    return None


def worklist(session: Session, actor: Actor, query: WorklistQuery | TaskListQuery, now: datetime) -> WorklistPage:
    """A page of the task list, or of `GET /api/tasks` (rows as the API shows tasks)."""
    if isinstance(query, TaskListQuery):
        return _api_page(session, actor, query)
    conditions = _conditions(session, actor, query)
    if conditions is None:
        return WorklistPage(per_page=query.per_page)
    branches = _branches(conditions, now if query.breached else None, session.get_bind().dialect.name)
    total = capped_count(session, branches)
    walk = Walk(session, branches, SORTS[query.sort], query.descending)
    page = _position(walk, query, total)
    rows = _rows(session, [task_id for _, task_id in page.keys], now)
    return WorklistPage(rows=rows, total=total, page=page.number, from_end=page.from_end, per_page=query.per_page,
                        links=_links(query, page, total))


def capped_count(session: Session, branches: list[list[Any]]) -> int:
    """How many open tasks match, counted up to COUNT_CAP + 1, each set of matches on its filter's index."""
    total = 0
    for conditions in branches:
        matches = select(HumanTask.id).where(*conditions).limit(COUNT_CAP + 1 - total).subquery()
        total += session.scalar(select(func.count()).select_from(matches)) or 0
        if total > COUNT_CAP:
            break
    return total


def _branches(conditions: list[Any], breached_at: datetime | None, dialect: str) -> list[list[Any]]:
    """The filters as disjoint sets of conditions, each an index range: breached is the task's own deadline passed,
    else its ticket's."""
    if breached_at is None:
        return [conditions]
    late = HumanTask.ticket_resolve_due < breached_at
    # Tasks of late tickets not yet due themselves are found on the resolve-deadline index and put in order in memory,
    # the few there are (_FewBranch); walking the sort's index instead would pass every task not yet due. SQLite is
    # told they are few (PostgreSQL's statistics know).
    return [[*conditions, HumanTask.due_at < breached_at],
            [*conditions, func.unlikely(late) if dialect == "sqlite" else late,
             or_(HumanTask.due_at >= breached_at, HumanTask.due_at.is_(None)), FEW]]


def _conditions(session: Session, actor: Actor, query: WorklistQuery) -> list[Any] | None:
    """The filters as conditions on `human_task` alone; None when nothing can match."""
    conditions: list[Any] = [HumanTask.state == "open"]
    lanes = visible_lanes(actor.role)
    if query.view == "mine":
        conditions.append(HumanTask.assignee == actor.name)
    elif query.view == "queue" or lanes is not None:
        own = [actor.role] if query.view == "queue" and actor.role in (lanes or [actor.role]) else lanes
        if own is not None:
            conditions.append(HumanTask.role == own[0] if len(own) == 1 else HumanTask.role.in_(own))
        if query.view == "queue":
            conditions.append(or_(HumanTask.assignee.is_(None), HumanTask.assignee == actor.name))
    if query.role:
        conditions.append(HumanTask.role == query.role)
    if query.severity:  # a fault's severity only: the copy is None for other tickets
        conditions.append(HumanTask.ticket_severity == query.severity)
    if query.customer:  # the customers are few: their names are searched first, their tasks then by index
        ids = list(session.scalars(select(Customer.id).where(Customer.name.contains(query.customer,
                                                                                     autoescape=True))))
        if not ids:
            return None
        conditions.append(HumanTask.ticket_customer_id.in_(ids))
    return conditions


@dataclass
class _Found:
    keys: list[Cursor]
    number: int | None
    from_end: int | None
    more_before: bool
    more_after: bool


def _position(walk: Walk, query: WorklistQuery, total: int) -> _Found:
    """The page the query points at: by cursor, from the end, or by number (clamped to the counted pages)."""
    size, counted = query.per_page, total <= COUNT_CAP
    pages = max(1, -(-total // size))
    after = decode_cursor(query.after, query.sort) if query.after else None
    before = decode_cursor(query.before, query.sort) if query.before else None
    if counted and query.from_end:
        return _by_number(walk, max(1, pages - query.from_end + 1), size, total)
    if counted or not (after or before or query.from_end):
        return _by_number(walk, min(query.page, pages) if counted else query.page, size, total)
    if after is not None:
        keys = walk.forward(after, size + 1)
        if keys:
            number = None if query.from_end else query.page
            return _Found(keys[:size], number, query.from_end, True, len(keys) > size)
        before = None  # nothing after the cursor any more: the last page
    keys = walk.backward(before, size + 1)
    if not keys and before is not None:
        return _by_number(walk, 1, size, total)
    from_end = 1 if before is None else query.from_end  # without a cursor: the last page, whatever was asked
    number = None if from_end else query.page
    return _Found(list(reversed(keys[:size])), number, from_end, len(keys) > size, before is not None)


def _by_number(walk: Walk, page: int, size: int, total: int) -> _Found:
    keys = walk.offset((page - 1) * size, size + 1)
    if not keys and page > 1:  # past the end of a list too long to count: its last page
        keys = list(reversed(walk.backward(None, size)))
        return _Found(keys, None, 1, total > size, False)
    return _Found(keys[:size], page, None, page > 1, len(keys) > size)


def _links(query: WorklistQuery, found: _Found, total: int) -> dict[str, dict[str, Any]]:
    """Address changes to the first, previous, next and last pages: numbers within the counted range (the offset is
    short), cursors past it, the last page of an uncounted list from the end."""
    size, none = query.per_page, {"after": None, "before": None, "from_end": None}
    links: dict[str, dict[str, Any]] = {}
    if found.more_before and found.keys:
        if found.number is not None and (found.number - 2) * size < COUNT_CAP:
            links["prev"] = {**none, "page": found.number - 1}
        else:
            links["prev"] = {**none, "before": encode_cursor(*found.keys[0]), "page": (found.number or 2) - 1,
                             "from_end": found.from_end + 1 if found.from_end else None}
        if found.number is None or found.number > 2:
            links["first"] = {**none, "page": 1}
    if found.more_after and found.keys:
        if found.number is not None and found.number * size < COUNT_CAP:
            links["next"] = {**none, "page": found.number + 1}
        else:
            end = found.from_end - 1 if found.from_end and found.from_end > 1 else None
            links["next"] = {**none, "after": encode_cursor(*found.keys[-1]), "page": (found.number or 0) + 1,
                             "from_end": end}
        pages = -(-total // size)
        if total <= COUNT_CAP and (found.number or 0) + 1 < pages:
            links["last"] = {**none, "page": pages}
        elif total > COUNT_CAP and found.from_end != 2:
            links["last"] = {**none, "page": 1, "from_end": 1}
    return links


def _rows(session: Session, ids: list[str], now: datetime) -> list[dict[str, Any]]:
    """The page's tasks with their tickets, in the page's order: each table read by primary key."""
    if not ids:
        return []
    tasks = {t.id: t for t in session.scalars(select(HumanTask).where(HumanTask.id.in_(ids)))}
    ticket_ids = {t.ticket_id for t in tasks.values() if t.ticket_id is not None}
    tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)))} if ticket_ids else {}
    customer_ids = {t.customer_id for t in tickets.values()}
    names = {cid: name for cid, name in session.execute(
        select(Customer.id, Customer.name).where(Customer.id.in_(customer_ids)))} if customer_ids else {}
    rows = []
    for task_id in ids:
        task = tasks.get(task_id)
        if task is not None:
            ticket = tickets.get(task.ticket_id) if task.ticket_id is not None else None
            rows.append(_row(task, ticket, names.get(ticket.customer_id) if ticket else None, now))
    return rows


def _api_page(session: Session, actor: Actor, query: TaskListQuery) -> WorklistPage:
    """`GET /api/tasks`: the open tasks the actor may work on, by due time then id, `limit` from `offset`."""
    lanes = visible_lanes(actor.role)
    if query.role is not None:
        lanes = [query.role] if query.role in LANES and (lanes is None or query.role in lanes) else []
    conditions: list[Any] = [HumanTask.state == "open"]
    if lanes is not None:
        if not lanes:
            return WorklistPage(per_page=query.limit)
        conditions.append(HumanTask.role == lanes[0] if len(lanes) == 1 else HumanTask.role.in_(lanes))
    columns = [getattr(HumanTask, name) for name in _API_COLUMNS]  # plain rows: a thousand ORM objects cost more
    if query.ticket_id is not None:  # one ticket's open tasks are few: read whole in one statement, ordered here
        found: list[Any] = sorted(session.execute(select(*columns).where(*conditions,
                                                                         HumanTask.ticket_id == query.ticket_id)),
                                  key=_by_due)
        return WorklistPage(rows=[task_dict(t) for t in found[query.offset:query.offset + query.limit]],
                            per_page=query.limit)
    keys = Walk(session, [conditions], HumanTask.due_at, False).offset(query.offset, query.limit)
    ids = [task_id for _, task_id in keys]
    tasks: dict[str, Any] = {t.id: t for t in session.execute(select(*columns).where(HumanTask.id.in_(ids)))} \
        if ids else {}
    return WorklistPage(rows=[task_dict(tasks[i]) for i in ids if i in tasks], per_page=query.limit)


_API_COLUMNS = ("id", "ticket_id", "bpmn_id", "title", "role", "form_key", "due_at", "created_at", "state",
                "instructions", "assignee")


def _by_due(task: Any) -> tuple[bool, Any, str]:
    """The API list's order: by due time (none last), then id; as the index walk orders it."""
    return task.due_at is None, task.due_at or 0, task.id


def ticket_columns(ticket: Ticket | None) -> dict[str, Any]:
    """The ticket facts an open task carries for the list's filters (engine/projection.py keeps them current)."""
    if ticket is None:
        return {"ticket_number": None, "ticket_customer_id": None, "ticket_severity": None,
                "ticket_resolve_due": None}
    return {"ticket_number": ticket.number, "ticket_customer_id": ticket.customer_id,
            "ticket_severity": ticket.severity if ticket.category == "fault" else None,
            "ticket_resolve_due": ticket.resolve_due}


def sla_state(due: datetime | None, start: datetime, now: datetime) -> str:
    """on_track, warning (80 % of the time used) or breached."""
    if due is None:
        return "none"
    if now >= due:
        return "breached"
    span = (due - start).total_seconds()
    return "warning" if span > 0 and (now - start).total_seconds() >= 0.8 * span else "on_track"


def _row(task: HumanTask, ticket: Ticket | None, customer: str | None, now: datetime) -> dict[str, Any]:
    due = task.due_at
    return {"id": task.id, "name": task.bpmn_id, "title": task.title, "role": task.role, "assignee": task.assignee,
            "due_at": due.isoformat() if due else None, "created_at": task.created_at.isoformat(),
            "ticket_id": ticket.id if ticket else None, "number": ticket.number if ticket else None,
            "ticket_title": ticket.title if ticket else "", "customer": customer or "",
            "category": ticket.category if ticket else None, "severity": ticket.severity if ticket else None,
            "status": ticket.status if ticket else None, "sla_state": sla_state(due, task.created_at, now)}
