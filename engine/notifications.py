"""Staff notices without storms: which kind each e-mail template is, what each user chose per kind, and the
sender's rule that turns a burst of notices to one person into one digest.

The rule, applied when the sender first takes a staff message out of the outbox (customer mail never passes
here): a kind set to `none` is skipped; a kind set to `digest` is held; a kind set to `immediate` goes at once
unless the recipient was sent mail about another ticket (or a digest) within the digest window, and is then held
too. Held messages of one recipient leave together as one digest when the window that held them ends, so however
many tickets breach at once a recipient gets their first notice at once and the rest in one digest. Notices about
the ticket the recipient was just mailed about are not a storm (one step of a case may tell one person two things).
A kind in NEVER_SILENT (breaches and escalations) cannot be set to `none`: it may be delayed into a digest, never
dropped.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from . import rows
from .errors import ValidationFailed
from .models import Customer, NotificationPreference, OutboxMessage, Ticket, User

KINDS = ("task", "deadline", "reminder")
MODES = ("immediate", "digest", "none")
DEFAULTS = {"task": "immediate", "deadline": "immediate", "reminder": "immediate"}
NEVER_SILENT = ("deadline",)
DIGEST_MINUTES = 10
DIGEST_TEMPLATE = "digest"

# Every staff template, by kind; a template not listed is a reminder. Customer templates are not kinds at all.
TEMPLATE_KINDS = {
    "task_arrived": "task",
    "complaint_registered": "task",
    "customer_replied": "task",
    "deadline_breached": "deadline",
    "escalation": "deadline",
    "manual_escalation": "deadline",
    "triage_overdue": "deadline",
    "response_overdue": "deadline",
    "callback_overdue": "deadline",
    "incident": "deadline",  # a case parked because its diagram code failed (engine/incidents.py): never dropped
    "start_failed": "deadline",  # a case that could not start (engine/incident_notices.py): never dropped
    "due_failed": "deadline",  # a task whose due expression failed (engine/incident_notices.py): never dropped
    "inspection_unsigned": "reminder",
    "standby_summary_late": "reminder",
}

# Statuses of a message that went, or is going, to its recipient on its own or as a digest.
_MAILED = ("pending", "sending", "sent")
# what a claim reads per recipient, built once (OR, not IN: see engine/mail_context.py)
_PREFERENCES = select(NotificationPreference.kind, NotificationPreference.mode).where(
    NotificationPreference.username == bindparam("username"))
_MAILED_IN_WINDOW = select(OutboxMessage.ticket_id, OutboxMessage.claimed_at).where(
    OutboxMessage.recipient == bindparam("recipient"), OutboxMessage.claimed_at > bindparam("since"),
    or_(*(OutboxMessage.status == status for status in _MAILED))).order_by(OutboxMessage.claimed_at)
_HELD_DUE_RECIPIENTS = select(OutboxMessage.recipient).where(
    OutboxMessage.status == "held", OutboxMessage.next_attempt_at <= bindparam("now")).order_by(
    OutboxMessage.next_attempt_at)
_HELD_RELEASE = select(func.min(OutboxMessage.next_attempt_at).label("release")).where(
    OutboxMessage.recipient == bindparam("recipient"), OutboxMessage.status == "held")


def kind_of(template: str) -> str:
    """The kind of notice a staff template is."""
    return TEMPLATE_KINDS.get(template, "reminder")


def preferences(session: Session, username: str) -> dict[str, str]:
    """The user's mode for every kind: what they chose, else the default."""
    chosen = rows.read(session, _PREFERENCES, {"username": username})
    return {**DEFAULTS, **{kind: mode for kind, mode in chosen if kind in DEFAULTS}}


