"""The facade: the verbs every surface calls (staff pages, customer links, JSON API, CLI, scheduler)."""
from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from . import calendar as calendar_mod
from . import clock as clock_mod
from . import forms, links, outbox, repository
from .attachments import AttachmentVerbs
from .calendar import SHANGHAI
from .contracts import ContractVerbs, active_contract, case_facts
from .db import make_engine, migrate
from .deploy import check_files
from .effects import Effects
from .errors import Conflict, Forbidden, InvalidProcess, NotFound, Unauthorized, ValidationFailed
from .inspections import (
    INSPECTION_PROCESS,
    InspectionVerbs,
    customer_report,
    link_risk_ticket,
    project_inspection,
)
from .models import (
    Contract,
    Customer,
    Deployment,
    DeploymentFile,
    HumanTask,
    Instance,
    ProcessSpec,
    ProcessVersion,
    Ticket,
    User,
)
from .portal import PortalVerbs
from .projection import SaveContext, event, save_case
from .queries import ReadVerbs, task_dict, ticket_brief, ticket_detail
from .records import RecordVerbs
from .runtime import Runtime
from .scripting import calendar_functions, make_script_engine
from .settings import Settings
from .uow import UnitOfWork
from .users import SYSTEM, Actor, hash_password, may_work_on, verify_password

log = logging.getLogger("aftercare.engine")
CHANNELS = ("web", "phone", "email", "wechat")
MAIN_PROCESS = "maintenance_request"
LOCKOUT_AFTER = 5
LOCKOUT_FOR = timedelta(minutes=15)


