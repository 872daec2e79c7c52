"""The language a customer is written to in: the ticket's contact's, else the customer's (zh-CN or en)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from . import rows
from .models import Contact, Customer, Ticket

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"


def ticket_language(session: Session, ticket: Ticket | None) -> str:
    """The language of the ticket's customer pages and e-mails: the contact's when the ticket names a contact,
    else the customer's, else Chinese."""
    if ticket is None:
        return DEFAULT
    language = rows.value(session, Contact.language, ticket.contact_id) if ticket.contact_id else None
    if language is None:
        language = rows.value(session, Customer.language, ticket.customer_id)
    return language if language in LANGUAGES else DEFAULT
