"""The language a customer is written to in: the ticket's contact's, else the customer's (zh-CN or en)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from .models import Contact, Customer, Ticket

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"


def ticket_language(session: Session, ticket: Ticket | None) -> str:
    """The language of the ticket's customer pages and e-mails: the contact's when the ticket names a contact,
    else the customer's, else Chinese."""
    if ticket is None:
        return DEFAULT
    person: Contact | Customer | None = session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    if person is None:
        person = session.get(Customer, ticket.customer_id)
    language = person.language if person is not None else DEFAULT
    return language if language in LANGUAGES else DEFAULT