class Aftercare(ReadVerbs, AttachmentVerbs, PortalVerbs, ContractVerbs, InspectionVerbs, RecordVerbs):
    """One per process: owns the database engine, the clock and the spec cache."""

    def __init__(self, settings: Settings, clock: clock_mod.Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or clock_mod.Clock()
        clock_mod.install(self.clock)
        calendar_mod.configure(settings.extra_holidays, settings.extra_workdays)
        self.db = make_engine(settings.database_url)
        self.uow = UnitOfWork(self.db)
        self.runtime = Runtime()
        self.runtime.library.loader = self._load_spec
        self._forms: dict[tuple[int, str], dict[str, Any]] = {}
        self._cases = CaseCache()

    def migrate(self) -> None:
        """Create or upgrade the schema."""
        migrate(self.db)

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()

    def _load_spec(self, spec_hash: str) -> str:
        with self.uow(write=False) as session:
            return repository.spec_json(session, spec_hash)

    def _ctx(self, actor: Actor, completed_task_id: str | None = None) -> SaveContext:
        return SaveContext(runtime=self.runtime, secret=self.settings.secret_key, now=self.clock.now(),
                           actor=actor, link_valid_days=self.settings.link_valid_days,
                           completed_task_id=completed_task_id)

    def _load_case(self, session: Session, instance: Instance, effects: Effects, *, for_update: bool = True) -> Any:
        """The case's workflow, to run in this unit of work.

        A unit that holds the instance's row lock (`for_update`) takes the workflow this process left in memory
        when it last committed the same version of the row: deserializing is the biggest cost of a step. The
        entry is removed while in use and put back only after the unit commits (`_remember`), so a unit that fails
        half-way can never leave a half-run workflow behind. Anything else deserializes the stored state; its
        spec is read in this same transaction (a second connection could deadlock against the write lock).
        """
        if for_update:
            wf = self._cases.take(instance.id, instance.lock_version, instance.state)
            if wf is not None:
                wf.script_engine = self._script_engine(effects)
                self.runtime.loads += 1
                return wf
        version = session.get(ProcessVersion, instance.version_id)
        if version is not None:
            self.runtime.library.ensure(version.spec_hash, lambda: repository.spec_json(session, version.spec_hash))
        return self.runtime.load(instance.state, self._script_engine(effects))

    def _remember(self, session: Session, instance: Instance, wf: Any) -> None:
        """Keep `wf` for the next unit of work on this instance once this one has committed."""
        def committed(_session: Session) -> None:
            self._cases.put(instance.id, instance.lock_version, instance.state, wf)
        sa_event.listen(session, "after_commit", committed, once=True)

    def _script_engine(self, effects: Effects) -> Any:
        return make_script_engine({**calendar_functions(self.clock.now), **effects.functions()})

    # -- deployment -------------------------------------------------------------------------------------

    def deploy(self, *, files: dict[str, str], actor: Actor) -> list[dict[str, Any]]:
        """Check and store `files` over the current deployment; running cases keep their versions."""
        with self.uow() as session:
            current = repository.latest_deployment_id(session)
            merged = {f.name: f.content for f in repository.deployment_files(session, current)} if current else {}
            merged.update(files)
            bundle = check_files(merged)
            if bundle.problems:
                raise InvalidProcess(bundle.problems)
            return self._store_bundle(session, bundle, merged, actor, changed=merged != self._files_of(
                session, current))

    def deploy_directory(self, *, directory: Path, actor: Actor) -> list[dict[str, Any]]:
        """Deploy every .bpmn, .dmn and form .json under `directory` (forms may sit in a sibling forms/)."""
        files = {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*"))
                 if p.suffix in (".bpmn", ".dmn", ".json")}
        forms_dir = self.settings.forms_dir
        if forms_dir.is_dir() and forms_dir.resolve() != directory.resolve():
            files.update({p.name: p.read_text(encoding="utf-8") for p in sorted(forms_dir.glob("*.json"))})
        return self.deploy(files=files, actor=actor)

    def _files_of(self, session: Session, deployment_id: int | None) -> dict[str, str]:
        if deployment_id is None:
            return {}
        return {f.name: f.content for f in repository.deployment_files(session, deployment_id)}

    def _store_bundle(self, session: Session, bundle: Any, files: dict[str, str], actor: Actor,
                      changed: bool) -> list[dict[str, Any]]:
        now = self.clock.now()
        deployment_id = repository.latest_deployment_id(session)
        if changed or deployment_id is None:
            deployment = Deployment(actor=actor.name, created_at=now)
            session.add(deployment)
            session.flush()
            deployment_id = deployment.id
            for name, text in files.items():
                session.add(DeploymentFile(deployment_id=deployment_id, name=name, content=text,
                                           sha256=hashlib.sha256(text.encode()).hexdigest()))
        result = []
        for parsed in bundle.processes:
            spec_hash, text = self.runtime.library.encode(parsed.spec, parsed.subprocess_specs)
            if session.get(ProcessSpec, spec_hash) is None:
                session.add(ProcessSpec(hash=spec_hash, process_id=parsed.process_id, json=text, created_at=now))
            latest = repository.latest_version(session, parsed.process_id)
            if latest is None or latest.spec_hash != spec_hash or self._forms_changed(session, latest, parsed, files):
                latest = ProcessVersion(process_id=parsed.process_id, version=(latest.version + 1 if latest else 1),
                                        name=parsed.name, spec_hash=spec_hash, deployment_id=deployment_id,
                                        source_file=parsed.source_file, created_at=now)
                session.add(latest)
                session.flush()
            result.append(_version_dict(latest))
        return result

    def _forms_changed(self, session: Session, latest: ProcessVersion, parsed: Any, files: dict[str, str]) -> bool:
        """Whether a form the process uses differs from the one its newest version was deployed with."""
        for key in _form_keys([parsed.spec, *parsed.subprocess_specs.values()]):
            old = repository.deployment_file(session, latest.deployment_id, key)
            if old is None or old.content != files.get(key):
                return True
        return False

    def list_processes(self) -> list[dict[str, Any]]:
        """The newest version of every deployed process."""
        with self.uow(write=False) as session:
            return [_version_dict(v) for v in repository.latest_versions(session)]

    # -- cases ------------------------------------------------------------------------------------------

    def create_ticket(self, *, customer: str, contact_name: str, contact_email: str, channel: str, title: str,
                      description: str, actor: Actor, category: str | None = None) -> dict[str, Any]:
        """Log a ticket and start its maintenance-request case.

        `category` is None (the service desk triages it) or "complaint": a complaint the customer files as such
        skips triage and goes straight to the complaint procedure.
        """
        _check_ticket_fields(channel=channel, contact_email=contact_email, title=title, category=category)
        with self.uow() as session:
            cust = repository.customer_by_name(session, customer)
            if cust is None:
                raise ValidationFailed("unknown customer", [{
                    "field": "customer", "message": f"没有名为 {customer} 的客户 No customer named {customer!r}"}])
            ticket = self._start_case(session, process_id=MAIN_PROCESS, customer=cust, contact_name=contact_name,
                                      contact_email=contact_email, channel=channel, title=title,
                                      description=description, actor=actor, extra={"category": category})
            return {"id": ticket.id, "number": ticket.number, "status": ticket.status}

    def _start_case(self, session: Session, *, process_id: str, customer: Customer, contact_name: str,
                    contact_email: str, channel: str, title: str, description: str, actor: Actor,
                    contract: Contract | None = None, prefix: str = "AC", extra: dict[str, Any] | None = None,
                    origin: Ticket | None = None) -> Ticket:
        """A new ticket running the newest version of `process_id`, in the caller's unit of work."""
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
        session.add(ticket)
        session.flush()
        ticket.number = f"{prefix}-{today:%Y}-{ticket.id:06d}"
        data = case_start_data(ticket_id=ticket.id, number=ticket.number, customer=customer.name, facts=facts,
                               channel=channel, title=title, description=description, contact_name=contact_name,
                               contact_email=contact_email, now=now, origin=origin.number if origin else None,
                               extra=extra)
        effects = Effects()
        wf = self.runtime.start(version.spec_hash, data, self._script_engine(effects))
        instance = Instance(process_id=process_id, version_id=version.id, state="", status="running",
                            serializer_version=self.runtime.version, created_at=now, updated_at=now)
        session.add(instance)
        session.flush()
        ticket.instance_id = instance.id
        created: dict[str, Any] = {"channel": channel, "number": ticket.number, "title": title}
        if origin is not None:
            created["origin"] = origin.number
        event(session, ticket, instance, now, "ticket_created", actor.name, created)
        self._save(session, self._ctx(actor), instance, ticket, wf, effects, [])
        session.flush()
        return ticket

    def _save(self, session: Session, ctx: SaveContext, instance: Instance, ticket: Ticket | None, wf: Any,
              effects: Effects, fired: list[str]) -> None:
        """Save the case, then what its scripts asked for beyond it: inspection reports, linked tickets."""
        save_case(session, ctx, instance, ticket, wf, effects, fired)
        self._remember(session, instance, wf)
        if ticket is None:
            return
        if instance.process_id == INSPECTION_PROCESS:
            project_inspection(session, ticket, self.runtime.case_data(wf), ctx.now)
        for request in effects.tickets:
            self._open_linked_ticket(session, ticket, instance, request, ctx)
        if effects.tickets and ticket.archive is not None:  # frozen a moment ago: add the tickets just opened
            session.flush()
            ticket.archive = {**ticket.archive, "linked": ticket_detail(session, ticket)["linked"]}

    def _open_linked_ticket(self, session: Session, origin: Ticket, instance: Instance, request: dict[str, Any],
                            ctx: SaveContext) -> None:
        customer = session.get(Customer, origin.customer_id)
        contract = session.get(Contract, origin.contract_id) if origin.contract_id else None
        if customer is None:
            return
        linked = self._start_case(session, process_id=MAIN_PROCESS, customer=customer,
                                  contact_name=origin.contact_name, contact_email=origin.contact_email,
                                  channel="inspection" if origin.category == "inspection" else origin.channel,
                                  title=request["title"], description=request["description"], actor=ctx.actor,
                                  contract=contract, origin=origin)
        event(session, origin, instance, ctx.now, "linked_ticket_opened", "system",
              {"number": linked.number, "ticket_id": linked.id, "title": linked.title, "ref": request.get("ref")})
        if origin.category == "inspection":
            link_risk_ticket(session, origin, request.get("ref"), linked)

    def complete_task(self, *, task_id: str, data: dict[str, Any], actor: Actor) -> dict[str, Any]:
        """Complete an open task with form data, as `actor`; the one path for staff, customers and the API."""
        with self.uow() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound("no such task", task_id=task_id)
            if actor.kind == "staff" and not may_work_on(actor.role, row.role):
                raise Forbidden(f"role {actor.role!r} may not work on {row.role!r} tasks")
            return self._complete(session, row, data, actor)

    def _complete(self, session: Session, row: HumanTask, data: dict[str, Any], actor: Actor) -> dict[str, Any]:
        instance = repository.lock_instance(session, row.instance_id)
        session.refresh(row)
        if instance is None or row.state != "open":
            raise Conflict("this task is no longer open", task_id=row.id)
        schema, coerced = self._form_and_data(session, instance, row, data)
        staff = repository.active_staff(session) if forms.staff_fields(schema) else None
        clean = forms.validate(schema, coerced, staff)
        effects = Effects()
        wf = self._load_case(session, instance, effects)
        task = self.runtime.ready_task(wf, row.id)
        fired = self.runtime.complete(wf, task, clean)
        ticket = repository.ticket_by_instance(session, instance.id)
        now = self.clock.now()
        event(session, ticket, instance, now, "task_completed", actor.name,
              {"task": row.bpmn_id, "title": row.title, "role": row.role, "by": actor.kind, "data": _summary(clean)})
        self._save(session, self._ctx(actor, row.id), instance, ticket, wf, effects, fired)
        return {"task_id": row.id, "ticket_id": row.ticket_id, "status": ticket.status if ticket else None}

    def _form_and_data(self, session: Session, instance: Instance, row: HumanTask,
                       data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        schema = self._form(session, instance.version_id, row.form_key)
        return schema, forms.coerce(schema, data)

    def _form(self, session: Session, version_id: int, form_key: str | None) -> dict[str, Any]:
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

    def fire_due_timers(self, *, limit: int = 100) -> int:
        """Fire every due timer, each instance in its own unit of work; the number of instances handled."""
        with self.uow(write=False) as session:
            due = repository.due_instance_ids(session, self.clock.now(), limit)
        fired = 0
        for instance_id in due:
            try:
                fired += self._fire_instance(instance_id)
            except Conflict:
                continue  # busy with someone else's unit of work: the next tick picks it up
            except Exception as exc:  # one broken case must not stop every case due after it
                try:
                    self._park_failed_instance(instance_id, f"{type(exc).__name__}: {exc}")
                except Exception:
                    log.exception("could not park instance %s", instance_id)
        return fired

    def _fire_instance(self, instance_id: int) -> int:
        with self.uow() as session:
            instance = repository.lock_instance(session, instance_id, skip_locked=True)
            now = self.clock.now()
            if instance is None or instance.status != "running" or instance.next_timer_at is None \
                    or instance.next_timer_at > now:
                return 0  # another worker has it, or it moved on since the scan
            effects = Effects()
            wf = self._load_case(session, instance, effects)
            fired = self.runtime.advance(wf)
            ticket = repository.ticket_by_instance(session, instance.id)
            self._save(session, self._ctx(SYSTEM), instance, ticket, wf, effects, fired)
            return 1

    def _park_failed_instance(self, instance_id: int, error: str) -> None:
        log.error("timer of instance %s failed: %s", instance_id, error)
        with self.uow() as session:
            instance = repository.lock_instance(session, instance_id)
            if instance is None:
                return
            now = self.clock.now()
            instance.error = error
            instance.next_timer_at = now + timedelta(minutes=5)  # retry later instead of every tick
            event(session, repository.ticket_by_instance(session, instance_id), instance, now, "error", "system",
                  {"message": error})

    def claim_task(self, *, task_id: str, actor: Actor, release: bool = False) -> dict[str, Any]:
        """Take an open task as mine (or give it back to the role's queue)."""
        with self.uow() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound("no such task", task_id=task_id)
            if not may_work_on(actor.role, row.role):
                raise Forbidden(f"role {actor.role!r} may not work on {row.role!r} tasks")
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

    # -- customer links ---------------------------------------------------------------------------------

    def open_link(self, *, token: str) -> dict[str, Any]:
        """What a customer link shows: the task, its form and the ticket; LinkError when unusable."""
        with self.uow(write=False) as session:
            link = links.resolve(session, secret=self.settings.secret_key, token=token, now=self.clock.now())
            row = session.get(HumanTask, link.task_id)
            if row is None or row.state != "open":
                raise _link_closed()
            ticket = session.get(Ticket, link.ticket_id) if link.ticket_id else None
            instance = session.get(Instance, link.instance_id)
            schema = self._form(session, instance.version_id, row.form_key) if instance else {}
            events = repository.timeline(session, ticket.id) if ticket else []
            quote = _quote_offer(events) if "quote_decision" in schema.get("properties", {}) else None
            return {"task": task_dict(row), "form": schema, "ticket": ticket_brief(session, ticket) if ticket else None,
                    "expires_at": link.expires_at.isoformat(), "quote": quote,
                    "work": [] if quote else _work_done(events),
                    "report": customer_report(session, ticket) if ticket else None}

    def complete_by_link(self, *, token: str, data: dict[str, Any]) -> dict[str, Any]:
        """Complete the customer's task behind a link; the link is spent only if the task completes."""
        with self.uow() as session:
            now = self.clock.now()
            link = links.resolve(session, secret=self.settings.secret_key, token=token, now=now)
            row = session.get(HumanTask, link.task_id)
            if row is None or row.state != "open":
                raise _link_closed()
            ticket = session.get(Ticket, link.ticket_id) if link.ticket_id else None
            actor = Actor(ticket.contact_name if ticket else "customer", "customer", "customer")
            try:
                result = self._complete(session, row, data, actor)
            except Conflict:
                raise _link_closed() from None
            link.used_at = now
            return result

    def link_token(self, *, link_id: str) -> str | None:
        """The token of a link, for rendering an e-mail (needs the secret, so the outbox holds only the id)."""
        with self.uow(write=False) as session:
            link = session.get(links.CustomerLink, link_id)
            return links.token_for(self.settings.secret_key, link) if link else None

    # -- outbox -----------------------------------------------------------------------------------------

    def claim_outbox(self, *, limit: int = 20) -> list[outbox.Envelope]:
        """Messages due for sending, marked as claimed."""
        with self.uow() as session:
            return outbox.claim(session, now=self.clock.now(), limit=limit)

    def outbox_sent(self, *, message_id: int, subject: str) -> None:
        """Record that a message went out."""
        with self.uow() as session:
            outbox.mark_sent(session, message_id=message_id, subject=subject, now=self.clock.now())

    def outbox_failed(self, *, message_id: int, error: str, permanent: bool = False) -> None:
        """Record a failed send; it is retried with backoff unless it can never succeed."""
        with self.uow() as session:
            outbox.mark_failed(session, message_id=message_id, error=error, now=self.clock.now(), permanent=permanent)

    # -- users and customers ----------------------------------------------------------------------------

    def add_user(self, *, username: str, role: str, password: str, email: str | None = None,
                 language: str = "zh-CN", password_hash: str | None = None) -> dict[str, Any]:
        """Create a staff user, or reset an existing one's role, password and e-mail.

        `password_hash`, when given, is the argon2 hash of `password` made already (demo users share one).
        """
        from .effects import ROLES
        if role not in ROLES:
            raise ValidationFailed("unknown role", [{"field": "role", "message": f"roles are {', '.join(ROLES)}"}])
        with self.uow() as session:
            user = repository.user_by_name(session, username)
            if user is None:
                user = User(username=username, created_at=self.clock.now(), failed_logins=0, active=True)
                session.add(user)
            user.role, user.email, user.language = role, email, language
            user.password_hash = password_hash or hash_password(password)
            return {"username": username, "role": role, "email": email}

    def authenticate(self, *, username: str, password: str) -> Actor:
        """The actor for a username and password; locks the account for a while after repeated failures."""
        with self.uow() as session:
            user = repository.user_by_name(session, username)
            now = self.clock.now()
            if user is None or not user.active:
                raise Unauthorized("wrong username or password")
            if user.locked_until and user.locked_until > now:
                raise Unauthorized("too many failed attempts; the account is locked for a while")
            ok = verify_password(user.password_hash, password)
            user.failed_logins = 0 if ok else user.failed_logins + 1
            if user.failed_logins >= LOCKOUT_AFTER:
                user.locked_until, user.failed_logins = now + LOCKOUT_FOR, 0
        if not ok:
            raise Unauthorized("wrong username or password")
        return Actor(user.username, user.role)

    def actor(self, *, username: str) -> Actor:
        """The actor for an authenticated username (the user may have been removed since)."""
        with self.uow(write=False) as session:
            user = repository.user_by_name(session, username)
            if user is None or not user.active:
                raise Unauthorized("unknown user")
            return Actor(user.username, user.role)

    def add_customer(self, *, name: str, tier: str = "standard", email: str | None = None,
                     language: str = "zh-CN") -> dict[str, Any]:
        """Create or update a customer."""
        with self.uow() as session:
            cust = repository.customer_by_name(session, name)
            if cust is None:
                cust = Customer(name=name, created_at=self.clock.now())
                session.add(cust)
            cust.tier, cust.email, cust.language = tier, email, language
            return {"name": name, "tier": tier}

    def ticket_diagram(self, *, ticket_id: int, actor: Actor) -> dict[str, Any]:
        """The ticket's BPMN (the version it runs on) and where the case stands in it; `called` holds the same
        for each called process the case has entered that is drawn in a file of its own, in the order entered."""
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id)
            instance = session.get(Instance, ticket.instance_id) if ticket and ticket.instance_id else None
            if ticket is None or instance is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            version = session.get(ProcessVersion, instance.version_id)
            wf = self._load_case(session, instance, Effects(), for_update=False)
            top, *called = self.runtime.progress(wf)

            def xml(source_file: str) -> str:  # called files come from the same deployment as the version's spec
                file = repository.deployment_file(session, version.deployment_id, source_file) if version else None
                return file.content if file else ""

            return {"xml": xml(version.source_file if version else top.source_file), **top.markers(),
                    "called": [{**c.markers(), "xml": xml(c.source_file)} for c in called]}

    def list_customers(self) -> list[dict[str, Any]]:
        """All customers, by name."""
        with self.uow(write=False) as session:
            return [{"id": c.id, "name": c.name, "tier": c.tier} for c in repository.customers(session)]

    def run_in_unit(self, work: Callable[[Session], Any], *, write: bool = False) -> Any:
        """Run a read function inside one unit of work (queries module)."""
        with self.uow(write=write) as session:
            return work(session)


def _form_keys(specs: list[Any]) -> set[str]:
    keys = set()
    for spec in specs:
        for ts in spec.task_specs.values():
            props = (getattr(ts, "extensions", None) or {}).get("properties", {}) or {}
            if props.get("formJsonSchemaFilename"):
                keys.add(props["formJsonSchemaFilename"])
    return keys


def _is_address(text: str) -> bool:
    """One plain address: no display name, no list, no header-breaking characters."""
    name, address = parseaddr(text)
    if name or address != text.strip() or any(c in text for c in ",;\r\n<>\"") or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    return bool(local) and "." in domain and not domain.startswith(".") and not domain.endswith(".")


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


def _check_ticket_fields(*, channel: str, contact_email: str, title: str, category: str | None) -> None:
    errors = []
    if channel not in CHANNELS:
        errors.append({"field": "channel", "message": f"请选择渠道 Must be one of {', '.join(CHANNELS)}"})
    if category not in (None, "complaint"):
        errors.append({"field": "category", "message": "only a complaint is filed with its category; "
                                                       "everything else is triaged 仅投诉可直接指定类别"})
    if not _is_address(contact_email):
        errors.append({"field": "contact_email", "message": "邮箱地址无效 Not an e-mail address"})
    if not title.strip():
        errors.append({"field": "title", "message": "此项必填 This field is required"})
    if errors:
        raise ValidationFailed("the ticket has errors", errors)


# What the customer's acceptance and confirmation pages show of the work; a complaint's findings and corrective
# action stay the service manager's internal record (the customer reads the answer written for them).
_WORK_FIELDS = {"answer": "答复 Answer", "assessment_answer": "评估答复 Our assessment",
                "resolution": "处理措施 Resolution", "root_cause": "原因 Root cause",
                "preventive_action": "预防措施 Preventive action", "release_version": "发布版本 Version"}


def _quote_offer(events: Any) -> dict[str, Any] | None:
    """The quote a quote-decision link shows (the same as the quote e-mail: queries.quote_offer)."""
    from .queries import quote_offer

    return quote_offer(events)


def _work_done(events: Any) -> list[tuple[str, str]]:
    """What staff told the customer they did: the latest value of each customer-facing field."""
    latest: dict[str, str] = {}
    for e in events:
        if e.kind == "task_completed":
            latest.update({k: str(v) for k, v in (e.data.get("data") or {}).items() if k in _WORK_FIELDS and v})
    return [(label, latest[key]) for key, label in _WORK_FIELDS.items() if key in latest]


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    """Form data as the timeline keeps it: whole, for the printed forms, but no essay beyond 4000 characters."""
    return {k: (v[:4000] + "…" if isinstance(v, str) and len(v) > 4000 else v) for k, v in data.items()}


def _link_closed() -> links.LinkError:
    return links.LinkError("closed", "此步骤已完成，无需再次操作。"
                                     "This step is already done; nothing more is needed from this link.")


def _version_dict(v: ProcessVersion) -> dict[str, Any]:
    return {"process_id": v.process_id, "version": v.version, "name": v.name, "spec_hash": v.spec_hash,
            "deployment_id": v.deployment_id, "source_file": v.source_file,
            "deployed_at": v.created_at.isoformat()}


