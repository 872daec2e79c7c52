"""Customer links: signed, expiring, single-use tokens bound to one task; only their hash is stored."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from . import rows
from .errors import LinkError
from .models import Customer, CustomerLink, HumanTask, Instance, Ticket


def _sign(secret: str, link: CustomerLink) -> str:
    message = f"{link.id}|{link.task_id}|{link.expires_at.timestamp():.0f}|{link.salt}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


# what a link's token is made of, read for each e-mail that carries one
_SIGNING = select(CustomerLink.id, CustomerLink.task_id, CustomerLink.expires_at, CustomerLink.salt).where(
    CustomerLink.id == bindparam("link_id"))


def signing_facts(session: Session, link_id: int) -> Any:
    """The columns of link `link_id` its token is made of (as `token_for` takes them), None when it is gone."""
    found = rows.read(session, _SIGNING, {"link_id": link_id})
    return found[0] if found else None


def token_for(secret: str, link: CustomerLink) -> str:
    """The token of a link; derivable only with the secret key, so the outbox never stores it."""
    return f"{link.id}.{_sign(secret, link)}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, *, secret: str, instance_id: int, ticket_id: int | None, task_id: str,
           task_bpmn_id: str, now: datetime, valid_days: int, task_due: datetime | None = None) -> CustomerLink:
    """A new link for one READY customer task; it outlives the task's own deadline (holidays stretch it). Its row is
    written at once (engine/rows.py); the object returned is not in the session."""
    expires = max(now + timedelta(days=valid_days), (task_due or now) + timedelta(days=1))
    values = {"id": secrets.token_hex(8), "salt": secrets.token_hex(8), "instance_id": instance_id,
              "ticket_id": ticket_id, "task_id": task_id, "task_bpmn_id": task_bpmn_id,
              "expires_at": expires.replace(microsecond=0), "used_at": None, "created_at": now}
    link = CustomerLink(**values, token_hash="")
    values["token_hash"] = link.token_hash = _hash(token_for(secret, link))
    rows.insert_row(session, CustomerLink, values)
    return link


def for_task(session: Session, task_id: str) -> CustomerLink | None:
    """The link issued for a task, if any."""
    return session.scalar(select(CustomerLink).where(CustomerLink.task_id == task_id))


_UNUSED_OF_TICKET = (select(CustomerLink.id).join(HumanTask, HumanTask.id == CustomerLink.task_id)
                     .where(HumanTask.ticket_id == bindparam("ticket_id"), HumanTask.state == "open",
                            HumanTask.role == bindparam("role"), CustomerLink.used_at.is_(None))
                     .order_by(HumanTask.created_at, HumanTask.id).limit(1))  # built once: a notice's every step


def unused_of_ticket(session: Session, ticket_id: int, role: str) -> str | None:
    """The id of the unused link of the ticket's oldest open task in `role` (the customer's lane) that has one."""
    return session.scalar(_UNUSED_OF_TICKET, {"ticket_id": ticket_id, "role": role})


def resolve(session: Session, *, secret: str, token: str, now: datetime) -> CustomerLink:
    """The link behind `token`, or LinkError saying why it cannot be used."""
    link_id = _link_id(token)
    return _usable(session.get(CustomerLink, link_id) if link_id else None, secret, token, now)


# what a link's page shows comes with the link: its task, ticket, case and customer in one statement
_WITH_CASE = (select(CustomerLink, HumanTask, Ticket, Instance, Customer)
              .outerjoin(HumanTask, HumanTask.id == CustomerLink.task_id)
              .outerjoin(Ticket, Ticket.id == CustomerLink.ticket_id)
              .outerjoin(Instance, Instance.id == CustomerLink.instance_id)
              .outerjoin(Customer, Customer.id == Ticket.customer_id)
              .where(CustomerLink.id == bindparam("link_id")))


def resolve_with_case(session: Session, *, secret: str, token: str,
                      now: datetime) -> tuple[CustomerLink, HumanTask | None, Ticket | None, Instance | None]:
    """`resolve`, with the link's task, ticket and case (None where gone), its customer put in the session too."""
    link_id = _link_id(token)
    found = rows.load(session, _WITH_CASE, {"link_id": link_id}) if link_id else []
    link, task, ticket, instance, _customer = found[0] if found else (None, None, None, None, None)
    return _usable(link, secret, token, now), task, ticket, instance


def _link_id(token: str) -> str | None:
    """The link id a well-formed token names (None: not a token of ours)."""
    link_id, _, signature = token.partition(".")
    return link_id if link_id and signature and token.isascii() else None


def _usable(link: CustomerLink | None, secret: str, token: str, now: datetime) -> CustomerLink:
    if link is None or not hmac.compare_digest(token.partition(".")[2], _sign(secret, link)) \
            or not hmac.compare_digest(link.token_hash, _hash(token)):
        raise LinkError("invalid", "此链接无效，可能被误输入或篡改。"
                                   "This link is not valid. It may have been mistyped or altered.")
    if link.used_at is not None:
        raise LinkError("used", "此链接已使用过。This link has already been used.")
    if link.expires_at <= now:
        raise LinkError("expired", "此链接已过期，请联系服务台。"
                                   "This link has expired. Please contact the service desk.")
    return link


def status_token(secret: str, ticket_id: int) -> str:
    """A link token that lets a customer follow one ticket's status (read-only, no expiry)."""
    digest = hmac.new(secret.encode(), f"status|{ticket_id}".encode(), hashlib.sha256).digest()
    return f"{ticket_id}.{base64.urlsafe_b64encode(digest[:18]).decode().rstrip('=')}"


def ticket_of_status_token(secret: str, token: str) -> int:
    """The ticket id behind a status token, or LinkError."""
    ticket_id, _, _sig = token.partition(".")
    if not (token.isascii() and ticket_id.isdigit()) or not hmac.compare_digest(
            token, status_token(secret, int(ticket_id))):
        raise LinkError("invalid", "此链接无效，可能被误输入或篡改。"
                                   "This link is not valid. It may have been mistyped or altered.")
    return int(ticket_id)
