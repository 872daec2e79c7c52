"""Incident notices: diagram code that failed where there is no case to park, told to the process owners and
managers (the incidents list and JSON, the ticket page, e-mail).

Two kinds, both kept as rows of the timeline table without a ticket (`ticket_id` NULL: the index on it finds them,
and no ticket's timeline or report reads them), so no table of their own is needed:

- **A case that could not start** (`start_failed`): its diagram failed before the first wait (engine/incidents.py,
  StartFailed). Nothing of the start is kept, so there is no case to park; whoever started it may not be there to
  read the 409 (the scheduler's inspections and monthly reports, inbound mail, the portal). One notice per process
  version and element counts the attempts and keeps the last few (who started it, for which customer), the latest
  error and the last few distinct ones. The error is not part of the notice's key: it often quotes the case's data (a
  customer's text), so every anonymous portal request would otherwise open a notice of its own and mail every
  overseer. The overseers are e-mailed at most once an hour per notice, however often a scheduler or a mail server
  tries again. A person clears it once the diagram is fixed (the source retries on its own: the next tick, the
  sender's retry). A linked ticket that cannot start inside a case's step parks that case instead (one incident, one
  e-mail: engine/kernel.py, `open_linked_ticket`).
- **A due expression that failed** (`due_failed`): a task's due time could not be computed (engine/due_failures.py)
  and the task has none. The case is **not parked**: the due time is a projection for the task list and the
  reminders, the case's own steps do not depend on it, so stopping the work (customer links, the team's tasks) for
  it would turn a missing deadline into a stalled ticket. The notice is shown while its task is open without a due
  time: moving the case to a fixed version (a migration) gives the task its due time and the notice goes; so does
  completing the task. E-mail at most once an hour per process version, step and expression. The lists show the
  newest `DUE_SHOWN` of these notices.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from . import repository
from .due_failures import DueFailure
from .errors import Forbidden, NotFound
from .models import HumanTask, Instance, ProcessVersion, Ticket, TimelineEvent
from .projection import notify
from .users import Actor

log = logging.getLogger("aftercare.engine")
OVERSEERS = ("process_owner", "manager")  # see incidents and notices and are told by e-mail
RETRIERS = (*OVERSEERS, "admin")  # retry parked cases, clear notices
START_FAILED, START_CLEARED, DUE_FAILED = "start_failed", "start_failure_cleared", "due_failed"
MAIL_EVERY = timedelta(hours=1)
SOURCES = ("scheduler", "mail", "portal", "staff", "customer")
_KEPT_ATTEMPTS = 10
_KEPT_ERRORS = 5  # distinct errors of one notice, newest first
DUE_SHOWN = 200  # due-failure notices listed at most (the newest)
_ERROR_CHARS = 2000
_LOCK_KEY = 0x4E6F74696365  # "Notice": PostgreSQL serialises the recording of notices (SQLite's writer does)


@dataclass
class StartAttempt:
    """A start that was tried: the process version, what started it, and for whom."""

    process_id: str
    version: int
    procedure: str
    source: str  # one of SOURCES
    actor: str
    channel: str
    customer: str
    title: str
    contact: str


def start_source(actor: Actor, channel: str) -> str:
    """What started a case, as the overseers read it: the scheduler, inbound mail, the portal, staff (a page or the
    API), or a customer's link (a case a customer's step opened)."""
    if actor.kind == "system":
        return "scheduler"
    if actor.kind == "staff":
        return "staff"
    return {"web": "portal", "email": "mail"}.get(channel, "customer")


def record_after_unit(session: Session, uow: Callable[[], AbstractContextManager[Session]], attempt: StartAttempt,
                      element_id: str | None, error: str, now: Callable[[], datetime]) -> None:
    """Record the failed start once the unit of work of `session` has ended (it rolls back: StartFailed leaves
    nothing of the start, so the notice cannot be written in it), in a unit of its own."""
    root = session.get_transaction()
    done = False

    def ended(_session: Session, transaction: SessionTransaction) -> None:
        nonlocal done
        if done or transaction is not root:
            return
        done = True
        try:
            with uow() as own:
                record_start_failure(own, attempt, element_id=element_id, error=error, now=now())
        except Exception:  # the start's own error goes on to its caller; this one is only logged
            log.exception("could not record that a %s case failed to start", attempt.process_id)
    sa_event.listen(session, "after_transaction_end", ended)


def record_start_failure(session: Session, attempt: StartAttempt, *, element_id: str | None, error: str,
                         now: datetime) -> None:
    """Count one more failed start on the notice of its process version and element (a new notice for a new
    version or element), keep its error, and e-mail the overseers unless they were told about this notice within the
    hour."""
    _serialise(session)
    error = error[:_ERROR_CHARS]
    row = open_start_notice(session, attempt.process_id, attempt.version, element_id)
    if row is None:
        row = TimelineEvent(ticket_id=None, instance_id=None, at=now, kind=START_FAILED, actor=attempt.actor[:100],
                            data={"process_id": attempt.process_id, "version": attempt.version,
                                  "procedure": attempt.procedure, "element": element_id, "error": error,
                                  "errors": [], "count": 0, "attempts": [], "sources": [], "mailed_at": None})
        session.add(row)
    data = dict(row.data)
    tried = {**asdict(attempt), "at": now.isoformat()}
    data["count"] = int(data.get("count") or 0) + 1
    data["error"] = error
    data["errors"] = [error, *(e for e in data.get("errors", []) if e != error)][:_KEPT_ERRORS]
    data["last_at"] = now.isoformat()
    data["sources"] = sorted({*data.get("sources", []), attempt.source})
    data["attempts"] = [tried, *data.get("attempts", [])][:_KEPT_ATTEMPTS]
    if _mail_due(datetime.fromisoformat(data["mailed_at"]) if data.get("mailed_at") else None, now):
        data["mailed_at"] = now.isoformat()
        for role in OVERSEERS:
            notify(session, now, None, role, START_FAILED, {
                "process_id": attempt.process_id, "procedure": attempt.procedure, "version": attempt.version,
                "element": element_id, "error": error[:500], "source": attempt.source, "count": data["count"],
                "attempt": tried})
    row.data = data
    session.flush()


def record_due_failures(session: Session, instance: Instance, ticket: Ticket | None,
                        failures: Sequence[DueFailure], now: datetime) -> None:
    """A notice for each task whose due expression failed and has none yet, in the case's unit of work; the
    overseers are e-mailed unless told about the same step and expression of this version within the hour."""
    # the case's row is locked by its unit, so its own notices need no other lock to be found once
    known = {(r.data.get("task_id"), r.data.get("expression"))
             for r in _null_ticket_rows(session, DUE_FAILED, TimelineEvent.instance_id == instance.id)}
    version = session.get(ProcessVersion, instance.version_id)
    for failure in failures:
        expression = failure.expression[:1000]
        if (failure.task_id, expression) in known:
            continue
        known.add((failure.task_id, expression))
        data = {"ticket_id": ticket.id if ticket else None, "number": ticket.number if ticket else None,
                "process_id": instance.process_id, "version": version.version if version else None,
                "procedure": version.name if version else instance.process_id, "element": failure.bpmn_id,
                "task_id": failure.task_id, "task": failure.title, "expression": expression,
                "error": failure.error}
        mail = _due_mail_due(session, data, now)
        session.add(TimelineEvent(ticket_id=None, instance_id=instance.id, at=now, kind=DUE_FAILED, actor="system",
                                  data={**data, "mailed_at": now.isoformat() if mail else None}))
        session.flush()  # the next failure of the same key finds this one
        if mail:
            for role in OVERSEERS:
                notify(session, now, ticket, role, DUE_FAILED, {
                    "element": failure.bpmn_id, "task": failure.title, "task_id": failure.task_id,
                    "expression": failure.expression[:500],
                    "error": failure.error, "procedure": data["procedure"], "version": data["version"]})


def _due_mail_due(session: Session, data: dict[str, Any], now: datetime) -> bool:
    """Whether the overseers are to be mailed about this due failure: nobody was within the hour, and no other save
    is recording the same version, step and expression right now (PostgreSQL: a lock per key, only tried, so that
    saves of other cases never queue or deadlock on it; the one that holds it mails if a mail is due)."""
    key = _due_key(data)
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _hash_key(key)}):
        return False
    process_id, version, element, expression = key
    field = TimelineEvent.data
    mailed = session.scalar(select(TimelineEvent.id).where(
        TimelineEvent.ticket_id.is_(None), TimelineEvent.kind == DUE_FAILED, TimelineEvent.at > now - MAIL_EVERY,
        field["process_id"].as_string() == process_id, field["version"].as_integer() == version,
        field["element"].as_string() == element, field["expression"].as_string() == expression,
        field["mailed_at"].as_string().is_not(None)).limit(1))
    return mailed is None


def start_failures(session: Session) -> list[dict[str, Any]]:
    """The cases that could not start and are not cleared, oldest first."""
    rows = _null_ticket_rows(session, START_FAILED)
    newest: dict[str, int | None] = {}
    items = []
    for row in rows:
        data = row.data
        process_id = str(data.get("process_id"))
        if process_id not in newest:
            latest = repository.latest_version(session, process_id)
            newest[process_id] = latest.version if latest else None
        items.append({**_blank(), "kind": START_FAILED, "notice_id": row.id, "process_id": process_id,
                      "procedure": data.get("procedure") or process_id, "version": data.get("version"),
                      "newest_version": newest[process_id], "element_id": data.get("element"),
                      "error": data.get("error") or "", "errors": data.get("errors") or [data.get("error") or ""],
                      "since": row.at.isoformat(), "last_at": data.get("last_at"),
                      "count": data.get("count", 1), "sources": data.get("sources", []),
                      "attempts": data.get("attempts", [])})
    return items


def due_failures(session: Session, *, ticket_id: int | None = None) -> list[dict[str, Any]]:
    """The tasks without a due time because their due expression failed (of one ticket, when given), oldest
    first: each while the task is open and still has no due time; of the newest `DUE_SHOWN` notices."""
    query = (select(TimelineEvent, HumanTask)
             .join(HumanTask, HumanTask.id == TimelineEvent.data["task_id"].as_string())
             .where(TimelineEvent.ticket_id.is_(None), TimelineEvent.kind == DUE_FAILED, HumanTask.state == "open",
                    HumanTask.due_at.is_(None))
             .order_by(TimelineEvent.at.desc(), TimelineEvent.id.desc()).limit(DUE_SHOWN))
    if ticket_id is not None:
        query = query.where(HumanTask.ticket_id == ticket_id)
    latest: dict[str, dict[str, Any]] = {}
    for row, task in session.execute(query).all():  # newest first: a task that failed again on a newer version
        if task.id in latest:  # shows its newest failure
            continue
        data = row.data
        latest[task.id] = {**_blank(), "kind": DUE_FAILED, "notice_id": row.id, "instance_id": row.instance_id,
                           "ticket_id": data.get("ticket_id"), "number": data.get("number"), "title": task.title,
                           "process_id": data.get("process_id"), "procedure": data.get("procedure"),
                           "version": data.get("version"), "element_id": data.get("element"), "task_id": task.id,
                           "task": data.get("task"), "expression": data.get("expression"),
                           "error": data.get("error") or "", "since": row.at.isoformat()}
    return sorted(latest.values(), key=lambda item: (item["since"], item["notice_id"]))


def clear_start_failure(session: Session, *, notice_id: int, actor: Actor, now: datetime) -> dict[str, Any]:
    """Clear a notice of a case that could not start (the diagram is fixed, or the cause passed); process owners,
    managers and admins. A start that fails again afterwards opens a new notice."""
    if actor.role not in RETRIERS:
        raise Forbidden(f"role {actor.role!r} may not clear incident notices")
    _serialise(session)  # a failure being recorded meanwhile counts on the notice before it is cleared, or on a new one
    row = session.get(TimelineEvent, notice_id, populate_existing=True)
    if row is not None and row.ticket_id is None and row.kind == START_CLEARED:  # two overseers, or a double click
        return {"notice_id": notice_id, "cleared": True, "already_cleared_by": row.data.get("cleared_by")}
    if row is None or row.ticket_id is not None or row.kind != START_FAILED:
        raise NotFound("no such notice of a case that could not start", notice_id=notice_id)
    row.kind = START_CLEARED
    row.data = {**row.data, "cleared_by": actor.name, "cleared_at": now.isoformat()}
    return {"notice_id": notice_id, "cleared": True}


def _null_ticket_rows(session: Session, kind: str, *where: Any) -> list[TimelineEvent]:
    """The notices of `kind` (through the index on ticket_id: a notice has none), oldest first."""
    return list(session.scalars(select(TimelineEvent).where(TimelineEvent.ticket_id.is_(None),
                                                            TimelineEvent.kind == kind, *where)
                                .order_by(TimelineEvent.at, TimelineEvent.id)))


def _blank() -> dict[str, Any]:
    """The fields every item of the incidents list has (a parked case's), empty."""
    return {"instance_id": None, "ticket_id": None, "number": None, "title": None, "process_id": None,
            "procedure": None, "version": None, "element_id": None, "error": "", "since": None}


def open_start_notice(session: Session, process_id: str, version: int, element_id: str | None) -> TimelineEvent | None:
    """The uncleared notice of a process version's start failing at `element_id`, if there is one."""
    return session.scalars(_start_notice(process_id, version, element_id).limit(1)).first()


def _start_notice(process_id: str, version: int, element_id: str | None) -> Select[Any]:
    """The uncleared notice of a process version's start failing at `element_id`."""
    field = TimelineEvent.data
    element = field["element"].as_string()
    return select(TimelineEvent).where(
        TimelineEvent.ticket_id.is_(None), TimelineEvent.kind == START_FAILED,
        field["process_id"].as_string() == process_id, field["version"].as_integer() == version,
        element.is_(None) if element_id is None else element == element_id).order_by(TimelineEvent.at, TimelineEvent.id)


def _due_key(data: dict[str, Any]) -> list[Any]:
    return [data.get("process_id"), data.get("version"), data.get("element"), data.get("expression")]


def _mail_due(mailed_at: datetime | None, now: datetime) -> bool:
    return mailed_at is None or now - mailed_at >= MAIL_EVERY


def _hash_key(key: list[Any]) -> int:
    """A notice's key as a PostgreSQL advisory lock key (a signed 64-bit number)."""
    return int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=8).digest(), "big", signed=True)


def _serialise(session: Session) -> None:
    """Two workers recording (or clearing) a start-failure notice at once would both find none: on PostgreSQL they
    take turns (a lock held to the end of the transaction, taken only by these rare failures and clears); SQLite's
    write transactions already do."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
