"""Contacts: the people of a customer and the customer's own e-mail domains (kept by the service desk, managers and
admins), matching a ticket from an unknown sender to its customer, and the contacts' "my tickets" sign-in."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import contacts as rules
from .. import conversation, outbox, repository, self_service
from ..attachments import attachment_dict
from ..calendar import SHANGHAI
from ..contracts import active_contract, case_facts
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import Contact, Customer, Instance, OutboxMessage, Ticket
from ..projection import event
from ..users import Actor
from .base import Service

MANAGING_ROLES = ("service_desk", "manager", "admin")
SIGN_IN_TEMPLATE = "my_sign_in"
SIGN_INS_PER_HOUR = 3  # sign-in e-mails one contact gets at most in an hour, however often the form is sent


def _check_role(actor: Actor) -> None:
    if actor.kind != "staff" or actor.role not in MANAGING_ROLES:
        raise Forbidden("Only the service desk, managers and admins may manage contacts.")


def contact_dict(contact: Contact) -> dict[str, Any]:
    """A contact as the pages show it."""
    return {"id": contact.id, "customer_id": contact.customer_id, "name": contact.name, "email": contact.email,
            "phone": contact.phone, "language": contact.language, "active": contact.active}


class ContactService(Service):
    """Who the customers' people are, and what they see of their organisation's tickets."""

    # --- contacts and domains (staff) ------------------------------------------------------------------------

    def customers_overview(self, *, actor: Actor) -> list[dict[str, Any]]:
        """Every real customer (no placeholder) with its e-mail domains and how many active contacts it has."""
        _check_role(actor)
        with self.uow(write=False) as session:
            active = select(Contact.customer_id, func.count()).where(Contact.active.is_(True))
            counts = {int(cid): int(n) for cid, n in session.execute(active.group_by(Contact.customer_id))}
            return [{"id": c.id, "name": c.name, "domains": list(c.domains or []), "contacts": counts.get(c.id, 0)}
                    for c in repository.customers(session) if not rules.is_placeholder(c)]

    def list_contacts(self, *, actor: Actor, customer_id: int) -> dict[str, Any]:
        """One customer, its domains and its contacts (active first, then by name)."""
        _check_role(actor)
        with self.uow(write=False) as session:
            customer = self._customer(session, customer_id)
            rows = session.scalars(select(Contact).where(Contact.customer_id == customer.id)
                                   .order_by(Contact.active.desc(), Contact.name, Contact.id))
            return {"customer": {"id": customer.id, "name": customer.name, "domains": list(customer.domains or []),
                                 "language": customer.language},
                    "contacts": [contact_dict(c) for c in rows]}

    def save_contact(self, *, actor: Actor, customer_id: int, name: str, email: str, phone: str | None = None,
                     language: str = "zh-CN", contact_id: int | None = None) -> dict[str, Any]:
        """Add a contact to a customer, or change one (`contact_id`); an address belongs to one contact only."""
        _check_role(actor)
        errors = rules.contact_errors(name=name, email=email, phone=phone, language=language)
        with self.uow() as session:
            customer = self._customer(session, customer_id)
            contact = self._contact(session, contact_id, customer.id) if contact_id is not None else None
            address = rules.normalize_address(email)
            other = rules.contact_by_email(session, address) if address else None
            if other is not None and other is not contact:
                owner = session.get(Customer, other.customer_id)
                errors.append({"field": "email", "message": "This e-mail address already belongs to another contact",
                               "value": f"{other.name} ({owner.name if owner else '?'})"})
            if errors:
                raise ValidationFailed("the contact has errors", errors)
            if contact is None:
                contact = Contact(customer_id=customer.id, created_at=self.clock.now(), active=True)
                session.add(contact)
            contact.name, contact.email, contact.language = name.strip(), address, language
            contact.phone = (phone or "").strip() or None
            session.flush()
            return contact_dict(contact)

    def set_contact_active(self, *, actor: Actor, contact_id: int, active: bool) -> dict[str, Any]:
        """Deactivate a contact (it no longer identifies the customer or signs in; its tickets keep it) or bring
        it back."""
        _check_role(actor)
        with self.uow() as session:
            contact = self._contact(session, contact_id, None)
            contact.active = active
            return contact_dict(contact)

    def set_domains(self, *, actor: Actor, customer_id: int, domains: str) -> list[str]:
        """Replace a customer's own e-mail domains; public providers and other customers' domains are refused."""
        _check_role(actor)
        parsed, errors = rules.parse_domains(domains)
        with self.uow() as session:
            customer = self._customer(session, customer_id)
            for domain in parsed:
                owner = rules.customer_by_domain(session, domain)
                if owner is not None and owner.id != customer.id:
                    errors.append({"field": "domains", "message": "This domain already belongs to another customer",
                                   "value": f"{domain} ({owner.name})"})
            if errors:
                raise ValidationFailed("the domains have errors", errors)
            customer.domains = parsed
            return parsed

    def _customer(self, session: Session, customer_id: int) -> Customer:
        customer = session.get(Customer, customer_id) if 0 < customer_id < 2**31 else None
        if customer is None or rules.is_placeholder(customer):  # nothing is matched to one, no contact added
            raise NotFound("no such customer", customer_id=customer_id)
        return customer

    def _contact(self, session: Session, contact_id: int, customer_id: int | None) -> Contact:
        contact = session.get(Contact, contact_id) if 0 < contact_id < 2**31 else None
        if contact is None or customer_id is not None and contact.customer_id != customer_id:
            raise NotFound("no such contact", contact_id=contact_id)
        return contact

    # --- matching a ticket from an unknown sender ---------------------------------------------------------------

    def match_choices(self, *, actor: Actor) -> list[dict[str, Any]]:
        """The customers a ticket can be matched to."""
        _check_role(actor)
        with self.uow(write=False) as session:
            return [{"id": c.id, "name": c.name} for c in repository.customers(session)
                    if not rules.is_placeholder(c)]

    def match_ticket(self, *, actor: Actor, ticket_id: int, customer_id: int, save_contact: bool = False,
                     language: str | None = None) -> dict[str, Any]:
        """Give a ticket from an unknown sender its customer: the customer's contract in force, tier and contract
        facts become the case's, as if it had been filed for that customer. Deadlines the SLA lookup set before the
        match (triage done on the placeholder) stay as they were. With `save_contact` the sender becomes a contact."""
        _check_role(actor)
        with self.uow() as session:
            ticket = session.get(Ticket, ticket_id) if 0 < ticket_id < 2**31 else None
            if ticket is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            instance = repository.lock_instance(session, ticket.instance_id) if ticket.instance_id else None
            session.refresh(ticket)
            if not rules.is_unmatched(session.get(Customer, ticket.customer_id)):
                raise Conflict("This ticket already has its customer.", ticket_id=ticket_id)
            if ticket.archive is not None or instance is None or instance.status != "running":
                raise Conflict("This ticket is closed; it can no longer be matched.", ticket_id=ticket_id)
            customer = self._customer(session, customer_id)
            contact = self._sender_contact(session, ticket, customer, save_contact, language)
            return self._rematch(session, actor, instance, ticket, customer, contact)

    def _sender_contact(self, session: Session, ticket: Ticket, customer: Customer, save: bool,
                        language: str | None) -> Contact | None:
        """The sender as a contact of `customer`: the one there is, or (with `save`) a new one."""
        contact = rules.contact_by_email(session, ticket.contact_email)
        if contact is not None:
            if contact.customer_id != customer.id:
                if save:
                    raise ValidationFailed("the sender is another customer's contact", [{
                        "field": "save_contact", "message": "This e-mail address already belongs to another contact"}])
                return None
            contact.active = contact.active or save
            return contact if contact.active else None
        if not save:
            return None
        errors = rules.contact_errors(name=ticket.contact_name, email=ticket.contact_email, phone=None,
                                      language=language or customer.language)
        if errors:
            raise ValidationFailed("the sender cannot be saved as a contact",
                                   [{**e, "field": "save_contact"} for e in errors])
        contact = Contact(customer_id=customer.id, name=ticket.contact_name.strip(),
                          email=rules.normalize_address(ticket.contact_email), phone=ticket.contact_phone,
                          language=language or customer.language, active=True, created_at=self.clock.now())
        session.add(contact)
        session.flush()
        return contact

    def _rematch(self, session: Session, actor: Actor, instance: Instance, ticket: Ticket, customer: Customer,
                 contact: Contact | None) -> dict[str, Any]:
        now = self.clock.now()
        contract = active_contract(session, customer.id, now.astimezone(SHANGHAI).date())
        facts = case_facts(contract, customer, now.astimezone(SHANGHAI).date())
        ticket.customer_id, ticket.contract_id, ticket.tier = customer.id, contract.id if contract else None, \
            facts["tier"]
        if contact is not None:
            ticket.contact_id = contact.id
            ticket.contact_phone = ticket.contact_phone or contact.phone
        effects = self.kernel.effects_for(ticket)
        wf = self.kernel.load_case(session, instance, effects)
        self.runtime.set_variables(wf, {"customer": customer.name, **facts})
        sla_kept = ticket.resolve_due is not None
        event(session, ticket, instance, now, "customer_matched", actor.name, {
            "customer": customer.name, "contract": facts["contract_number"], "tier": facts["tier"],
            "contact_saved": contact is not None, "sla_kept": sla_kept})
        self.kernel.save(session, self.kernel.ctx(actor), instance, ticket, wf, effects, [])
        return {"ticket_id": ticket.id, "customer": customer.name, "contract": facts["contract_number"],
                "tier": facts["tier"], "contact_id": ticket.contact_id, "sla_kept": sla_kept}

    # --- "my tickets": the contact's sign-in ------------------------------------------------------------------

    def request_sign_in(self, *, email: str) -> None:
        """E-mail a sign-in link to "my tickets" if `email` is an active contact's; silent either way, so nobody
        learns from the answer whether an address is known. A few links an hour per contact at most."""
        now = self.clock.now()
        with self.uow() as session:
            contact = rules.contact_by_email(session, email[:320])
            customer = session.get(Customer, contact.customer_id) if contact is not None else None
            if contact is None or not contact.active or customer is None or rules.is_placeholder(customer):
                return
            recent = session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.to_addr == contact.email, OutboxMessage.template == SIGN_IN_TEMPLATE,
                OutboxMessage.created_at > now - timedelta(hours=1)))
            if (recent or 0) >= SIGN_INS_PER_HOUR:
                return
            expires = (now + rules.SIGN_IN_VALID).replace(microsecond=0)
            # the token itself is not stored: the mailer derives it from the contact and the expiry (sign_in_link)
            outbox.enqueue(session, to_addr=contact.email, template=SIGN_IN_TEMPLATE, language=contact.language,
                           ticket_id=None, now=now, context={"contact_id": contact.id, "name": contact.name,
                                                             "customer": customer.name,
                                                             "expires_at": expires.isoformat()})

    def sign_in_token(self, *, contact_id: int, expires_at: str) -> str | None:
        """The token of a sign-in link the outbox holds (None once the contact is gone or inactive)."""
        with self.uow(write=False) as session:
            contact = session.get(Contact, contact_id)
            if contact is None or not contact.active:
                return None
            return rules.contact_token(self.settings.secret_key, "sign-in", contact,
                                       datetime.fromisoformat(expires_at))

    def sign_in(self, *, token: str) -> dict[str, Any]:
        """Check an e-mailed sign-in link; the session token (for a cookie) and the contact's language."""
        now = self.clock.now()
        with self.uow(write=False) as session:
            contact = rules.check_contact_token(session, self.settings.secret_key, "sign-in", token, now)
            session_token = rules.contact_token(self.settings.secret_key, "session", contact,
                                                now + rules.SESSION_VALID)
            return {"session": session_token, "language": contact.language,
                    "max_age": int(rules.SESSION_VALID.total_seconds())}

    def _my_contact(self, session: Session, token: str) -> tuple[Contact, Customer]:
        """The signed-in contact and its customer, or LinkError."""
        contact = rules.check_contact_token(session, self.settings.secret_key, "session", token, self.clock.now())
        customer = session.get(Customer, contact.customer_id)
        if customer is None or rules.is_placeholder(customer):
            raise NotFound("no such customer")
        return contact, customer

    def my_tickets(self, *, token: str) -> dict[str, Any]:
        """The signed-in contact, their organisation and its tickets."""
        with self.uow(write=False) as session:
            contact, customer = self._my_contact(session, token)
            tickets, more = self_service.organisation_tickets(session, customer.id)
            return {"contact": contact_dict(contact), "customer": customer.name, "tickets": tickets, "more": more}

    def my_ticket(self, *, token: str, ticket_id: int) -> dict[str, Any]:
        """One ticket of the signed-in contact's organisation (NotFound for any other ticket)."""
        with self.uow(write=False) as session:
            contact, customer = self._my_contact(session, token)
            ticket = self_service.visible_ticket(session, customer.id, ticket_id)
            if ticket is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            view = self_service.ticket_view(session, ticket, secret=self.settings.secret_key, now=self.clock.now())
            return {"contact": contact_dict(contact), "customer": customer.name, "ticket": view}

    def my_attachment(self, *, token: str, ticket_id: int, attachment_id: int) -> dict[str, Any]:
        """A file of one of the organisation's tickets, with its bytes; never one sent with an internal note."""
        with self.uow(write=False) as session:
            _contact, customer = self._my_contact(session, token)
            ticket = self_service.visible_ticket(session, customer.id, ticket_id)
            row = conversation.public_attachment(session, ticket.id, attachment_id) if ticket else None
            if row is None:
                raise NotFound("no such attachment", attachment_id=attachment_id)
            return attachment_dict(row, with_data=True)
