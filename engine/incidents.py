"""Incidents: a case whose diagram code failed (an error, or the script budget of engine/script_limits.py) is
parked instead of being tried again and again.

A parked case has instance status "incident", the element it failed at, the error and the time. The timer scan
takes only running cases, so a parked case's due timer is left alone (after a restart too) and every other case
carries on. Its tasks cannot be completed. A person (process owner, manager, admin) retries it, after a fix and a
migration or when the cause was passing; a retry that fails again parks it again with the new error.

Where there is no case to park (a case that could not start) or no reason to stop one (a due expression that
failed), engine/incident_notices.py tells the same people; the incidents list carries those notices too.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from SpiffWorkflow.exceptions import WorkflowException
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import incident_notices, repository
from .errors import AftercareError, CaseError
from .incident_notices import OVERSEERS
from .incident_notices import RETRIERS as RETRIERS  # defined with the notices, kept importable from here
from .models import Instance, ProcessVersion, Ticket
from .projection import event, notify
from .script_limits import ScriptBudgetExceeded

log = logging.getLogger("aftercare.engine")
INCIDENT = "incident"
PARKED_KIND = "parked"  # the `kind` of a parked case in the incidents list, beside the notices' kinds
_ERROR_CHARS = 2000
PARKED = ("the diagram failed at this step: nothing was saved, and the case is parked as an incident for the "
          "process owner")
IS_PARKED = "this case is parked as an incident until the process owner or a manager retries it"
NOT_STARTED = ("the procedure could not start: its diagram failed before the first step, so nothing was created; "
               "the process owner must fix the diagram")
_ANSWER_CHARS = 500  # of each field a customer sent when their completion parked the case (kept on the timeline)


class CaseParked(AftercareError):
    """A task completion ran into failing diagram code: nothing of it was saved and the case is parked as an
    incident; `errors` names the element and the error (the message is fixed, so each surface can translate it)."""

    status = 409

    def __init__(self, *, element_id: str | None, error: str, ticket_id: int | None) -> None:
        super().__init__(PARKED, element_id=element_id, error=error, ticket_id=ticket_id)
        self.errors = [{"element_id": element_id, "message": error}]


class CaseIsParked(AftercareError):
    """The case is parked as an incident: its tasks wait until a person retries it."""

    status = 409

    def __init__(self, *, ticket_id: int | None, element_id: str | None, error: str | None) -> None:
        super().__init__(IS_PARKED, ticket_id=ticket_id, element_id=element_id, error=error)
        self.errors = [{"element_id": element_id, "message": error or ""}]


class StartFailed(AftercareError):
    """A new case's diagram failed before its first wait (a start script, an expression, the budget): the whole unit
    of work rolls back, so there is no ticket without a case; `errors` names the element and the error."""

    status = 409

    def __init__(self, *, process_id: str, element_id: str | None, error: str) -> None:
        super().__init__(NOT_STARTED, process_id=process_id, element_id=element_id, error=error)
        self.errors = [{"element_id": element_id, "message": error}]


def is_diagram_failure(exc: BaseException) -> bool:
    """Whether `exc` comes from diagram code (a script, an expression, the budget), not from Aftercare itself."""
    return isinstance(exc, CaseError | StartFailed | ScriptBudgetExceeded | WorkflowException | PermissionError)


def start_or_refuse(process_id: str, start: Callable[[], Any],
                    on_failure: Callable[[str | None, str], None] | None = None) -> Any:
    """`start()` (a new case's first run); a failure of its diagram code becomes StartFailed, after
    `on_failure(element, error)` (the kernel's: a notice for the overseers once the failed unit has ended)."""
    try:
        return start()
    except Exception as exc:
        if not is_diagram_failure(exc):
            raise
        element, error = describe(exc)
        log.error("a new %s case failed at %s before its first wait; nothing was created: %s", process_id, element,
                  error)
        if on_failure is not None:
            on_failure(element, error)
        raise StartFailed(process_id=process_id, element_id=element, error=error) from exc


def describe(exc: BaseException) -> tuple[str | None, str]:
    """The element a failure of diagram code happened at (when Spiff says), and its text with the underlying error
    (Spiff's "Error evaluating expression" alone does not say that the budget ran out), short enough to show."""
    element, cause = None, None
    seen: BaseException | None = exc
    for _ in range(10):  # a chain of wrapped errors; never a cycle
        if seen is None:
            break
        spec = getattr(getattr(seen, "task", None), "task_spec", None)
        element = element or getattr(spec, "bpmn_id", None)
        if not isinstance(seen, WorkflowException | AftercareError):
            cause = cause or seen
        seen = seen.__cause__ or seen.__context__
    text = exc.message if isinstance(exc, AftercareError) else f"{type(exc).__name__}: {exc}"
    if cause is not None and str(cause) not in text:
        text = f"{text.rstrip('. ')}: {type(cause).__name__}: {cause}"
    return element, text[:_ERROR_CHARS]


def park(session: Session, instance: Instance, ticket: Ticket | None, *, element_id: str | None, error: str,
         now: datetime, attempt: dict[str, Any] | None = None) -> None:
    """Park the locked `instance` as an incident, record it on the ticket's timeline and tell the overseers.
    `attempt` says what a customer tried when it failed (their step and answer: nothing of it was recorded, so
    someone has to contact them)."""
    first = instance.status != INCIDENT
    changed = first or instance.error != error[:_ERROR_CHARS]
    instance.status, instance.error, instance.incident_element = INCIDENT, error[:_ERROR_CHARS], element_id
    instance.incident_at = now
    extra = {"attempt": attempt} if attempt else {}
    event(session, ticket, instance, now, "incident", "system",
          {"element": element_id, "message": error[:500], **extra})
    if changed or attempt:
        for role in OVERSEERS:
            notify(session, now, ticket, role, "incident", {"element": element_id, "error": error[:500], **extra})


def park_failed_case(uow: Any, now: datetime, instance_id: int, element_id: str | None, error: str,
                     attempt: dict[str, Any] | None = None) -> None:
    """Park a case whose unit of work failed in diagram code (the failed unit rolled back), in a unit of its own."""
    with uow() as session:
        instance = repository.lock_instance(session, instance_id)
        if instance is not None:
            park(session, instance, repository.ticket_by_instance(session, instance_id), element_id=element_id,
                 error=error, now=now, attempt=attempt)


def customer_attempt(task_id: str, bpmn_id: str, title: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """What a customer tried when their completion parked the case: the step and their answer, cut short."""
    answer = {str(k)[:100]: (v[:_ANSWER_CHARS] if isinstance(v, str) else v) for k, v in list(data.items())[:20]
              if isinstance(v, str | int | float | bool) or v is None}
    return {"by": "customer", "task_id": task_id, "task": bpmn_id, "title": title or bpmn_id, "answer": answer}


@dataclass
class Attempt:
    """The case a unit of work is about to run (set once known), and what was tried, for `parks_on_failure`."""

    instance_id: int | None = None
    ticket_id: int | None = None
    attempt: dict[str, Any] | None = None


@contextmanager
def parks_on_failure(uow: Any, now: Callable[[], datetime]) -> Iterator[Attempt]:
    """Around a unit of work that runs a case: when its diagram code fails (the unit rolled back, so the request
    changed nothing) the case named in the yielded Attempt is parked in a unit of its own, and CaseParked raised."""
    case = Attempt()
    try:
        yield case
    except Exception as exc:
        if case.instance_id is None or not is_diagram_failure(exc):
            raise
        element, error = describe(exc)
        park_failed_case(uow, now(), case.instance_id, element, error, case.attempt)
        raise CaseParked(element_id=element, error=error, ticket_id=case.ticket_id) from exc


def refuse_if_parked(session: Session, instance_id: int) -> None:
    """CaseIsParked when the case waits for a person to retry it: its tasks cannot be completed meanwhile."""
    instance = session.get(Instance, instance_id)
    if instance is not None and instance.status == INCIDENT:
        ticket = repository.ticket_by_instance(session, instance_id)
        raise CaseIsParked(ticket_id=ticket.id if ticket else None, element_id=instance.incident_element,
                           error=instance.error)


def reopen(session: Session, instance: Instance, ticket: Ticket | None, *, actor: str, now: datetime) -> None:
    """Take the parked `instance` back to running, before a retry runs it."""
    event(session, ticket, instance, now, "incident_retried", actor,
          {"element": instance.incident_element, "message": (instance.error or "")[:500]})
    instance.status, instance.error, instance.incident_element, instance.incident_at = "running", None, None, None


def listing(session: Session, *, ticket_id: int | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Parked cases, oldest first: ticket, procedure and version, element, error and since when (`kind` "parked").
    The whole list (no `ticket_id`) goes on with the notices (engine/incident_notices.py): the cases that could not
    start (`kind` "start_failed"), then the tasks whose due expression failed (`kind` "due_failed")."""
    query = (select(Instance, Ticket, ProcessVersion)
             .join(Ticket, Ticket.instance_id == Instance.id, isouter=True)
             .join(ProcessVersion, ProcessVersion.id == Instance.version_id)
             .where(Instance.incident_at.is_not(None), Instance.status == INCIDENT)
             .order_by(Instance.incident_at, Instance.id).limit(limit))
    if ticket_id is not None:
        query = query.where(Ticket.id == ticket_id)
    rows = [incident_dict(i, t, v) for i, t, v in session.execute(query).all()]
    newest: dict[str, int] = {}
    for row in rows:  # the version a retry should usually move to: the newest deployed (a fixed diagram)
        if row["process_id"] not in newest:
            latest = repository.latest_version(session, row["process_id"])
            newest[row["process_id"]] = latest.version if latest else row["version"]
        row["newest_version"] = newest[row["process_id"]]
    if ticket_id is None:
        rows += incident_notices.start_failures(session)[:limit] + incident_notices.due_failures(session)[:limit]
    return rows


def incident_dict(instance: Instance, ticket: Ticket | None, version: ProcessVersion) -> dict[str, Any]:
    """One parked case as the list, the ticket page and the JSON API show it."""
    return {"kind": PARKED_KIND, "instance_id": instance.id, "ticket_id": ticket.id if ticket else None,
            "number": ticket.number if ticket else None, "title": ticket.title if ticket else None,
            "process_id": version.process_id, "procedure": version.name, "version": version.version,
            "element_id": instance.incident_element, "error": instance.error or "",
            "since": instance.incident_at.isoformat() if instance.incident_at else None}
