"""Inbound e-mail: what the support mailbox forwards becomes a customer's message on its ticket, a new ticket, or
a line in the inbound log, each message in one unit of work and each Message-ID once."""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import contacts, conversation, inbound
from ..attachments import MAX_BYTES
from ..errors import Forbidden, ValidationFailed
from ..kernel import MAIN_PROCESS
from ..models import Attachment, InboundMail, OutboxMessage, Ticket, TimelineEvent
from ..ticket_fields import field_errors
from ..users import Actor
from .base import Service

log = logging.getLogger("aftercare.inbound")
MAIL_IN = Actor("e-mail", "customer", "customer")
LOG_READERS = ("service_desk", "manager", "admin")
OUTCOMES = ("reply", "note", "new_ticket", "unmatched", "auto_reply", "bounce", "loop", "refused")
MAX_REFERENCES = 20  # a long thread's newest ids are enough


class InboundService(Service):
    """Reads what the mail-in listener received; the listener maps the outcome to its SMTP reply."""

    def receive_mail(self, raw: bytes, *, peer: str = "", mail_from: str | None = None,
                     rcpt_tos: Sequence[str] = ()) -> dict[str, Any]:
        """Handle one delivered message; {"outcome", "reason", "ticket_id", "ticket_number", "duplicate"}.

        outcome: reply (a customer message on its ticket), note (an internal note: the sender is not the
        ticket's customer), new_ticket, unmatched (a new ticket under the placeholder customer), auto_reply,
        bounce, loop (logged, nothing else), refused (too large or malformed: the SMTP reply is an error).
        `mail_from` is the SMTP envelope sender ("" for a bounce's null sender; None when unknown).
        """
        log.info("mail from %s (envelope %r) to %s, %d bytes", peer, mail_from, ",".join(rcpt_tos), len(raw))
        if len(raw) > self.settings.mail_in_max_bytes:
            return self.refuse_mail(from_addr=mail_from or "", size=len(raw), reason="too_large")
        try:
            mail = inbound.parse(raw)
        except inbound.MalformedMail as exc:
            return self.refuse_mail(from_addr=mail_from or "", size=len(raw), reason=f"malformed: {exc.reason}")
        too_big = [name for name, _type, data in mail.attachments if len(data) > MAX_BYTES]
        if too_big:
            return self.refuse_mail(from_addr=mail.from_addr, subject=mail.subject, size=len(raw),
                                    reason=f"too_large: attachment {too_big[0]} is over 10 MB")
        try:
            with self.uow() as session:
                return self._handle(session, mail, size=len(raw), envelope_from=mail_from)
        except IntegrityError:  # the same Message-ID delivered twice at once: the other delivery stored it
            with self.uow(write=False) as session:
                row = session.scalar(select(InboundMail).where(InboundMail.message_id == mail.message_id))
                if row is None:
                    raise
                return _result(session, row, duplicate=True)
        except ValidationFailed as exc:  # a mail no ticket can be made of: say so to the sender, keep a line
            return self.refuse_mail(from_addr=mail.from_addr, subject=mail.subject, size=len(raw),
                                    reason=f"invalid: {exc.message}")

    def refuse_mail(self, *, from_addr: str, size: int, reason: str, subject: str = "") -> dict[str, Any]:
        """Log a message the listener refused (too large, malformed): nothing of it is stored but this line."""
        with self.uow() as session:
            row = InboundMail(message_id=None, from_addr=from_addr.strip("<>")[:320], subject=subject[:500],
                              size=size, outcome="refused", reason=reason[:2000], received_at=self.clock.now())
            session.add(row)
            session.flush()
            return _result(session, row)

    def list_inbound_mail(self, *, actor: Actor, outcome: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest lines of the inbound log, newest first, optionally of one outcome (service desk and up)."""
        if actor.kind != "staff" or actor.role not in LOG_READERS:
            raise Forbidden("Only the service desk, managers and admins may read the inbound mail log.")
        if outcome is not None and outcome not in OUTCOMES:
            raise ValidationFailed("unknown outcome", [{"field": "outcome",
                                                        "message": f"Must be one of {', '.join(OUTCOMES)}"}])
        query = (select(InboundMail, Ticket.number).outerjoin(Ticket, Ticket.id == InboundMail.ticket_id)
                 .order_by(InboundMail.received_at.desc(), InboundMail.id.desc()).limit(max(1, min(limit, 1000))))
        if outcome:
            query = query.where(InboundMail.outcome == outcome)
        with self.uow(write=False) as session:
            return [_row_dict(row, number) for row, number in session.execute(query)]

    def _handle(self, session: Session, mail: inbound.ParsedMail, *, size: int,
                envelope_from: str | None) -> dict[str, Any]:
        existing = session.scalar(select(InboundMail).where(InboundMail.message_id == mail.message_id))
        if existing is not None:  # a retried delivery: accepted again, handled once
            return _result(session, existing, duplicate=True)
        now = self.clock.now()
        row = InboundMail(message_id=mail.message_id, from_addr=mail.from_addr, subject=mail.subject, size=size,
                          outcome="received", received_at=now)
        session.add(row)
        session.flush()  # takes the Message-ID first: a concurrent delivery of it waits here, then fails
        own = (parseaddr(self.settings.smtp_from)[1].lower(),)
        skipped = inbound.skip_reason(mail, envelope_from=envelope_from, own_addresses=own,
                                      ours=conversation.is_ours(self.settings, mail.message_id))
        if skipped is not None:
            row.outcome, row.reason = skipped
            thread = self._thread(session, mail)
            row.ticket_id = thread.id if thread is not None else None
            log.info("inbound %s not handled: %s (%s)", mail.message_id, *skipped)
        else:
            ticket = self._thread(session, mail)
            if ticket is not None and conversation.accepts_messages(ticket):
                row.outcome, row.reason, row.ticket_id = self._reply(session, ticket, mail, now)
            else:
                row.outcome, row.reason, row.ticket_id = self._open(session, mail, now, follows=ticket)
        session.flush()
        return _result(session, row)

    def _thread(self, session: Session, mail: inbound.ParsedMail) -> Ticket | None:
        """The ticket a mail answers: by its In-Reply-To/References, then by a ticket number in its subject."""
        for ref in mail.references[:MAX_REFERENCES]:  # the newest reference that names a ticket wins
            ticket_id = conversation.ticket_id_of_reference(session, self.settings, ref) \
                or session.scalar(select(InboundMail.ticket_id).where(InboundMail.message_id == ref)) \
                or next(iter(session.scalars(select(OutboxMessage.ticket_id).where(
                    OutboxMessage.id.in_(inbound.outbox_ids([ref])), OutboxMessage.ticket_id.is_not(None)))), None)
            if ticket_id:
                return session.get(Ticket, ticket_id)
        for number in inbound.ticket_numbers(mail.subject):
            ticket = session.scalar(select(Ticket).where(Ticket.number == number))
            if ticket is not None:
                return ticket
        return None

    def _reply(self, session: Session, ticket: Ticket, mail: inbound.ParsedMail,
               now: datetime) -> tuple[str, str | None, int]:
        body = inbound.strip_quoted(mail.text) or _no_text(mail)
        files, extra = mail.attachments[:conversation.MAX_FILES], mail.attachments[conversation.MAX_FILES:]
        if extra:  # a message carries at most MAX_FILES; the rest stay on the ticket, nothing is dropped
            body += f"\n\n（另有 {len(extra)} 个附件见工单附件）" \
                    f"({len(extra)} more files are in the ticket's attachments)"
        kept_with: int | None = None  # the customer's files beyond MAX_FILES are the ticket's own (still theirs to see)
        if self._speaks_for_customer(session, ticket, mail.from_addr):
            conversation.add_message(self.kernel, session, ticket, now=now, author=_author(mail),
                                     author_kind="customer", body=conversation.trim_body(body), source="email",
                                     email_message_id=mail.message_id, attachments=files)
            outcome, reason = "reply", None
        else:
            # Someone else wrote on the ticket's thread (a colleague at a public mail address, another customer, a
            # staff member answering a notice): staff should read it, but it must not speak for the customer (answer
            # a question, resume the clock, show on the status page), so it becomes an internal note saying who.
            note = f"来自非本单客户联系人 {_author(mail)} 的邮件 E-mail from {mail.from_addr}, " \
                   f"who is not a contact of this ticket's customer:\n\n{body}"
            kept_with = conversation.add_message(
                self.kernel, session, ticket, now=now, author=mail.from_addr, author_kind="system",
                body=conversation.trim_body(note), internal=True, source="email", email_message_id=mail.message_id,
                attachments=files).id  # and the files beyond MAX_FILES: a note's files stay internal
            outcome, reason = "note", f"sender {mail.from_addr} is not a contact of the ticket's customer"
        for filename, content_type, data in extra:
            _store_attachment(session, ticket, filename, content_type, data, uploaded_by=mail.from_addr, now=now,
                              message_id=kept_with)
        return outcome, reason, ticket.id

    def _speaks_for_customer(self, session: Session, ticket: Ticket, address: str) -> bool:
        """The ticket's contact, or a contact (or an address on an own domain) of the ticket's customer."""
        if contacts.normalize_address(ticket.contact_email or "") == address:
            return True
        customer, _contact = contacts.find_sender(session, address)
        return customer is not None and customer.id == ticket.customer_id

    def _open(self, session: Session, mail: inbound.ParsedMail, now: datetime,
              follows: Ticket | None) -> tuple[str, str | None, int]:
        """A new ticket from a mail: under the sender's customer, or under the placeholder customer to match."""
        customer, contact = contacts.find_sender(session, mail.from_addr)
        outcome, reason = "new_ticket", None
        if customer is None:
            customer, outcome = contacts.unmatched_customer(session, now), "unmatched"
            reason = "unknown sender: the service desk matches a customer"
        title = inbound.ticket_title(mail.subject)
        errors = field_errors(channel="email", contact_email=mail.from_addr, title=title)
        if errors:
            raise ValidationFailed("the mail cannot open a ticket", errors)
        origin = follows if follows is not None and follows.customer_id == customer.id else None
        if follows is not None:
            reason = f"{follows.number} is {follows.status}: a new ticket" + (f"; {reason}" if reason else "")
        ticket = self.kernel.start_case(
            session, process_id=MAIN_PROCESS, customer=customer, contact_name=_contact_name(mail, contact),
            contact_email=mail.from_addr, channel="email", title=title,
            description=mail.text or _no_text(mail), actor=MAIL_IN, origin=origin)
        if contact is not None:
            ticket.contact_id = contact.id
        for filename, content_type, data in mail.attachments:
            _store_attachment(session, ticket, filename, content_type, data, uploaded_by=mail.from_addr, now=now)
        return outcome, reason, ticket.id


def _store_attachment(session: Session, ticket: Ticket, filename: str, content_type: str, data: bytes, *,
                      uploaded_by: str, now: datetime, message_id: int | None = None) -> None:
    row = Attachment(ticket_id=ticket.id, filename=filename, size=len(data), content_type=content_type, data=data,
                     uploaded_by=uploaded_by[:100], sha256=hashlib.sha256(data).hexdigest(), created_at=now,
                     message_id=message_id)
    session.add(row)
    session.add(TimelineEvent(ticket_id=ticket.id, instance_id=ticket.instance_id, at=now, kind="attachment_added",
                              actor=uploaded_by[:100], data={"filename": filename, "size": len(data)}))


def _author(mail: inbound.ParsedMail) -> str:
    return f"{mail.from_name} <{mail.from_addr}>" if mail.from_name else mail.from_addr


def _contact_name(mail: inbound.ParsedMail, contact: Any) -> str:
    if contact is not None:
        return str(contact.name)
    return mail.from_name or mail.from_addr.partition("@")[0]


def _no_text(mail: inbound.ParsedMail) -> str:
    if mail.attachments:
        return "（见附件）(see the attachments)"
    return f"（邮件无正文）(the e-mail has no text) {mail.subject}".strip()


def _result(session: Session, row: InboundMail, *, duplicate: bool = False) -> dict[str, Any]:
    number = session.scalar(select(Ticket.number).where(Ticket.id == row.ticket_id)) if row.ticket_id else None
    return _row_dict(row, number, duplicate=duplicate)


def _row_dict(row: InboundMail, number: str | None, *, duplicate: bool = False) -> dict[str, Any]:
    return {"id": row.id, "outcome": row.outcome, "reason": row.reason, "ticket_id": row.ticket_id,
            "ticket_number": number, "duplicate": duplicate, "message_id": row.message_id,
            "from_addr": row.from_addr, "subject": row.subject, "received_at": row.received_at.isoformat()}

