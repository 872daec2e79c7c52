"""Who wrote in: a sender's address is a known contact, or belongs to a customer's own e-mail domain, or is
unknown (the ticket then waits under the placeholder customer until the service desk matches it)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta

from sqlalchemy import String, cast, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import LinkError
from .models import Contact, Customer, Ticket
from .ticket_fields import is_address

UNMATCHED_CUSTOMER = "待匹配客户"
KB_CUSTOMER = "知识库 Knowledge base"  # the knowledge base's review cases belong to it (engine/kb.py: kb_customer)
PLACEHOLDERS = frozenset({UNMATCHED_CUSTOMER, KB_CUSTOMER})
# mail providers anyone can sign up with: an address there says nothing about the organisation behind it
PUBLIC_DOMAINS = frozenset({
    "qq.com", "vip.qq.com", "foxmail.com", "163.com", "vip.163.com", "126.com", "yeah.net", "188.com",
    "sina.com", "sina.cn", "vip.sina.com", "sohu.com", "139.com", "189.cn", "wo.cn", "aliyun.com", "21cn.com",
    "tom.com", "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "live.cn", "msn.com",
    "yahoo.com", "yahoo.com.cn", "yahoo.cn", "icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com",
    "aol.com", "mail.com", "gmx.com", "gmx.net", "yandex.com", "zoho.com",
})


def normalize_address(address: str) -> str:
    """An address as stored and compared: trimmed, without angle brackets, lower-case."""
    return address.strip().strip("<>").strip().lower()


def domain_of(address: str) -> str:
    """The domain part of an address, lower-case ('' when there is none)."""
    local, at, domain = normalize_address(address).rpartition("@")
    return domain.rstrip(".") if at and local else ""


def is_public_domain(domain: str) -> bool:
    """True for a public mail provider's domain, which never identifies a customer."""
    return domain.lower().rstrip(".") in PUBLIC_DOMAINS


def contact_by_email(session: Session, address: str) -> Contact | None:
    """The contact with this address, active or not."""
    email = normalize_address(address)
    return session.scalar(select(Contact).where(Contact.email == email)) if email else None


def customer_by_domain(session: Session, domain: str) -> Customer | None:
    """The customer whose own e-mail domains hold `domain` (never for a public provider, nor the placeholder)."""
    domain = domain.lower().rstrip(".")
    if not domain or is_public_domain(domain):
        return None
    # the JSON list's text narrows the rows on both databases; the exact match is checked here
    rows = session.scalars(select(Customer).where(cast(Customer.domains, String).contains(f'"{domain}"'))
                           .order_by(Customer.id))
    return next((c for c in rows if not is_placeholder(c)
                 and domain in {str(d).lower() for d in (c.domains or [])}), None)


def find_sender(session: Session, address: str) -> tuple[Customer | None, Contact | None]:
    """A known active contact and its customer; else the customer whose `domains` hold the address's domain or a
    parent of it (contact None); else (None, None). Addresses are compared lower-case; public mail domains (and
    their subdomains) never match."""
    contact = contact_by_email(session, address)
    if contact is not None and contact.active:
        customer = session.get(Customer, contact.customer_id)
        if customer is not None and not is_placeholder(customer):
            return customer, contact
    labels = domain_of(address).split(".")
    parents = [".".join(labels[i:]) for i in range(len(labels) - 1)]  # it.east-grid.example, then east-grid.example
    if any(is_public_domain(d) for d in parents):
        return None, None
    for domain in parents:
        customer = customer_by_domain(session, domain)
        if customer is not None:
            return customer, None
    return None, None


def unmatched_customer(session: Session, now: datetime) -> Customer:
    """The placeholder customer "待匹配客户" that tickets from unknown senders belong to until the service desk
    matches them to a real customer; made on first use."""
    query = select(Customer).where(Customer.name == UNMATCHED_CUSTOMER)
    customer = session.scalar(query)
    if customer is not None:
        return customer
    try:
        with session.begin_nested():  # two first uses at once: one inserts, the other finds it
            customer = Customer(name=UNMATCHED_CUSTOMER, tier="standard", email=None, language="zh-CN",
                                domains=[], created_at=now)
            session.add(customer)
    except IntegrityError:
        customer = session.scalar(query)
        if customer is None:
            raise
    return customer


def is_unmatched(customer: Customer | None) -> bool:
    """True for the placeholder customer of tickets still to be matched."""
    return customer is not None and customer.name == UNMATCHED_CUSTOMER


def is_placeholder(customer: Customer | None) -> bool:
    """True for a customer that is no real organisation: "待匹配客户" (tickets still to be matched) and the
    knowledge base's own. Never listed or offered as a choice; no ticket is matched to one, no contact added to it."""
    return customer is not None and customer.name in PLACEHOLDERS


