"""The ticket's conversation: staff replies (e-mailed to the contact, threaded), internal notes (never shown to or
sent to the customer) and the customer's messages (status page, e-mail reply, portal), each with its files.

`add_message` is the one way a message is written, whatever the surface: it validates, stores the message and its
files, logs a timeline event (without the text, so no note ever rides along in a timeline), keeps the ticket's
search document current, queues the reply e-mail for a staff public reply, tells staff about a customer message and
lets a waiting "ask the customer" step take the message as its answer (engine/waiting.py).

Threading. Every e-mail of a ticket leaves under a stable Message-ID we can recognise again: a staff reply under the
one stored with it (`Message.email_message_id`), any other outbox mail under one derived from its outbox row. Both
carry an HMAC of the secret key, so `is_ours` tells our own mail coming back (a loop) from a stranger's, and
`ticket_id_of_reference` maps an `In-Reply-To` / `References` id back to its ticket. A mail's `References` list the
ticket's earlier customer mails and messages, `In-Reply-To` the latest of them; the subject keeps "[AC-...]".
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from email.utils import parseaddr
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session, defer

from . import contacts, incidents, outbox, repository, rows, waiting
from .attachments import check_size, clean_content_type, clean_filename
from .errors import AftercareError, Conflict, ValidationFailed
from .language import ticket_language
from .models import Attachment, Instance, Message, OutboxMessage, Ticket, TimelineEvent
from .projection import notify
from .queries import iso
from .search import index_ticket
from .ticket_fields import is_address

log = logging.getLogger("aftercare.conversation")
AUTHOR_KINDS = ("staff", "customer", "system")
SOURCES = ("web", "api", "email", "status_page", "portal")
MAX_BODY = 20000  # characters; an e-mail's text beyond it is the caller's to cut (conversation.trim_body)
MAX_FILES = 10
CLOSED_STATUSES = ("closed", "archived")
REPLY_TEMPLATE = "reply"
CUSTOMER_REPLIED_TEMPLATE = "customer_replied"  # the staff notice (engine/notifications.py: kind "task")
NOTICE_ROLE = "service_desk"  # told of a customer message when no one holds an open task of the ticket
EVENT_KINDS = {"reply": "message_posted", "note": "note_added", "customer": "message_received"}
MAX_REFERENCES = 10  # RFC 5322 3.6.4: keep the first and the latest when the thread grows long
_OURS = re.compile(r"^<ac-(?P<key>[mo]\d+)\.(?P<sig>[0-9a-f]{12})@[^<>@\s]+>$")


def add_message(kernel: Any, session: Session, ticket: Ticket, *, now: datetime, author: str, author_kind: str,
                body: str, internal: bool = False, source: str, email_message_id: str | None = None,
                attachments: Sequence[tuple[str, str | None, bytes]] = ()) -> Message:
    """Store one message of the ticket's conversation with its files, in the caller's unit of work (see the module
    docstring for everything it sets off). `attachments` are (filename, content_type, bytes)."""
    text = _checked(ticket, author=author, author_kind=author_kind, body=body, internal=internal, source=source,
                    attachments=attachments)
    message = Message(ticket_id=ticket.id, at=now, author=author.strip()[:320], author_kind=author_kind,
                      internal=internal, body=text, source=source, email_message_id=email_message_id)
    session.add(message)
    session.flush()
    files = [_store_file(session, ticket, message, now, *file) for file in attachments]
    public_reply = author_kind == "staff" and not internal
    if public_reply and message.email_message_id is None:
        message.email_message_id = reply_message_id(kernel.settings, message.id)
    kind = "note" if internal else ("customer" if author_kind == "customer" else "reply")
    session.add(TimelineEvent(ticket_id=ticket.id, instance_id=ticket.instance_id, at=now, kind=EVENT_KINDS[kind],
                              actor=message.author[:100],
                              data={"message_id": message.id, "source": source, "internal": internal,
                                    "files": [f.filename for f in files]}))
    ticket.updated_at = now
    session.flush()
    index_ticket(session, ticket)
    if public_reply:
        _queue_reply(session, ticket, message, files, now)
    if author_kind == "customer":
        answered = _answer_waiting_step(kernel, session, ticket, message)
        _tell_staff(session, ticket, message, now, answered=answered)
    return message


def _answer_waiting_step(kernel: Any, session: Session, ticket: Ticket, message: Message) -> bool:
    """Let the ticket's open "waiting for the customer" step take the message as its answer (True when it did); a
    step that cannot (its diagram fails) stays open for staff, and never costs the customer their message. A
    failure of diagram code parks the case as an incident (engine/incidents.py) in this unit of work, the message
    kept; a parked case's step is not tried at all until a person retries the case."""
    instance = session.get(Instance, ticket.instance_id) if ticket.instance_id else None
    if instance is not None and instance.status == incidents.INCIDENT:
        return False
    try:
        with session.begin_nested():
            return bool(waiting.customer_answered(kernel, session, ticket, message))
    except Exception as exc:
        if instance is not None and incidents.is_diagram_failure(exc):
            element, error = incidents.describe(exc)
            log.warning("ticket %s: the waiting step failed at %s on message %s; the case is parked: %s", ticket.id,
                        element, message.id, error)
            locked = repository.lock_instance(session, instance.id)
            if locked is not None:
                incidents.park(session, locked, ticket, element_id=element, error=error, now=kernel.clock.now(),
                               attempt={"by": "customer_message", "message_id": message.id,
                                        "source": message.source})
            return False
        if not isinstance(exc, AftercareError):
            raise
        log.warning("ticket %s: the waiting step did not take message %s: %s", ticket.id, message.id, exc.message)
        return False


