"""The ticket's conversation: staff replies and internal notes, the customer's messages from the status page, and the
threading headers the mail sender puts on each e-mail (engine/conversation.py does the work)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from .. import conversation, links
from ..errors import Forbidden, LinkError, NotFound
from ..language import ticket_language
from ..models import Message, Ticket
from ..queries import ticket_brief
from ..users import Actor
from .base import Service

Files = Sequence[tuple[str, str | None, bytes]]
STAFF_SOURCES = ("web", "api")
DUPLICATE_WINDOW = timedelta(minutes=2)  # the same text posted twice this soon is one message (a double click)


class ConversationService(Service):
    """Replies, notes and customer messages on a ticket."""

    def post_message(self, *, ticket_id: int, body: str, internal: bool, actor: Actor, files: Files = (),
                     source: str = "web") -> dict[str, Any]:
        """A staff reply (e-mailed to the contact) or internal note, with files; any staff role may write."""
        if actor.kind != "staff":
            raise Forbidden("only staff write replies and notes")
        with self.uow() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            message = conversation.add_message(
                self.kernel, session, ticket, now=self.clock.now(), author=actor.name, author_kind="staff",
                body=body, internal=internal, source=source if source in STAFF_SOURCES else "web",
                attachments=files)
            return self._one(session, message)

    def customer_message(self, *, token: str, body: str, files: Files = ()) -> dict[str, Any]:
        """The customer's message from the status page (its token is the credential); the same text sent twice
        within two minutes is stored once."""
        ticket_id = links.ticket_of_status_token(self.settings.secret_key, token)
        now = self.clock.now()
        with self.uow() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound("no such ticket")
            text = (body or "").replace("\r\n", "\n").strip()
            twin = session.scalar(select(Message).where(
                Message.ticket_id == ticket.id, Message.author_kind == "customer", Message.body == text,
                Message.source == "status_page", Message.at >= now - DUPLICATE_WINDOW).limit(1))
            if twin is not None and text and not files:
                return self._one(session, twin)
            message = conversation.add_message(
                self.kernel, session, ticket, now=now, author=ticket.contact_name or ticket.contact_email,
                author_kind="customer", body=body, source="status_page", attachments=files)
            return self._one(session, message)

    def list_messages(self, *, ticket_id: int, actor: Actor) -> list[dict[str, Any]]:
        """The ticket's whole conversation for staff, internal notes included."""
        if actor.kind != "staff":
            raise Forbidden("only staff read internal notes")
        with self.uow(write=False) as session:
            if session.get(Ticket, ticket_id) is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            return conversation.messages(session, ticket_id, include_internal=True)

    def public_conversation(self, *, token: str) -> dict[str, Any]:
        """What the customer sees of the conversation behind a status token: the public messages, whether the
        ticket still takes messages, and a fresh form key for the reply form."""
        ticket_id = links.ticket_of_status_token(self.settings.secret_key, token)
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound("no such ticket")
            return {"ticket": ticket_brief(session, ticket),
                    "messages": conversation.messages(session, ticket.id, include_internal=False),
                    "open": conversation.accepts_messages(ticket),
                    "language": ticket_language(session, ticket),
                    "form_key": self.form_key(token=token)}

    def form_key(self, *, token: str) -> str:
        """A key for the status page's reply form: signed for this ticket and time, valid a day."""
        ticket_id = links.ticket_of_status_token(self.settings.secret_key, token)
        return conversation.form_key(self.settings.secret_key, ticket_id, self.clock.now())

    def check_form_key(self, *, token: str, key: str) -> None:
        """LinkError when the reply form's key is not this ticket's or is older than a day."""
        ticket_id = links.ticket_of_status_token(self.settings.secret_key, token)
        if not conversation.form_key_valid(self.settings.secret_key, ticket_id, key, self.clock.now()):
            raise LinkError("stale", "此页面已过期，请确认内容后重新发送。"
                                     "This page has expired; please check your message and send it again.")

    def customer_attachment(self, *, token: str, attachment_id: int) -> dict[str, Any]:
        """A file the customer may have (engine/conversation.py: public_attachment), with its bytes, for the customer
        behind the status token."""
        ticket_id = links.ticket_of_status_token(self.settings.secret_key, token)
        with self.uow(write=False) as session:
            row = conversation.public_attachment(session, ticket_id, attachment_id)
            if row is None:
                raise NotFound("no such file")
            return {"filename": row.filename, "content_type": row.content_type, "data": row.data}

    def _one(self, session: Any, message: Message) -> dict[str, Any]:
        return conversation.message_with_files(session, message)
