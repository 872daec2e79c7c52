"""Cases and tasks: open a ticket, complete and claim tasks, fire due timers, show where a case stands."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from .. import idempotency, incidents, repository
from ..contacts import is_placeholder, phone_error
from ..effects import Effects
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..kernel import MAIN_PROCESS
from ..models import HumanTask, Instance, ProcessVersion, Ticket
from ..projection import event
from ..queries import task_dict
from ..ticket_fields import CHANNELS as CHANNELS  # the facade names the channels from here
from ..ticket_fields import field_errors
from ..users import SYSTEM, Actor, may_work_on
from .base import Service

log = logging.getLogger("aftercare.engine")


class CaseService(Service):
    """The verbs that move cases: every surface completes tasks through `complete_task`."""

    def create_ticket(self, *, customer: str, contact_name: str, contact_email: str, channel: str, title: str,
                      description: str, actor: Actor, category: str | None = None,
                      contact_phone: str | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """Log a ticket and start its maintenance-request case.

        `category` is None (the service desk triages it) or "complaint": a complaint the customer files as such
        skips triage and goes straight to the complaint procedure. A repeat of a request with the same
        `idempotency_key` (engine/idempotency.py) answers with the ticket the first opened, `replayed` True.
        """
        _check_ticket_fields(channel=channel, contact_email=contact_email, title=title, category=category,
                             contact_phone=contact_phone, contact_name=contact_name)
        with self.uow() as session:
            claim = idempotency.claim(session, scope=f"staff:{actor.name}", key=idempotency_key, now=self.clock.now(),
                                      request=[customer, contact_name, contact_email, contact_phone, channel, title,
                                               description, category])
            if claim.earlier is not None:
                return {"id": claim.earlier.id, "number": claim.earlier.number, "status": claim.earlier.status,
                        "replayed": True}
            cust = repository.customer_by_name(session, customer)
            if cust is None or is_placeholder(cust):  # a placeholder is no customer to choose
                raise ValidationFailed("unknown customer", [{
                    "field": "customer", "message": f"没有名为 {customer} 的客户 No customer named {customer!r}"}])
            ticket = self.kernel.start_case(session, process_id=MAIN_PROCESS, customer=cust, contact_name=contact_name,
                                      contact_email=contact_email, channel=channel, title=title,
                                      description=description, actor=actor, extra={"category": category},
                                      contact_phone=contact_phone)
            claim.opened(ticket)
            return {"id": ticket.id, "number": ticket.number, "status": ticket.status}

    def complete_task(self, *, task_id: str, data: dict[str, Any], actor: Actor) -> dict[str, Any]:
        """Complete an open task with form data, as `actor`; the one path for staff, customers and the API."""
        case: tuple[int, int | None] | None = None
        try:
            with self.uow() as session:
                row, locked = self.kernel.lock_task(session, task_id)
                if row is None:
                    raise NotFound("no such task", task_id=task_id)
                if actor.kind == "staff" and not may_work_on(actor.role, row.role):
                    raise Forbidden(f"role {actor.role!r} may not work on {row.role!r} tasks", task_role=row.role,
                                    ticket_id=row.ticket_id)
                case = (row.instance_id, row.ticket_id)  # a parked case refuses under its lock (Kernel.complete)
                return self.kernel.complete(session, row, data, actor, locked)
        except Exception as exc:  # diagram code failed: nothing was saved; the case is parked (engine/incidents.py)
            if case is None or not incidents.is_diagram_failure(exc):
                raise
            element, error = incidents.describe(exc)
            incidents.park_failed_case(self.uow, self.clock.now(), case[0], element, error)
            raise incidents.CaseParked(element_id=element, error=error, ticket_id=case[1]) from exc

    def fire_due_timers(self, *, limit: int = 100, threads: int = 1) -> int:
        """Fire every due timer, each instance in its own unit of work, on up to `threads` threads at once; the
        number of instances handled.

        The due instances are dealt out round-robin, so this process tries each once. Each firing locks its row and
        checks again that the timer is due (PostgreSQL: SKIP LOCKED, so other workers pass over what one holds),
        so however many threads and processes fire, each instance fires once."""
        with self.uow(write=False) as session:
            due = repository.due_instance_ids(session, self.clock.now(), limit)
        if threads <= 1 or len(due) <= 1:
            return self._fire_each(due)
        shares = [due[i::threads] for i in range(min(threads, len(due)))]
        with ThreadPoolExecutor(len(shares), thread_name_prefix="aftercare-fire") as pool:
            return sum(pool.map(self._fire_each, shares))

    def _fire_each(self, due: list[int]) -> int:
        """Fire `due` one after another: one unit of work per instance."""
        fired = 0
        for instance_id in due:
            try:
                fired += self._fire_instance(instance_id)
            except Conflict:
                continue  # busy with someone else's unit of work: the next tick picks it up
            except (OperationalError, InterfaceError, TimeoutError) as exc:
                # the database, not the case: a restart, a failover, a dropped connection, a deadlock. Nothing was
                # saved and the timer is still due, so the next tick tries again; parking would need a person.
                log.warning("timer of instance %s not fired this time (the database answered %s); next tick retries",
                            instance_id, type(exc).__name__)
                continue
            except Exception as exc:  # one broken case must not stop every case due after it: it is parked
                try:
                    self._park_failed_instance(instance_id, exc)
                except Exception:
                    log.exception("could not park instance %s", instance_id)
        return fired

    def _fire_instance(self, instance_id: int) -> int:
        with self.uow() as session:
            instance, ticket = repository.lock_case(session, instance_id, skip_locked=True)
            now = self.clock.now()
            if instance is None or instance.status != "running" or instance.next_timer_at is None \
                    or instance.next_timer_at > now:
                return 0  # another worker has it, or it moved on since the scan
            effects = self.kernel.effects_for(ticket)
            wf = self.kernel.load_case(session, instance, effects)
            fired = self.runtime.advance(wf)
            self.kernel.save(session, self.kernel.ctx(SYSTEM), instance, ticket, wf, effects, fired)
            return 1

    def _park_failed_instance(self, instance_id: int, exc: BaseException) -> None:
        """Park the case as an incident until a person retries it (engine/incidents.py)."""
        element, error = incidents.describe(exc)
        log.error("timer of instance %s failed at %s, parked as an incident: %s", instance_id, element, error)
        incidents.park_failed_case(self.uow, self.clock.now(), instance_id, element, error)

    def claim_task(self, *, task_id: str, actor: Actor, release: bool = False) -> dict[str, Any]:
        """Take an open task as mine (or give it back to the role's queue)."""
        with self.uow() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound("no such task", task_id=task_id)
            if not may_work_on(actor.role, row.role):
                raise Forbidden(f"role {actor.role!r} may not work on {row.role!r} tasks", task_role=row.role,
                                ticket_id=row.ticket_id)
            repository.lock_instance(session, row.instance_id)  # two claims, or a claim and a completion, queue
            session.refresh(row)
            if row.state != "open":
                raise Conflict("this task is no longer open", task_id=task_id)
            if release:
                if row.assignee not in (None, actor.name) and actor.role not in ("manager", "admin"):
                    raise Forbidden(f"the task belongs to {row.assignee}")
                row.assignee = None
            elif row.assignee not in (None, actor.name):
                raise Conflict(f"{row.assignee} has already taken this task", task_id=task_id)
            else:
                row.assignee = actor.name
            ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
            instance = session.get(Instance, row.instance_id)
            if instance is not None:
                event(session, ticket, instance, self.clock.now(), "task_released" if release else "task_claimed",
                      actor.name, {"task": row.bpmn_id, "title": row.title})
            return task_dict(row)

    def ticket_diagram(self, *, ticket_id: int, actor: Actor) -> dict[str, Any]:
        """The ticket's BPMN (the version it runs on) and where the case stands in it; `called` holds the same
        for each called process the case has entered that is drawn in a file of its own, in the order entered."""
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id)
            instance = session.get(Instance, ticket.instance_id) if ticket and ticket.instance_id else None
            if ticket is None or instance is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            version = session.get(ProcessVersion, instance.version_id)
            wf = self.kernel.load_case(session, instance, Effects(), for_update=False)
            top, *called = self.runtime.progress(wf)

            def xml(source_file: str) -> str:  # called files come from the same deployment as the version's spec
                file = repository.deployment_file(session, version.deployment_id, source_file) if version else None
                return file.content if file else ""

            return {"xml": xml(version.source_file if version else top.source_file), **top.markers(),
                    "called": [{**c.markers(), "xml": xml(c.source_file)} for c in called]}


def _check_ticket_fields(*, channel: str, contact_email: str, title: str, category: str | None,
                         contact_phone: str | None = None, contact_name: str | None = None) -> None:
    errors = field_errors(channel=channel, contact_email=contact_email, title=title, contact_name=contact_name)
    phone = phone_error(contact_phone, "contact_phone")
    if phone:
        errors.append({**phone, "message": "电话号码无效 " + phone["message"]})
    if category not in (None, "complaint"):
        errors.append({"field": "category", "message": "only a complaint is filed with its category; "
                                                       "everything else is triaged 仅投诉可直接指定类别"})
    if errors:
        raise ValidationFailed("the ticket has errors", errors)