def _checked(ticket: Ticket, *, author: str, author_kind: str, body: str, internal: bool, source: str,
             attachments: Sequence[tuple[str, str | None, bytes]]) -> str:
    """The message's text once everything about it is allowed; ValidationFailed naming the field, or Conflict."""
    if author_kind not in AUTHOR_KINDS:
        raise ValueError(f"author_kind must be one of {AUTHOR_KINDS}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    if not accepts_messages(ticket):
        raise Conflict("This ticket is closed; it takes no new messages.", ticket_id=ticket.id)
    text = (body or "").replace("\r\n", "\n").strip()
    errors = []
    if not text and not attachments:
        errors.append({"field": "body", "message": "Write a message."})
    if len(text) > MAX_BODY:
        errors.append({"field": "body", "message": f"The message is too long (at most {MAX_BODY} characters)."})
    if internal and author_kind == "customer":
        errors.append({"field": "internal", "message": "A customer's message cannot be an internal note."})
    if not author.strip():
        errors.append({"field": "author", "message": "Who wrote the message is missing."})
    if len(attachments) > MAX_FILES:
        errors.append({"field": "files", "message": f"At most {MAX_FILES} files per message."})
    if errors:
        raise ValidationFailed("the message cannot be sent", errors)
    for _name, _type, data in attachments:
        check_size(data)
    return text


def accepts_messages(ticket: Ticket) -> bool:
    """Whether the ticket still takes messages: not once it is closed or archived."""
    return ticket.status not in CLOSED_STATUSES and ticket.closed_at is None and ticket.archive is None


def trim_body(text: str) -> str:
    """A long text (an e-mail quoting a whole thread) cut to what a message holds, saying so."""
    return text if len(text) <= MAX_BODY else text[: MAX_BODY - 40].rstrip() + "\n\n[…] (truncated 已截断)"


def _store_file(session: Session, ticket: Ticket, message: Message, now: datetime, filename: str,
                content_type: str | None, data: bytes) -> Attachment:
    row = Attachment(ticket_id=ticket.id, message_id=message.id, filename=clean_filename(filename),
                     content_type=clean_content_type(content_type), size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), data=data, uploaded_by=message.author[:100],
                     created_at=now)
    session.add(row)
    return row


def _queue_reply(session: Session, ticket: Ticket, message: Message, files: list[Attachment], now: datetime) -> None:
    """The reply e-mail to the ticket's contact, in the contact's language."""
    if not ticket.contact_email:
        return
    session.flush()
    language = ticket_language(session, ticket)
    context = {"ticket_id": ticket.id, "message_id": message.id, "body": message.body, "author": message.author,
               "attachment_ids": [f.id for f in files], "files": [f.filename for f in files],
               "email_message_id": message.email_message_id, "language": language}
    outbox.enqueue(session, to_addr=ticket.contact_email, template=REPLY_TEMPLATE, context=context,
                   language=language, ticket_id=ticket.id, now=now)