# --- checking what staff type for a contact or a customer's domains -------------------------------------------

LANGUAGES = ("zh-CN", "en")
_PHONE = re.compile(r"^\+?[0-9()\-\s.]{3,40}(\s*(转|ext\.?|x|#)\s*[0-9]{1,8})?$", re.IGNORECASE)
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


def phone_error(phone: str | None, field: str = "phone") -> dict[str, str] | None:
    """The error of a phone number as typed (digits, spaces, + - ( ) . and an extension such as 转 801), if any."""
    text = (phone or "").strip()
    if not text:
        return None
    if len(text) > 50 or not _PHONE.match(text) or sum(c.isdigit() for c in text) < 5:
        return {"field": field, "message": "Not a phone number (digits, spaces, + - ( ) and an extension)"}
    return None


def contact_errors(*, name: str, email: str, phone: str | None, language: str) -> list[dict[str, str]]:
    """One {field, message} per field a contact cannot have (English messages; the pages translate them)."""
    errors = []
    if not name.strip():
        errors.append({"field": "name", "message": "This field is required"})
    elif len(name.strip()) > 200:
        errors.append({"field": "name", "message": "At most 200 characters"})
    if not is_address(email.strip()) or len(email.strip()) > 320:
        errors.append({"field": "email", "message": "Not an e-mail address"})
    error = phone_error(phone)
    if error:
        errors.append(error)
    if language not in LANGUAGES:
        errors.append({"field": "language", "message": "Choose Chinese or English"})
    return errors


def parse_domains(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """A customer's e-mail domains from what staff typed (commas, spaces or lines between them; '@' allowed),
    lower-case and without duplicates, and the errors: not a domain, or a public mail provider's."""
    domains: list[str] = []
    errors = []
    for part in re.split(r"[\s,;，；]+", text.lower()):
        domain = part.strip().lstrip("@").rstrip(".")
        if not domain or domain in domains:
            continue
        if not _DOMAIN.match(domain):
            errors.append({"field": "domains", "message": "Not a domain name", "value": domain[:60]})
        elif is_public_domain(domain):
            errors.append({"field": "domains", "message": "A public mail provider cannot identify a customer",
                           "value": domain})
        else:
            domains.append(domain)
    if len(domains) > 20:
        errors.append({"field": "domains", "message": "At most 20 domains"})
    return domains, errors


# --- the signed sign-in link to "my tickets" and the session it opens -----------------------------------------

SIGN_IN_VALID = timedelta(hours=24)
SESSION_VALID = timedelta(hours=12)


def _signature(secret: str, purpose: str, contact_id: int, expires: int, email: str) -> str:
    # the address is signed too: a link sent to an address no longer works once the contact's address changes
    message = f"{purpose}|{contact_id}|{expires}|{normalize_address(email)}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def contact_token(secret: str, purpose: str, contact: Contact, expires: datetime) -> str:
    """A token for `purpose` ("sign-in": the e-mailed link; "session": the cookie it sets) valid until `expires`."""
    stamp = int(expires.timestamp())
    return f"{contact.id}.{stamp}.{_signature(secret, purpose, contact.id, stamp, contact.email)}"


def check_contact_token(session: Session, secret: str, purpose: str, token: str, now: datetime) -> Contact:
    """The active contact behind a token, or LinkError: "invalid" (mistyped, altered, or the contact was
    deactivated) or "expired"."""
    parts = token.split(".") if token.isascii() and len(token) < 200 else []
    contact = None
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and len(parts[0]) < 10:
        contact = session.get(Contact, int(parts[0]))
    if contact is None or not contact.active or not hmac.compare_digest(
            parts[2], _signature(secret, purpose, contact.id, int(parts[1]), contact.email)):
        raise LinkError("invalid", "This link is not valid. It may have been mistyped or altered.")
    if int(parts[1]) <= now.timestamp():
        raise LinkError("expired", "This link has expired.")
    return contact


def attach_contact(session: Session, ticket: Ticket, phone: str | None = None) -> Contact | None:
    """Remember who a new ticket is from: the active contact of the ticket's customer with the ticket's address
    (else none), and the phone number as given, else the contact's."""
    contact = contact_by_email(session, ticket.contact_email)
    if contact is not None and (not contact.active or contact.customer_id != ticket.customer_id):
        contact = None
    ticket.contact_id = contact.id if contact is not None else None
    ticket.contact_phone = (phone or "").strip()[:50] or (contact.phone if contact is not None else None) or None
    return contact
