"""What customers do without an account: the portal, the status page, survey comments."""
from __future__ import annotations

import logging
from typing import Any

from .. import appends, contacts, idempotency, kb, links, repository, waiting
from ..errors import LinkError, NotFound, ValidationFailed
from ..kernel import MAIN_PROCESS
from ..models import Customer, Ticket, TimelineEvent
from ..portal import PORTAL, PUBLIC_EVENTS, public_event
from ..queries import iso
from ..ticket_fields import field_errors
from .base import Service

log = logging.getLogger("aftercare.portal")


class PortalService(Service):
    """What customers do without an account: the portal, the status page, survey comments."""

    def portal_repeat(self, *, contact_name: str, contact_email: str, title: str, description: str,
                      organization: str = "", contact_phone: str | None = None, complaint: bool = False,
                      idempotency_key: str | None = None) -> bool:
        """Whether this form was sent before and opened its ticket, by its key or by its words: sending it again
        creates nothing, so the portal does not count it against the sender's request limit."""
        request = [contact_name, contact_email, contact_phone, title, description, organization, complaint]
        keys = [_content_key(request), *([idempotency_key] if idempotency_key else [])]
        with self.uow(write=False) as session:
            return idempotency.seen(session, scope="portal", keys=keys, now=self.clock.now())

    def submit_from_portal(self, *, contact_name: str, contact_email: str, title: str, description: str,
                           organization: str = "", contact_phone: str | None = None, complaint: bool = False,
                           kb_visit: str | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """A ticket from the public portal, for the customer the sender's address identifies (a known contact, or
        the customer's own e-mail domain). From an address nobody knows, the request is still taken: it waits
        under the placeholder customer until the service desk matches it (`matched` False); the organisation
        typed is kept in the description for them. A `complaint` skips triage and goes to the complaint
        procedure. `kb_visit` is the knowledge-base visit the request was filed in, if any."""
        errors = field_errors(channel="web", contact_email=contact_email, title=title)
        phone = contacts.phone_error(contact_phone, "contact_phone")
        if phone:
            errors.append(phone)
        if errors:
            raise ValidationFailed("the request has errors", errors)
        with self.uow() as session:
            request = [contact_name, contact_email, contact_phone, title, description, organization, complaint]
            claim = idempotency.claim(session, scope="portal", key=idempotency_key, now=self.clock.now(),
                                      request=request)
            # the same words sent again with a new key (Back, then Send: the browser fetched a fresh form but kept
            # what was typed) are the same request too, within the keys' 24 hours
            same = idempotency.claim(session, scope="portal", now=self.clock.now(), request=request,
                                     key=_content_key(request))
            earlier = claim.earlier or same.earlier
            if earlier is not None:  # the same form sent twice (engine/idempotency.py): its first ticket
                first = earlier
                claim.opened(first)  # this new key, too, answers with the first ticket from now on
                return {"id": first.id, "number": first.number, "status": first.status, "replayed": True,
                        "matched": not contacts.is_unmatched(session.get(Customer, first.customer_id)),
                        "status_token": links.status_token(self.settings.secret_key, first.id)}
            customer, _contact = contacts.find_sender(session, contact_email)
            matched = customer is not None
            if customer is None:
                customer = contacts.unmatched_customer(session, self.clock.now())
                if organization.strip():
                    description = f"{description}\n\n[单位 Organisation: {organization.strip()[:200]}]"
            ticket = self.kernel.start_case(
                session, process_id=MAIN_PROCESS, customer=customer, contact_name=contact_name.strip(),
                contact_email=contact_email.strip(), channel="web", title=title.strip(), description=description,
                actor=PORTAL, extra={"category": "complaint" if complaint else None}, contact_phone=contact_phone)
            claim.opened(ticket)
            same.opened(ticket)
            if kb_visit:
                _mark_filed(session, kb_visit, ticket.id)
            return {"id": ticket.id, "number": ticket.number, "status": ticket.status, "matched": matched,
                    "status_token": links.status_token(self.settings.secret_key, ticket.id)}

    def status_token(self, *, ticket_id: int) -> str:
        """The token of a ticket's status page (for the acknowledgement e-mail)."""
        return links.status_token(self.settings.secret_key, ticket_id)

    def ticket_status(self, *, token: str) -> dict[str, Any]:
        """What a customer may see of a ticket behind its status link."""
        ticket_id = links.ticket_of_status_token(self.settings.secret_key, token)
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound("no such ticket")
            events = [public_event(e) for e in repository.timeline(session, ticket.id) if e.kind in PUBLIC_EVENTS]
            return {"number": ticket.number, "title": ticket.title, "status": ticket.status,
                    "created_at": iso(ticket.created_at), "resolve_due": iso(ticket.resolve_due),
                    "resolved_at": iso(ticket.resolved_at), "closed_at": iso(ticket.closed_at), "events": events,
                    **waiting.customer_view(session, ticket)}

    def add_survey_comment(self, *, token: str, comment: str) -> None:
        """An optional comment after a one-click score; allowed once, on a spent survey link that has not expired."""
        now = self.clock.now()
        with self.uow() as session:
            link: links.CustomerLink | None
            try:
                link = links.resolve(session, secret=self.settings.secret_key, token=token, now=now)
            except LinkError as exc:
                if exc.reason != "used":
                    raise
                link = session.get(links.CustomerLink, token.partition(".")[0])
            if link is None or link.used_at is None or link.task_bpmn_id != "satisfaction_survey":
                raise LinkError("invalid", "此链接不能用于留言。This link does not take comments.")
            if link.expires_at <= now:
                raise LinkError("expired", "此链接已过期。This link has expired.")
            repository.lock_instance(session, link.instance_id)  # one comment, even from two tabs at once
            if any(e.kind == "survey_comment" for e in repository.timeline(session, link.ticket_id or 0)):
                raise LinkError("used", "您已留言，谢谢！You have already left a comment, thank you!")
            session.add(TimelineEvent(ticket_id=link.ticket_id, instance_id=link.instance_id, at=now,
                                      kind="survey_comment", actor="customer", data={"comment": comment[:2000]}))


def _mark_filed(session: Any, visit: str, ticket_id: int) -> None:
    """Tell the knowledge base that a visit which read articles still filed a request; counting must never cost
    the customer their request, so a failure here is logged and the request stays. The request's own appended rows
    are written first, outside the savepoint, so a failure of theirs is the request's, not swallowed here."""
    appends.write(session)
    try:
        with session.begin_nested():
            kb.mark_filed(session, visit[:100], ticket_id)
    except Exception:
        log.exception("the knowledge base could not count visit %s", visit[:100])


def _content_key(request: list[Any]) -> str:
    """The key a portal request's words make (its fields, trimmed): the same words are the same request."""
    return "content:" + idempotency.fingerprint([s.strip() if isinstance(s, str) else s for s in request])