def _tell_staff(session: Session, ticket: Ticket, message: Message, now: datetime, *, answered: bool) -> None:
    """A staff notice of the customer's message: to whoever holds the ticket's open tasks, else the service desk
    (unless the message `answered` the step waiting for the customer: the diagram then hands the case back with a
    task of its own)."""
    data = {"author": message.author, "excerpt": excerpt(message.body), "message_id": message.id}
    told = False
    for task in repository.open_tasks(session, roles=None, ticket_id=ticket.id):
        user = repository.user_by_name(session, task.assignee) if task.assignee else None
        if user is not None and user.active and user.email:
            outbox.enqueue(session, to_addr=user.email, template=CUSTOMER_REPLIED_TEMPLATE, language=user.language,
                           context={**data, "ticket_id": ticket.id, "recipient": user.username, "role": user.role,
                                    "task": task.title, "task_id": task.id},
                           ticket_id=ticket.id, now=now, recipient=user.username, kind="task")
            told = True
    if not told and not answered:
        notify(session, now, ticket, NOTICE_ROLE, CUSTOMER_REPLIED_TEMPLATE, data)


def excerpt(text: str, limit: int = 300) -> str:
    """The start of a message, for notices."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def messages(session: Session, ticket_id: int, *, include_internal: bool) -> list[dict[str, Any]]:
    """The ticket's conversation, oldest first, each message with its files (no bytes); internal notes only when
    asked for (staff), never for anything a customer sees."""
    said = rows.read(session, _MESSAGES if include_internal else _PUBLIC_MESSAGES, {"ticket_id": ticket_id})
    files: dict[int, list[dict[str, Any]]] = {}
    if said:
        for row in rows.read(session, _FILES_OF_MESSAGES, {"ids": [m.id for m in said]}):
            files.setdefault(row.message_id or 0, []).append(
                {"id": row.id, "filename": row.filename, "content_type": row.content_type, "size": row.size})
    return [message_dict(m, files.get(m.id, [])) for m in said]


# the conversation as the ticket's pages read it (the columns message_dict shows), built once
_MESSAGE_COLUMNS = (Message.id, Message.at, Message.author, Message.author_kind, Message.internal, Message.body,
                    Message.source)
_MESSAGES = select(*_MESSAGE_COLUMNS).where(Message.ticket_id == bindparam("ticket_id")).order_by(
    Message.at, Message.id)
_PUBLIC_MESSAGES = select(*_MESSAGE_COLUMNS).where(Message.ticket_id == bindparam("ticket_id"),
                                                   Message.internal.is_(False)).order_by(Message.at, Message.id)
_FILES_OF_MESSAGES = select(Attachment.id, Attachment.message_id, Attachment.filename, Attachment.content_type,
                            Attachment.size).where(Attachment.message_id.in_(bindparam("ids", expanding=True))
                                                   ).order_by(Attachment.id)


def message_dict(message: Any, files: list[dict[str, Any]]) -> dict[str, Any]:
    """A message (a Message, or a row of its columns) as the surfaces show it."""
    return {"id": message.id, "at": message.at.isoformat(), "author": message.author,
            "author_kind": message.author_kind, "internal": message.internal, "body": message.body,
            "source": message.source, "attachments": files}


# --- what the customer may have of a ticket's files ------------------------------------------------------------
#
# The one rule for every page a customer sees (status page, "my tickets"): a file is public when it was sent with a
# message that is not an internal note, or when it came from the customer without a message: the files of the
# e-mail that opened the ticket and those beyond MAX_FILES of a customer's e-mailed reply (engine/services/
# inbound.py), stored with the sender's address as `uploaded_by`. Such a file is the customer's only while that
# address still speaks for the ticket's customer (the ticket's contact address, or an active contact or own domain
# of its customer). Everything else without a message is internal: staff uploads on the ticket and task pages
# (`uploaded_by` a username), and anything from anybody else.

def public_attachment(session: Session, ticket_id: int, attachment_id: int) -> Attachment | None:
    """One of the ticket's files the customer may have (see the rule above), with its bytes; else None."""
    row = session.get(Attachment, attachment_id) if 0 < attachment_id < 2**31 else None
    ticket = session.get(Ticket, ticket_id) if row is not None and row.ticket_id == ticket_id else None
    if row is None or ticket is None:
        return None
    return row if _is_public(session, ticket, row, {}) else None


