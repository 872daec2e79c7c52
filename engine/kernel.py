"""The kernel every service shares: the database, the clock, the workflow runtime and the one way a case is loaded,
started, completed and saved inside a unit of work. Services are rooms on top of it (engine/services/)."""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from . import calendar as calendar_mod
from . import clock as clock_mod
from . import forms, incident_notices, incidents, repository, rows, uow, waiting
from .calendar import SHANGHAI
from .contacts import attach_contact
from .contracts import active_contract, case_facts
from .db import make_engine, migrate
from .effects import Effects
from .errors import Conflict, NotFound
from .inspections import INSPECTION_PROCESS, link_risk_ticket, project_inspection
from .kb import KB_PROCESS, project_article
from .models import Contract, Customer, HumanTask, Instance, ProcessVersion, Ticket
from .projection import SaveContext, event, save_case
from .queries import ticket_detail
from .reports import REPORT_PROCESS, project_report
from .runtime import Runtime
from .scripting import calendar_functions, make_script_engine
from .settings import Settings
from .uow import UnitOfWork
from .users import Actor

log = logging.getLogger("aftercare.engine")
MAIN_PROCESS = "maintenance_request"
# session.info keys: the cases this unit starts, and whether a start failing now parks a running case (its step asked
# for a linked ticket), which tells the overseers itself: no start-failure notice then (engine/incident_notices.py)
_STARTING, _PARKS_ON_FAILURE = "aftercare_starting", "aftercare_parks_on_failure"


