"""Finding and overseeing tickets: search, the ticket list and its export, and the lists users keep by name."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select

from .. import search
from ..errors import NotFound, ValidationFailed
from ..models import Customer, SavedView, Ticket
from ..ticket_list import (
    ALL_CHANNELS,
    CATEGORIES,
    EXPORT_CAP,
    STATES,
    TicketPage,
    TicketQuery,
    list_tickets,
    parse_query,
)
from ..users import Actor
from .base import Service

MAX_VIEWS = 50


class TicketListService(Service):
    """Search, the ticket list, its export and saved views; every staff role sees every ticket."""

    def parse_query(self, *, params: dict[str, str], strict: bool = False) -> tuple[TicketQuery, list[Any]]:
        """A list query from address values; `strict` refuses bad values (422 naming the fields)."""
        query, errors = parse_query(params)
        if strict and errors:
            raise ValidationFailed("the query has errors", errors)
        return query, errors

    def list_tickets(self, *, query: TicketQuery, actor: Actor, exact: bool = False) -> TicketPage:
        """One page of the tickets `query` asks for; the total stops at the page's cap unless `exact`."""
        with self.uow(write=False) as session:
            return list_tickets(session, query, self.clock.now(), exact=exact)

    def export_tickets(self, *, query: TicketQuery, actor: Actor) -> TicketPage:
        """Every ticket of the list, all pages, up to EXPORT_CAP rows (total tells whether more matched)."""
        with self.uow(write=False) as session:
            whole = TicketQuery(**{**vars(query), "page": 1, "per_page": EXPORT_CAP})
            return list_tickets(session, whole, self.clock.now(), exact=True)

    def ticket_by_number(self, *, number: str) -> int:
        """The id of the ticket numbered `number` (AC-2026-000003), any case."""
        condition = search.number_filter(number)
        with self.uow(write=False) as session:
            ticket_id = session.scalar(select(Ticket.id).where(condition)) if condition is not None else None
        if ticket_id is None:
            raise NotFound("no such ticket", number=number[:40])
        return int(ticket_id)

    def find_number(self, *, q: str) -> int | None:
        """The ticket id when `q` is a whole ticket number that exists (the search box opens it), else None."""
        try:
            return self.ticket_by_number(number=q) if search.number_filter(q) is not None else None
        except NotFound:
            return None

    def list_choices(self, *, actor: Actor) -> dict[str, Any]:
        """What the list's filters offer."""
        with self.uow(write=False) as session:
            customers = list(session.scalars(select(Customer.name).order_by(Customer.name)))
        return {"states": STATES, "categories": CATEGORIES, "channels": ALL_CHANNELS, "customers": customers,
                "views": self.saved_views(actor=actor)}

    def saved_views(self, *, actor: Actor) -> list[dict[str, Any]]:
        """The actor's saved ticket lists, by name."""
        with self.uow(write=False) as session:
            rows = session.scalars(select(SavedView).where(SavedView.username == actor.name).order_by(SavedView.name))
            return [{"id": v.id, "name": v.name, "query": v.query} for v in rows]

    def save_view(self, *, actor: Actor, name: str, query: str) -> dict[str, Any]:
        """Keep the list `query` (an address query string) under `name`; the same name is replaced."""
        name, query = name.strip(), _clean_query(query)
        if not name or len(name) > 100:
            raise ValidationFailed("a view needs a name", [{"field": "name", "message": "1 to 100 characters"}])
        with self.uow() as session:
            view = session.scalar(select(SavedView).where(SavedView.username == actor.name, SavedView.name == name))
            if view is None:
                count = len(list(session.scalars(select(SavedView.id).where(SavedView.username == actor.name))))
                if count >= MAX_VIEWS:
                    raise ValidationFailed("too many saved views",
                                           [{"field": "name", "message": f"at most {MAX_VIEWS}"}])
                view = SavedView(username=actor.name, name=name, query=query, created_at=self.clock.now())
                session.add(view)
            view.query = query
            session.flush()
            return {"id": view.id, "name": view.name, "query": view.query}

    def delete_view(self, *, actor: Actor, view_id: int) -> None:
        """Forget one of the actor's saved views."""
        with self.uow() as session:
            view = session.get(SavedView, view_id) if 0 < view_id < 2**31 else None
            if view is None or view.username != actor.name:
                raise NotFound("no such view", view_id=view_id)
            session.delete(view)


def _clean_query(query: str) -> str:
    """The list's query string without paging (a view opens at page 1), at most 2000 characters."""
    pairs = [(k, v) for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=False) if k != "page" and v]
    text = urlencode(pairs)
    if len(text) > 2000:
        raise ValidationFailed("the view is too long", [{"field": "query", "message": "at most 2000 characters"}])
    return text