def public_attachments(session: Session, ticket: Ticket) -> list[dict[str, Any]]:
    """The ticket's files the customer may have (see the rule above), oldest first, without their bytes; each
    with the `message_id` it was sent with (None: a file of the ticket's own)."""
    rows = session.scalars(select(Attachment).options(defer(Attachment.data, raiseload=True))
                           .where(Attachment.ticket_id == ticket.id)
                           .order_by(Attachment.created_at, Attachment.id))
    known: dict[Any, bool] = {}
    return [{"id": row.id, "filename": row.filename, "content_type": row.content_type, "size": row.size,
             "created_at": iso(row.created_at), "message_id": row.message_id} for row in rows
            if _is_public(session, ticket, row, known)]  # who uploaded it is staff's to know


def _is_public(session: Session, ticket: Ticket, row: Attachment, known: dict[Any, bool]) -> bool:
    """Whether the customer may have `row`; `known` remembers the answers for messages and uploaders."""
    key: Any = row.message_id if row.message_id is not None else f"by:{row.uploaded_by}"
    if key not in known:
        if row.message_id is not None:
            message = session.get(Message, row.message_id)
            known[key] = message is not None and message.ticket_id == ticket.id and not message.internal
        else:
            known[key] = _from_customer(session, ticket, row.uploaded_by)
    return known[key]


def _from_customer(session: Session, ticket: Ticket, uploaded_by: str) -> bool:
    """Whether a file stored without a message was the customer's: an address speaking for the ticket's customer."""
    if not is_address(uploaded_by or ""):
        return False  # a staff member's username (a file uploaded on the ticket or task page)
    address = contacts.normalize_address(uploaded_by)
    if address == contacts.normalize_address(ticket.contact_email or ""):
        return True
    customer, _contact = contacts.find_sender(session, address)
    return customer is not None and customer.id == ticket.customer_id


# --- threading -------------------------------------------------------------------------------------------------

def mail_domain(settings: Any) -> str:
    """The domain our Message-IDs carry: the sender address's."""
    return _domain_of(str(settings.smtp_from))


@lru_cache(maxsize=8)
def _domain_of(sender: str) -> str:
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2].strip().lower()
    return domain if re.fullmatch(r"[a-z0-9.-]+", domain or "") else "aftercare.local"


def _signature(secret: str, key: str) -> str:
    return hmac.new(secret.encode(), f"message-id|{key}".encode(), hashlib.sha256).hexdigest()[:12]


def _message_id(settings: Any, key: str) -> str:
    return f"<ac-{key}.{_signature(settings.secret_key, key)}@{mail_domain(settings)}>"


def reply_message_id(settings: Any, message_id: int) -> str:
    """The Message-ID of a staff reply's e-mail (stored with the message)."""
    return _message_id(settings, f"m{message_id}")


def outbox_message_id(settings: Any, outbox_id: int) -> str:
    """The Message-ID of any other e-mail we send: the same on every attempt, so a resend is a duplicate."""
    return _message_id(settings, f"o{outbox_id}")


def is_ours(settings: Any, value: str) -> bool:
    """Whether a Message-ID is one we gave an e-mail we sent (mail coming back to us: a loop)."""
    match = _OURS.match((value or "").strip())
    if match is None:
        return False
    return hmac.compare_digest(match["sig"], _signature(settings.secret_key, match["key"]))


def ticket_id_of_reference(session: Session, settings: Any, value: str) -> int | None:
    """The ticket a Message-ID (from In-Reply-To or References) belongs to: one of our e-mails, or a message
    stored with that id (a customer's earlier e-mail); None when it is no ticket's."""
    value = (value or "").strip()
    if not value:
        return None
    match = _OURS.match(value)
    if match and is_ours(settings, value) and match["key"].startswith("o"):
        row = session.get(OutboxMessage, int(match["key"][1:]))
        return row.ticket_id if row is not None else None
    return session.scalar(select(Message.ticket_id).where(Message.email_message_id == value))


