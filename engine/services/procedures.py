"""Procedures staff start by hand: which ones a role may start from the intake page or a ticket page (the diagram
declares it, engine/startable.py), and starting one for a customer, linked to the ticket it came from."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .. import repository
from ..contacts import is_placeholder, phone_error
from ..errors import Forbidden, NotFound, ValidationFailed
from ..kernel import MAIN_PROCESS, Kernel
from ..models import Customer, Instance, ProcessVersion, Ticket, TimelineEvent
from ..projection import event
from ..startable import NOT_STARTABLE, PLACES, StartOptions, start_options
from ..ticket_fields import field_errors
from ..users import Actor
from .base import Service


class ProcedureService(Service):
    """Starting procedures other than by the engine: the maintenance request from intake as always, and any
    procedure whose diagram says staff may start it from intake or from a ticket."""

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self._options: dict[int, StartOptions] = {}  # by process version id: a version's files never change

    def startable(self, *, actor: Actor, where: str) -> list[dict[str, Any]]:
        """The newest version of every procedure `actor` may start from `where` (`intake` or `ticket`); on intake
        the maintenance request comes first, whether or not its diagram says anything."""
        _check_where(where)
        with self.uow(write=False) as session:
            found = [v for v in repository.latest_versions(session) if self._allows(session, v, where, actor)]
        found.sort(key=lambda v: (v.process_id != MAIN_PROCESS, v.name or v.process_id))
        return [{"process_id": v.process_id, "name": v.name or v.process_id, "version": v.version} for v in found]

    def start_procedure(self, *, process_id: str, actor: Actor, customer: str, contact_name: str,
                        contact_email: str, title: str, description: str, channel: str = "phone",
                        origin_ticket_id: int | None = None, contact_phone: str | None = None) -> dict[str, Any]:
        """Start the newest version of `process_id` as a new ticket, from intake or, with `origin_ticket_id`, from
        that ticket: then for the same customer (an empty customer or contact is the origin's) and linked to it."""
        where = "intake" if origin_ticket_id is None else "ticket"
        with self.uow() as session:
            version = repository.latest_version(session, process_id)
            if version is None:
                raise NotFound(f"no procedure {process_id} is deployed", process_id=process_id)
            self._check_allowed(session, version, where, actor)
            origin = self._origin(session, origin_ticket_id)
            if origin is not None:
                customer, contact_name, contact_email = _from_origin(session, origin, customer, contact_name,
                                                                     contact_email)
            cust = repository.customer_by_name(session, customer)
            if origin is None and is_placeholder(cust):  # chosen on intake: a placeholder is no customer
                cust = None
            errors = ([] if cust is not None else [_unknown_customer(customer)]) + field_errors(
                channel=channel, contact_email=contact_email, title=title)
            errors += [e for e in [phone_error(contact_phone, "contact_phone")] if e]
            if errors or cust is None:
                raise ValidationFailed("the ticket has errors", errors)
            ticket = self.kernel.start_case(session, process_id=process_id, customer=cust, actor=actor,
                                            contact_name=contact_name, contact_email=contact_email,
                                            channel=channel, title=title, description=description, origin=origin,
                                            contact_phone=contact_phone)
            self._record_start(session, ticket, version, actor, origin)
            return {"id": ticket.id, "number": ticket.number, "status": ticket.status}

    def _allows(self, session: Session, version: ProcessVersion, where: str, actor: Actor) -> bool:
        if actor.kind != "staff":
            return False
        if version.process_id == MAIN_PROCESS and where == "intake":
            return True  # any staff member logs a ticket, as intake always has
        return self._options_of(session, version).allows(where, actor.role)

    def _check_allowed(self, session: Session, version: ProcessVersion, where: str, actor: Actor) -> None:
        """Refuse a procedure not declared for `where` (422, like any wrong input) or a role it does not name (403)."""
        if self._allows(session, version, where, actor):
            return
        if actor.kind != "staff":
            raise Forbidden("only staff start procedures")
        if where not in self._options_of(session, version).start_from:
            place = "接待页" if where == "intake" else "工单页"
            raise ValidationFailed("this procedure cannot be started from here", [{
                "field": "process_id", "message": f"此流程不能从{place}启动 "
                                                  f"{version.process_id} cannot be started from {where}"}])
        raise Forbidden(f"role {actor.role!r} may not start {version.process_id}")

    def _options_of(self, session: Session, version: ProcessVersion) -> StartOptions:
        """The version's declaration, read from its deployed diagram once."""
        if version.id not in self._options:
            file = repository.deployment_file(session, version.deployment_id, version.source_file)
            self._options[version.id] = start_options(file.content, version.process_id) if file else NOT_STARTABLE
        return self._options[version.id]

    def _origin(self, session: Session, origin_ticket_id: int | None) -> Ticket | None:
        if origin_ticket_id is None:
            return None
        origin = session.get(Ticket, origin_ticket_id)
        if origin is None:
            raise NotFound("no such ticket", ticket_id=origin_ticket_id)
        return origin

    def _record_start(self, session: Session, ticket: Ticket, version: ProcessVersion, actor: Actor,
                      origin: Ticket | None) -> None:
        """Say on the new ticket which procedure who started, and on the origin that it was started from there."""
        now = self.clock.now()
        instance = session.get(Instance, ticket.instance_id)
        if instance is not None:
            event(session, ticket, instance, now, "procedure_started", actor.name,
                  {"procedure": version.name, "process_id": version.process_id, "version": version.version})
        if origin is not None:  # a row of the origin's timeline only: its case is not touched, so not locked
            session.add(TimelineEvent(ticket_id=origin.id, instance_id=origin.instance_id, at=now,
                                      kind="linked_procedure_started", actor=actor.name,
                                      data={"number": ticket.number, "ticket_id": ticket.id, "title": ticket.title,
                                            "procedure": version.name, "process_id": version.process_id}))
        session.flush()


def _check_where(where: str) -> None:
    if where not in PLACES:
        raise ValidationFailed("unknown place", [{
            "field": "where", "message": f"只能是 {' 或 '.join(PLACES)} Must be one of {', '.join(PLACES)}"}])


def _from_origin(session: Session, origin: Ticket, customer: str, contact_name: str,
                 contact_email: str) -> tuple[str, str, str]:
    """The customer and contact of a procedure started from `origin`: the origin's unless given; another customer
    than the origin's is refused."""
    own = session.get(Customer, origin.customer_id)
    own_name = own.name if own else ""
    if customer.strip() and customer != own_name:
        raise ValidationFailed("the ticket has errors", [{
            "field": "customer", "message": f"须与来源工单 {origin.number} 的客户相同 "
                                            f"Must be the customer of ticket {origin.number}: {own_name}"}])
    return own_name, contact_name.strip() or origin.contact_name, contact_email.strip() or origin.contact_email


def _unknown_customer(customer: str) -> dict[str, str]:
    return {"field": "customer", "message": f"没有名为 {customer} 的客户 No customer named {customer!r}"}