class Kernel:
    """One per process: owns the database engine, the clock, the spec cache and the cases kept in memory."""

    def __init__(self, settings: Settings, clock: clock_mod.Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or clock_mod.Clock()
        clock_mod.install(self.clock)
        calendar_mod.configure(settings.extra_holidays, settings.extra_workdays)
        self.db = make_engine(settings.database_url)
        self.uow = UnitOfWork(self.db)
        self.runtime = Runtime()
        self.runtime.library.loader = self.load_spec
        self._forms: dict[tuple[int, str], dict[str, Any]] = {}
        self._spec_hashes: dict[int, str] = {}  # process version id -> its spec's hash
        self._cases = CaseCache()

    def migrate(self) -> None:
        """Create or upgrade the schema."""
        migrate(self.db)

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()

    def load_spec(self, spec_hash: str) -> str:
        """A stored spec's JSON, for the runtime's spec library."""
        with self.uow(write=False) as session:
            return repository.spec_json(session, spec_hash)

    def ctx(self, actor: Actor, completed_task_id: str | None = None) -> SaveContext:
        """What saving a case needs besides the case."""
        return SaveContext(runtime=self.runtime, secret=self.settings.secret_key, now=self.clock.now(),
                           actor=actor, link_valid_days=self.settings.link_valid_days,
                           completed_task_id=completed_task_id)

    def load_case(self, session: Session, instance: Instance, effects: Effects, *, for_update: bool = True) -> Any:
        """The case's workflow, to run in this unit of work.

        A unit that holds the instance's row lock (`for_update`) takes the workflow this process left in memory
        when it last committed the same version of the row: deserializing is the biggest cost of a step. The
        entry is removed while in use and put back only after the unit commits (`remember`), so a unit that fails
        half-way can never leave a half-run workflow behind. Anything else deserializes the stored state; its
        spec is read in this same transaction (a second connection could deadlock against the write lock).
        """
        if for_update:
            wf = self._cases.take(instance.id, instance.lock_version, instance.state)
            if wf is not None:
                wf.script_engine = self.script_engine(effects)
                self.runtime.loads += 1
                return wf
        spec_hash = self._spec_hashes.get(instance.version_id)
        if spec_hash is None:  # a version's spec never changes: read once per process
            version = session.get(ProcessVersion, instance.version_id)
            spec_hash = version.spec_hash if version is not None else None
            if spec_hash is not None:
                self._spec_hashes[instance.version_id] = spec_hash
        if spec_hash is not None:
            self.runtime.library.ensure(spec_hash, lambda: repository.spec_json(session, spec_hash))
        return self.runtime.load(instance.state, self.script_engine(effects), spec_hash)

    def remember(self, session: Session, instance: Instance, wf: Any) -> None:
        """Keep `wf` for the next unit of work on this instance once this one has committed, if what committed is
        `wf`'s state: a savepoint rolled back after this call leaves the row's older state, which `wf` is not.
        A completed case is not kept: it takes no more steps, and every workflow kept is thousands of objects the
        garbage collector walks on each full pass (the lifecycle bench slowed by a tenth over 100 cases)."""
        if instance.status != "running":
            self._cases.forget(instance.id)
            return
        state = instance.state

        def committed() -> None:
            loaded = sa_inspect(instance).unloaded.isdisjoint({"state", "lock_version"})  # expired by a rollback?
            if loaded and instance.state == state:
                self._cases.put(instance.id, instance.lock_version, instance.state, wf)
        uow.after_commit(session, committed)

    @staticmethod
    def effects_for(ticket: Ticket | None) -> Effects:
        """A collector for what a step of `ticket`'s case asks for; it knows whether the ticket's clock stands."""
        return Effects(paused=ticket is not None and ticket.paused_at is not None)

    def script_engine(self, effects: Effects) -> Any:
        """A restricted script engine with the calendar functions and the effects a diagram may ask for."""
        return make_script_engine({**calendar_functions(self.clock.now), **effects.functions()})

    def start_case(self, session: Session, *, process_id: str, customer: Customer, contact_name: str,
                   contact_email: str, channel: str, title: str, description: str, actor: Actor,
                   contract: Contract | None = None, prefix: str = "AC", extra: dict[str, Any] | None = None,
                   origin: Ticket | None = None, contact_phone: str | None = None) -> Ticket:
        """A new ticket running the newest version of `process_id`, in the caller's unit of work; it remembers its
        contact when the address is a known contact of the customer (engine/contacts.py)."""
        version = repository.latest_version(session, process_id)
        if version is None:
            raise NotFound(f"the {process_id} process is not deployed")
        now = self.clock.now()
        today = now.astimezone(SHANGHAI).date()  # contracts and warranties run on Beijing dates
        contract = contract or active_contract(session, customer.id, today)
        facts = case_facts(contract, customer, today)
        ticket = Ticket(customer_id=customer.id, contract_id=contract.id if contract else None,
                        origin_ticket_id=origin.id if origin else None,
                        contact_name=contact_name, contact_email=contact_email, channel=channel, title=title,
                        description=description, status="new", tier=facts["tier"], breaches=[],
                        escalation_level=0, created_at=now, updated_at=now)
        # held until the case is saved: the session keeps objects only while they are referenced, and the notices
        # of the first step read the contact's language again
        _contact = attach_contact(session, ticket, contact_phone)
        session.add(ticket)
        session.flush()
        number = f"{prefix}-{today:%Y}-{ticket.id:06d}"
        rows.update(session, ticket, {"number": number})
        data = case_start_data(ticket_id=ticket.id, number=number, customer=customer.name, facts=facts,
                               channel=channel, title=title, description=description, contact_name=contact_name,
                               contact_email=contact_email, now=now, origin=origin.number if origin else None,
                               extra=extra)
        effects = Effects()

        def tell_overseers(element: str | None, error: str) -> None:  # once this unit has rolled back
            if session.info.get(_PARKS_ON_FAILURE):
                return
            tried = incident_notices.StartAttempt(
                process_id=process_id, version=version.version, procedure=version.name or process_id,
                source=incident_notices.start_source(actor, channel), actor=actor.name, channel=channel,
                customer=customer.name, title=title[:200], contact=contact_email[:320])
            incident_notices.record_after_unit(session, self.uow, tried, element, error, self.clock.now)
        wf = incidents.start_or_refuse(  # a diagram failing before its first wait: StartFailed, nothing is kept, and
            # the overseers get a notice (engine/incident_notices.py)
            process_id, lambda: self.runtime.start(version.spec_hash, data, self.script_engine(effects)),
            tell_overseers)
        instance = Instance(process_id=process_id, version_id=version.id, state="", status="running",
                            serializer_version=self.runtime.version, created_at=now, updated_at=now)
        session.add(instance)
        session.flush()
        rows.update(session, ticket, {"instance_id": instance.id})
        session.info.setdefault(_STARTING, set()).add(instance.id)
        created: dict[str, Any] = {"channel": channel, "number": ticket.number, "title": title}
        if origin is not None:
            created["origin"] = origin.number
        event(session, ticket, instance, now, "ticket_created", actor.name, created)
        ctx = self.ctx(actor)
        ctx.open_rows, ctx.indexed = [], False  # a new case has no tasks yet, its ticket no search document
        self.save(session, ctx, instance, ticket, wf, effects, [])
        session.flush()
        return ticket

    def save(self, session: Session, ctx: SaveContext, instance: Instance, ticket: Ticket | None, wf: Any,
             effects: Effects, fired: list[str]) -> None:
        """Save the case, then what its scripts asked for beyond it: inspection reports, linked tickets. A due
        expression that failed in the save is a notice for the overseers; the case goes on
        (engine/incident_notices.py)."""
        with self.runtime.due_failures.collecting() as failed:
            save_case(session, ctx, instance, ticket, wf, effects, fired)
        if failed:
            incident_notices.record_due_failures(session, instance, ticket, failed, ctx.now)
        self.remember(session, instance, wf)
        if ticket is None:
            return
        waiting.post_questions(self, session, ticket, effects, ctx.now, ctx.actor.name)
        if instance.process_id == INSPECTION_PROCESS:
            project_inspection(session, ticket, self.runtime.case_data(wf), ctx.now)
        elif instance.process_id == REPORT_PROCESS:
            project_report(session, ticket, self.runtime.case_data(wf), ctx.now, ctx.actor.name)
        elif instance.process_id == KB_PROCESS:
            project_article(session, ticket, self.runtime.case_data(wf), ctx.now, ctx.actor.name)
        for request in effects.tickets:
            self.open_linked_ticket(session, ticket, instance, request, ctx)
        if effects.tickets and ticket.archive is not None:  # frozen a moment ago: add the tickets just opened
            session.flush()
            ticket.archive = {**ticket.archive, "linked": ticket_detail(session, ticket)["linked"]}

    def open_linked_ticket(self, session: Session, origin: Ticket, instance: Instance, request: dict[str, Any],
                           ctx: SaveContext) -> None:
        """A maintenance request a case asked for (an inspection's risk), linked to its origin. Its start failing
        in a running case's step parks that case (the step's caller does), which tells the overseers: not a
        start-failure notice as well. In a case being started, the failure is the start's, and is that notice."""
        customer = session.get(Customer, origin.customer_id)
        contract = session.get(Contract, origin.contract_id) if origin.contract_id else None
        if customer is None:
            return
        outer = session.info.get(_PARKS_ON_FAILURE, False)
        session.info[_PARKS_ON_FAILURE] = outer or instance.id not in session.info.get(_STARTING, ())
        try:
            linked = self.start_case(session, process_id=MAIN_PROCESS, customer=customer,
                                     contact_name=origin.contact_name, contact_email=origin.contact_email,
                                     channel="inspection" if origin.category == "inspection" else origin.channel,
                                     title=request["title"], description=request["description"], actor=ctx.actor,
                                     contract=contract, origin=origin)
        finally:
            session.info[_PARKS_ON_FAILURE] = outer
        event(session, origin, instance, ctx.now, "linked_ticket_opened", "system",
              {"number": linked.number, "ticket_id": linked.id, "title": linked.title, "ref": request.get("ref")})
        if origin.category == "inspection":
            link_risk_ticket(session, origin, request.get("ref"), linked)

    def lock_task(self, session: Session, task_id: str) -> tuple[HumanTask | None, LockedCase | None]:
        """The task `task_id` (None if there is none) and its case, locked, with the case's open tasks read fresh
        under the lock: two statements where reading the task first and then locking its case takes three."""
        instance, ticket = repository.lock_case_of_task(session, task_id)
        if instance is None:
            return session.get(HumanTask, task_id), None
        open_rows = list(repository.open_tasks_of_instance(session, instance.id, fresh=True))
        return session.get(HumanTask, task_id), LockedCase(instance, ticket, open_rows)  # open: no statement

    def complete(self, session: Session, row: HumanTask, data: dict[str, Any], actor: Actor,
                 locked: LockedCase | None = None) -> dict[str, Any]:
        """Complete the open task `row` with form data in the caller's unit of work (staff and customers alike);
        `locked`: its case as `lock_task` found it, else it is locked and read here."""
        if locked is None:
            instance, ticket = repository.lock_case(session, row.instance_id)
            # the case's open tasks, read fresh under the lock: whether `row` is still open, and what saving closes
            open_rows = list(repository.open_tasks_of_instance(session, row.instance_id, fresh=True))
        else:
            instance, ticket, open_rows = locked.instance, locked.ticket, locked.open_rows
        incidents.refuse_if_parked(session, row.instance_id)  # again under the lock: another worker may have parked it
        if instance is None or row not in open_rows:
            raise Conflict("this task is no longer open", task_id=row.id)
        schema, coerced = self.form_and_data(session, instance, row, data)
        staff = repository.active_staff(session) if forms.staff_fields(schema) else None
        clean = forms.validate(schema, coerced, staff)
        effects = self.effects_for(ticket)
        wf = self.load_case(session, instance, effects)
        task = self.runtime.ready_task(wf, row.id)
        fired = self.runtime.complete(wf, task, clean)
        now = self.clock.now()
        summary = _summary(clean)
        event(session, ticket, instance, now, "task_completed", actor.name,
              {"task": row.bpmn_id, "title": row.title, "role": row.role, "by": actor.kind, "data": summary})
        ctx = self.ctx(actor, row.id)
        ctx.open_rows, ctx.new_texts = open_rows, [summary]
        self.save(session, ctx, instance, ticket, wf, effects, fired)
        return {"task_id": row.id, "ticket_id": row.ticket_id, "status": ticket.status if ticket else None}

    def form_and_data(self, session: Session, instance: Instance, row: HumanTask,
                      data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The task's form and `data` coerced to it."""
        schema = self.form(session, instance.version_id, row.form_key)
        return schema, forms.coerce(schema, data)

    def form(self, session: Session, version_id: int, form_key: str | None) -> dict[str, Any]:
        """The form `form_key` as deployed with a process version."""
        key = (version_id, form_key or "")
        if key not in self._forms:  # a version's forms never change, so the parsed schema is cached for good
            version = session.get(ProcessVersion, version_id)
            if version is None or not form_key:
                return {"type": "object"}
            file = repository.deployment_file(session, version.deployment_id, form_key)
            if file is None:
                raise NotFound(f"form {form_key} is not deployed")
            self._forms[key] = forms.parse(file.content)
        return self._forms[key]

    def run_in_unit(self, work: Callable[[Session], Any], *, write: bool = False) -> Any:
        """Run a read function inside one unit of work (queries module)."""
        with self.uow(write=write) as session:
            return work(session)


@dataclass
class LockedCase:
    """A case locked in this unit of work: its instance, its ticket and its open tasks as read under the lock."""

    instance: Instance
    ticket: Ticket | None
    open_rows: list[HumanTask]


class CaseCache:
    """Workflows of recently committed cases by instance id, each valid for the row version and stored state it
    was committed as (a state changed behind the ORM's back is a miss, too); the oldest dropped beyond `size`."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[tuple[int, int], Any]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: int, version: int, state: str) -> Any:
        """Remove and return the workflow of `instance_id` if it is the one committed as `version` and `state`."""
        with self._lock:
            entry = self._entries.pop(instance_id, None)
        return entry[1] if entry is not None and entry[0] == (version, hash(state)) else None

    def forget(self, instance_id: int) -> None:
        """Drop the workflow of `instance_id`, if kept."""
        with self._lock:
            self._entries.pop(instance_id, None)

    def put(self, instance_id: int, version: int, state: str, wf: Any) -> None:
        """Keep `wf` as the workflow committed as row `version` with `state`."""
        with self._lock:
            self._entries[instance_id] = ((version, hash(state)), wf)
            self._entries.move_to_end(instance_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def case_start_data(*, ticket_id: int, number: str, customer: str, facts: dict[str, Any], channel: str, title: str,
                    description: str, contact_name: str, contact_email: str, now: datetime, origin: str | None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The variables every case starts with (the diagrams may read any of them)."""
    return {"ticket_id": ticket_id, "ticket_number": number, "customer": customer, "category": None, **facts,
            "channel": channel, "title": title, "description": description, "contact_name": contact_name,
            "contact_email": contact_email, "created_at": now.isoformat(), "origin_ticket": origin, **(extra or {})}


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    """Form data as the timeline keeps it: whole, for the printed forms, but no essay beyond 4000 characters."""
    return {k: (v[:4000] + "…" if isinstance(v, str) and len(v) > 4000 else v) for k, v in data.items()}