class MailRow(Protocol):
    """What threading an outbox e-mail reads of it: its row (OutboxMessage) or the sender's claim of it (Envelope)."""

    @property
    def id(self) -> int: ...
    @property
    def ticket_id(self) -> int | None: ...
    @property
    def recipient(self) -> str | None: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def context(self) -> dict[str, Any]: ...


def thread_headers(session: Session, settings: Any, mail: MailRow) -> dict[str, str]:
    """Message-ID, In-Reply-To and References of one outbox e-mail: a customer's mail of a ticket refers to the
    ticket's earlier customer mails and messages, so mail clients show one thread; a staff notice to nothing."""
    own = str((mail.context or {}).get("email_message_id") or "") or outbox_message_id(settings, mail.id)
    headers = {"Message-ID": own}
    if mail.ticket_id is None or mail.recipient is not None or mail.created_at is None:
        return headers
    earlier = _thread(session, settings, mail)
    if earlier:
        kept = earlier if len(earlier) <= MAX_REFERENCES else [earlier[0], *earlier[-(MAX_REFERENCES - 1):]]
        headers["In-Reply-To"] = earlier[-1]
        headers["References"] = " ".join(kept)
    return headers


# read for every e-mail to a customer: built once
_EARLIER_MAILS = select(OutboxMessage.id, OutboxMessage.created_at).where(
    OutboxMessage.ticket_id == bindparam("ticket_id"), OutboxMessage.recipient.is_(None),
    OutboxMessage.id < bindparam("before"), OutboxMessage.template != REPLY_TEMPLATE,
    or_(*(OutboxMessage.status == status for status in ("pending", "sending", "sent"))))  # OR: see mail_context
_EARLIER_MESSAGES = select(Message.id, Message.at, Message.email_message_id).where(
    Message.ticket_id == bindparam("ticket_id"), Message.internal.is_(False), Message.email_message_id.is_not(None),
    Message.at <= bindparam("until"))


def _thread(session: Session, settings: Any, row: MailRow) -> list[str]:
    """The ids of the ticket's customer mails and public messages before `row`, oldest first."""
    mails = rows.read(session, _EARLIER_MAILS, {"ticket_id": row.ticket_id, "before": row.id})
    own_message = (row.context or {}).get("message_id")
    said = rows.read(session, _EARLIER_MESSAGES, {"ticket_id": row.ticket_id, "until": row.created_at})
    items = [(at, 0, mail_id, outbox_message_id(settings, mail_id)) for mail_id, at in mails]
    items += [(at, 1, msg_id, str(ref)) for msg_id, at, ref in said if msg_id != own_message
              and (own_message is None or msg_id < int(own_message))]
    return [ref for *_, ref in sorted(items)]



# --- the status page's reply form ----------------------------------------------------------------------------

FORM_KEY_HOURS = 24


def form_key(secret: str, ticket_id: int, now: datetime) -> str:
    """A key the status page's reply form carries: this ticket's, signed, with the time the page was made."""
    stamp = str(int(now.timestamp()))
    return f"{stamp}.{_form_signature(secret, ticket_id, stamp)}"


def form_key_valid(secret: str, ticket_id: int, key: str, now: datetime) -> bool:
    """Whether `key` was made for this ticket's page within the last FORM_KEY_HOURS."""
    stamp, _, signature = (key or "").partition(".")
    if not (stamp.isascii() and stamp.isdigit() and signature.isascii()) or len(stamp) > 12:
        return False
    if not hmac.compare_digest(signature, _form_signature(secret, ticket_id, stamp)):
        return False
    return 0 <= now.timestamp() - int(stamp) <= FORM_KEY_HOURS * 3600


def _form_signature(secret: str, ticket_id: int, stamp: str) -> str:
    return hmac.new(secret.encode(), f"reply-form|{ticket_id}|{stamp}".encode(), hashlib.sha256).hexdigest()[:32]


def message_with_files(session: Session, message: Message) -> dict[str, Any]:
    """One message as the surfaces show it, with its files."""
    files = [{"id": row.id, "filename": row.filename, "content_type": row.content_type, "size": row.size}
             for row in session.scalars(select(Attachment).options(defer(Attachment.data, raiseload=True))
                                        .where(Attachment.message_id == message.id).order_by(Attachment.id))]
    return message_dict(message, files)
