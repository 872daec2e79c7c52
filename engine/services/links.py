"""Customer links: what a signed e-mail link shows, and completing the customer's step behind it."""
from __future__ import annotations

from typing import Any

from .. import conversation, incidents, links, repository, waiting
from ..errors import Conflict
from ..inspections import customer_report
from ..queries import quote_offer, task_dict, ticket_brief
from ..users import Actor
from .base import Service

SURVEY = "satisfaction_survey"


class CustomerLinkService(Service):
    """Customers act without an account, through single-use links bound to one task."""

    def open_link(self, *, token: str) -> dict[str, Any]:
        """What a customer link shows: the task, its form and the ticket; LinkError when unusable."""
        with self.uow(write=False) as session:
            link, row, ticket, instance = links.resolve_with_case(session, secret=self.settings.secret_key,
                                                                  token=token, now=self.clock.now())
            if row is None or row.state != "open":
                raise _link_closed()
            schema = self.kernel.form(session, instance.version_id, row.form_key) if instance else {}
            events = repository.timeline(session, ticket.id) if ticket else []
            quote = quote_offer(events) if "quote_decision" in schema.get("properties", {}) else None
            key = conversation.form_key(self.settings.secret_key, link.ticket_id or 0, self.clock.now())
            return {"task": task_dict(row), "form": schema, "ticket": ticket_brief(session, ticket) if ticket else None,
                    "form_key": key, "parked": instance is not None and instance.status == incidents.INCIDENT,
                    "expires_at": link.expires_at.isoformat(), "quote": quote,
                    "work": [] if quote else _work_done(events),
                    "report": customer_report(session, ticket) if ticket else None,
                    "question": waiting.open_question(events) if waiting.is_answer_step(row) else None}

    def complete_by_link(self, *, token: str, data: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        """Complete the customer's task behind a link; the link is spent only if the task completes. From a web page
        (`key` given), a survey's score counts only with the key that page carried (open_link's `form_key`), so
        a link scanner fetching the e-mail's score link records nothing.

        When the case's diagram code fails, nothing is recorded (the link stays unspent), the case is parked as an
        incident naming the customer's attempt, and CaseParked is raised; while it is parked, CaseIsParked."""
        with incidents.parks_on_failure(self.uow, self.clock.now) as case, self.uow() as session:
            now = self.clock.now()
            link = links.resolve(session, secret=self.settings.secret_key, token=token, now=now)
            if key is not None and link.task_bpmn_id == SURVEY and not conversation.form_key_valid(
                    self.settings.secret_key, link.ticket_id or 0, key or "", now):
                raise links.LinkError("stale", "此页面已过期，请重新打开邮件中的链接。"
                                               "This page has expired; please open the link in the e-mail again.")
            row, locked = self.kernel.lock_task(session, link.task_id)  # the case locked, as a staff completion does
            if row is None or locked is None or row.state != "open":
                raise _link_closed()
            ticket = locked.ticket
            actor = Actor(ticket.contact_name if ticket else "customer", "customer", "customer")
            incidents.refuse_if_parked(session, row.instance_id)
            case.instance_id, case.ticket_id = row.instance_id, row.ticket_id
            case.attempt = incidents.customer_attempt(row.id, row.bpmn_id, row.title, data)
            try:
                result = self.kernel.complete(session, row, data, actor, locked)
            except Conflict:
                raise _link_closed() from None
            link.used_at = now
            if waiting.is_answer_step(row) and ticket is not None:
                waiting.answered_by_link(self.kernel, session, ticket, data)
            return result

# What the customer's acceptance and confirmation pages show of the work; a complaint's findings and corrective
# action stay the service manager's internal record (the customer reads the answer written for them).
_WORK_FIELDS = {"answer": "答复 Answer", "assessment_answer": "评估答复 Our assessment",
                "resolution": "处理措施 Resolution", "root_cause": "原因 Root cause",
                "preventive_action": "预防措施 Preventive action", "release_version": "发布版本 Version"}


def _work_done(events: Any) -> list[tuple[str, str]]:
    """What staff told the customer they did: the latest value of each customer-facing field."""
    latest: dict[str, str] = {}
    for e in events:
        if e.kind == "task_completed":
            latest.update({k: str(v) for k, v in (e.data.get("data") or {}).items() if k in _WORK_FIELDS and v})
    return [(label, latest[key]) for key, label in _WORK_FIELDS.items() if key in latest]


def _link_closed() -> links.LinkError:
    return links.LinkError("closed", "此步骤已完成，无需再次操作。"
                                     "This step is already done; nothing more is needed from this link.")