def set_preferences(session: Session, *, username: str, modes: dict[str, str], now: datetime) -> dict[str, str]:
    """Save the user's choice for the kinds given (the others keep theirs); refuse what may not be chosen."""
    errors = [{"field": kind, "message": f"unknown kind; kinds are {', '.join(KINDS)}"}
              for kind in modes if kind not in KINDS]
    errors += [{"field": kind, "message": f"choose one of {', '.join(MODES)}"}
               for kind, mode in modes.items() if kind in KINDS and mode not in MODES]
    errors += [{"field": kind, "message": "escalations and missed deadlines cannot be switched off"}
               for kind, mode in modes.items() if kind in NEVER_SILENT and mode == "none"]
    if errors:
        raise ValidationFailed("these notification choices cannot be saved", errors)
    rows = {row.kind: row for row in session.scalars(
        select(NotificationPreference).where(NotificationPreference.username == username))}
    for kind, mode in modes.items():
        row = rows.get(kind)
        if row is None:
            session.add(NotificationPreference(username=username, kind=kind, mode=mode, updated_at=now))
        else:
            row.mode, row.updated_at = mode, now
    session.flush()
    return preferences(session, username)


class Dispatcher:
    """The rule for one claim: decides each staff message's fate and releases the digests that fell due."""

    def __init__(self, session: Session, *, now: datetime, window: timedelta) -> None:
        self.session, self.now, self.window = session, now, window
        self._modes: dict[str, dict[str, str]] = {}
        self._mailed: dict[str, dict[int | None, datetime]] = {}
        self._release: dict[str, datetime | None] = {}

    def admit(self, message: OutboxMessage) -> bool:
        """Whether a staff message goes now; otherwise it is marked held (with its release time) or skipped."""
        if message.recipient is None or message.kind in (None, DIGEST_TEMPLATE):
            return True
        recipient, kind = message.recipient, message.kind
        mode = self._mode(recipient, kind)
        if (mode == "none" and kind not in NEVER_SILENT) or self._settled(message):
            message.status = "skipped"  # not wanted, or dealt with before it could go ("new task" for a task done)
            return False
        mailed = self._mailed_in_window(recipient)
        others = [at for ticket_id, at in mailed.items() if ticket_id is None or ticket_id != message.ticket_id]
        if mode == "digest" or others:
            release = self._held_release(recipient) or (max(others) if others else self.now) + self.window
            message.status, message.next_attempt_at = "held", release
            self._release[recipient] = release
            return False
        mailed[message.ticket_id] = self.now
        return True

    def release_due(self, *, limit: int) -> list[OutboxMessage]:
        """Held messages whose window ended: a recipient's only one goes as itself, several as one new digest
        row; either way marked as being sent, in this unit of work."""
        # the held rows that fell due through ix_outbox_held, grouped here: a GROUP BY in SQL had SQLite walk a whole
        # index of the outbox, inside the sender's write lock
        due = rows.read(self.session, _HELD_DUE_RECIPIENTS, {"now": self.now})
        recipients = list(dict.fromkeys(row.recipient for row in due))[:limit]  # earliest due first, each once
        released = []
        for recipient in recipients:
            # rows another sender is releasing are locked and skipped: no row goes in two digests
            held = list(self.session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient == recipient, OutboxMessage.status == "held")
                .order_by(OutboxMessage.created_at, OutboxMessage.id).with_for_update(skip_locked=True)))
            if recipient is None or not held:
                continue
            # a lone notice goes as itself, unless it was dealt with meanwhile: then as a digest that says so (a "new
            # task" mail for a task already done would send someone after it)
            items = self._items(held, recipient) if len(held) == 1 else None
            released.append(held[0] if items and items[0]["settled"] is None else self._digest(recipient, held, items))
            released[-1].status, released[-1].claimed_at = "sending", self.now
            self._mailed_in_window(recipient)[released[-1].ticket_id] = self.now
            self._release[recipient] = None
        return released

    def _digest(self, recipient: str, held: list[OutboxMessage],
                items: list[dict[str, Any]] | None = None) -> OutboxMessage:
        user = self.session.scalar(select(User).where(User.username == recipient))
        digest = OutboxMessage(
            to_addr=(user.email if user and user.email else held[-1].to_addr), template=DIGEST_TEMPLATE,
            language=user.language if user else held[-1].language, ticket_id=None, status="sending",
            context={"recipient": recipient, "items": items or self._items(held, recipient)}, attempts=0,
            next_attempt_at=self.now, claimed_at=self.now, created_at=self.now, recipient=recipient,
            kind=DIGEST_TEMPLATE)
        self.session.add(digest)
        self.session.flush()
        for message in held:
            message.status, message.digest_id = "digested", digest.id
        return digest

    def _items(self, held: list[OutboxMessage], recipient: str) -> list[dict[str, Any]]:
        """What the digest lists: for each message its ticket, what happened and when (ticket facts read now,
        so the e-mail needs no query per item); what was dealt with meanwhile marked `settled`, and last."""
        from .settled import settle  # it reads the notices' own rows (engine/incident_notices.py imports this module)

        ids = {m.ticket_id for m in held if m.ticket_id is not None}
        tickets = {row.id: row for row in self.session.execute(
            select(Ticket.id, Ticket.number, Ticket.title, Customer.name.label("customer"))
            .join(Customer, Customer.id == Ticket.customer_id).where(Ticket.id.in_(ids)))} if ids else {}
        items = []
        for message in held:
            ticket = tickets.get(message.ticket_id) if message.ticket_id is not None else None
            items.append({"message_id": message.id, "template": message.template, "kind": message.kind,
                          "at": message.created_at.isoformat(), "ticket_id": message.ticket_id,
                          "number": ticket.number if ticket else None, "title": ticket.title if ticket else None,
                          "customer": ticket.customer if ticket else None, "data": dict(message.context),
                          "settled": None, "taken_by": None})
        settle(self.session, items, recipient)
        return sorted(items, key=lambda item: item["settled"] is not None)  # stable: each part in order of arrival

    def _settled(self, message: OutboxMessage) -> bool:
        """Whether what a staff notice says was dealt with before it could be sent (engine/settled.py: the task done
        or taken by a colleague, the case resumed, the ticket closed): a notice going out at once is then dropped,
        as a digest lists such notices apart (`release_due`)."""
        from .settled import settle  # it reads the notices' own rows (engine/incident_notices.py imports this module)

        item = {"template": message.template, "data": dict(message.context or {}), "ticket_id": message.ticket_id,
                "settled": None, "taken_by": None}
        with self.session.no_autoflush:  # the claim's own changes are to outbox rows: nothing settling reads
            settle(self.session, [item], str(message.recipient))
        return item["settled"] is not None

    def _mode(self, recipient: str, kind: str) -> str:
        if recipient not in self._modes:
            with self.session.no_autoflush:  # the claim's own changes are to outbox rows: nothing this reads
                self._modes[recipient] = preferences(self.session, recipient)
        return self._modes[recipient].get(kind, "immediate")

    def _mailed_in_window(self, recipient: str) -> dict[int | None, datetime]:
        """Per ticket (None: a digest or a notice without one), when the recipient was last sent mail about it
        (its claim time), within the window."""
        if recipient not in self._mailed:
            # the window's rows through ix_outbox_recipient_claimed, latest per ticket here: a GROUP BY in SQL had
            # SQLite walk the whole outbox by ticket (engine/outbox.py claims inside the write lock)
            # with the claim's own changes written first: a message it took again (a retry, an expired lease) is
            # mail to the recipient now, though its row still shows its first claim
            mailed = rows.read(self.session, _MAILED_IN_WINDOW, {"recipient": recipient,
                                                                 "since": self.now - self.window})
            self._mailed[recipient] = {ticket_id: at for ticket_id, at in mailed if at is not None}
        return self._mailed[recipient]

    def _held_release(self, recipient: str) -> datetime | None:
        """When the recipient's waiting digest leaves, if one is waiting: a new notice joins it."""
        if recipient not in self._release:
            # first asked before this claim held or released anything of the recipient (both set the answer
            # here): the claim's unwritten changes cannot change it
            with self.session.no_autoflush:
                self._release[recipient] = rows.read(self.session, _HELD_RELEASE, {"recipient": recipient})[0].release
        return self._release[recipient]
