"""What customers do without an account: the portal, the status page, survey comments."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import links, repository
from ..errors import LinkError, NotFound, ValidationFailed
from ..kernel import Kernel
from ..models import Ticket, TimelineEvent
from ..portal import PORTAL, PUBLIC_EVENTS, public_event
from ..queries import iso
from .base import Service


class PortalService(Service):
    """What customers do without an account: the portal, the status page, survey comments."""

    def __init__(self, kernel: Kernel, *, list_customers: Callable[[], list[dict[str, Any]]],
                 create_ticket: Callable[..., dict[str, Any]]) -> None:
        super().__init__(kernel)
        self.list_customers = list_customers  # the people and cases services' verbs, handed over by the facade
        self.create_ticket = create_ticket

    def submit_from_portal(self, *, organization: str, contact_name: str, contact_email: str, title: str,
                           description: str, complaint: bool = False) -> dict[str, Any]:
        """A ticket from the public portal; the customer is found by its exact name, case-insensitively.

        A `complaint` skips triage and goes to the service manager's complaint procedure.
        """
        customer = next((c for c in self.list_customers()
                         if c["name"].casefold() == organization.strip().casefold()), None)
        if customer is None:
            raise ValidationFailed("unknown organization", [{
                "field": "organization",
                "message": "未找到该单位，请填写合同上的单位全称或致电服务台。"
                           "Organization not found: use the name on your contract, or call the service desk."}])
        created: dict[str, Any] = self.create_ticket(
            customer=customer["name"], contact_name=contact_name, contact_email=contact_email, channel="web",
            title=title, description=description, actor=PORTAL, category="complaint" if complaint else None)
        return {**created, "status_token": links.status_token(self.settings.secret_key, created["id"])}

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
                    "resolved_at": iso(ticket.resolved_at), "closed_at": iso(ticket.closed_at), "events": events}

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
