"""Test helpers: a real SMTP server and small drivers for the procedures."""
from __future__ import annotations

import email
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class SmtpSink:
    """Messages received by the test SMTP server."""

    controller: Any = None
    port: int = 0
    messages: list[Message] = field(default_factory=list)
    refuse: bool = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        if self.refuse:
            return "451 try again later"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def stop(self) -> None:
        """Shut the server down."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[Message]:
        """Messages addressed to `address`."""
        return [m for m in self.messages if address in str(m["To"])]

    def subjects(self, address: str | None = None) -> list[str]:
        """Decoded subjects, optionally for one recipient."""
        msgs = self.to(address) if address else self.messages
        return [str(email.header.make_header(email.header.decode_header(str(m["Subject"])))) for m in msgs]


def body(message: Message) -> str:
    """The decoded text body of a message."""
    payload = message.get_payload(decode=True)
    return payload.decode(message.get_content_charset() or "utf-8") if isinstance(payload, bytes) else ""


def link_in(message: Message) -> str:
    """The customer link (/c/<token>) in a message."""
    match = re.search(r"https?://\S+/c/\S+", body(message))
    assert match, f"no customer link in: {body(message)}"
    return match.group(0)


_DROP = """
import sys
from sqlalchemy import create_engine, text
admin = create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
with admin.connect() as conn:
    conn.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % sys.argv[2].replace('"', '')))
"""


def drop_database_later(admin_url: str, name: str) -> None:
    """Drop a test's PostgreSQL database in a process of its own that outlives the test run: DROP DATABASE waits
    for an immediate checkpoint (3-20 s each on the busy 2-core CI machine, thousands of files to sync), and
    nothing in the run needs to wait for it."""
    subprocess.Popen([sys.executable, "-c", _DROP, admin_url, name], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_smtp(port: int | None = None) -> SmtpSink:
    """Start an aiosmtpd server on `port` (or a free one)."""
    sink = SmtpSink()
    sink.port = port or free_port()
    sink.controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    sink.controller.start()
    return sink


class Desk:
    """Drives the maintenance-request procedure through the facade, as each role would."""

    def __init__(self, facade: Any, clock: Any) -> None:
        from engine.users import Actor

        self.facade, self.clock = facade, clock
        self.actor = lambda role: Actor(role, role)

    def create(self, **overrides: Any) -> int:
        """Log a ticket for Demo Customer; its id."""
        fields = {"customer": "Demo Customer", "contact_name": "王工", "contact_email": "wang@demo-customer.example",
                  "channel": "phone", "title": "系统无法登录", "description": "所有用户登录时报 500 错误"}
        fields.update(overrides)
        created = self.facade.create_ticket(**fields, actor=self.actor("service_desk"))
        return int(created["id"])

    def tasks(self, ticket_id: int) -> list[dict[str, Any]]:
        """Open tasks of a ticket."""
        return list(self.facade.list_tasks(actor=self.actor("admin"), ticket_id=ticket_id))

    def names(self, ticket_id: int) -> list[str]:
        """BPMN ids of a ticket's open tasks."""
        return sorted(t["name"] for t in self.tasks(ticket_id))

    def task(self, ticket_id: int, name: str) -> dict[str, Any]:
        """The open task `name` of a ticket."""
        found = [t for t in self.tasks(ticket_id) if t["name"] == name]
        assert found, f"no open task {name!r}; open: {self.names(ticket_id)}"
        return found[0]

    def complete(self, ticket_id: int, name: str, data: dict[str, Any], role: str | None = None) -> None:
        """Complete the open task `name` as its own role (or `role`)."""
        task = self.task(ticket_id, name)
        self.facade.complete_task(task_id=task["id"], data=data, actor=self.actor(role or task["role"]))

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        """The ticket as the API shows it."""
        return dict(self.facade.get_ticket(ticket_id=ticket_id, actor=self.actor("admin")))

    def events(self, ticket_id: int, kind: str) -> list[dict[str, Any]]:
        """Timeline events of one kind."""
        return [e for e in self.ticket(ticket_id)["timeline"] if e["kind"] == kind]

    def travel(self, **delta: float) -> None:
        """Move the clock and let the scheduler fire what fell due."""
        self.clock.advance(**delta)
        self.facade.fire_due_timers()

    def travel_to(self, when: Any) -> None:
        """Set the clock and let the scheduler fire what fell due."""
        self.clock.set(when)
        self.facade.fire_due_timers()

    def triage(self, ticket_id: int, category: str = "fault", severity: int = 2, onsite: bool = False) -> None:
        """Triage as the service desk."""
        self.complete(ticket_id, "triage", {"category": category, "severity": severity, "onsite": onsite})


def customer_token(facade: Any, ticket_id: int) -> str:
    """The token of the ticket's newest unused customer link, as the latest e-mail carries it."""
    from engine import links
    from engine.models import CustomerLink

    def token(session: Any) -> str:
        link = session.query(CustomerLink).filter_by(ticket_id=ticket_id, used_at=None).order_by(
            CustomerLink.created_at.desc()).first()
        return links.token_for(facade.settings.secret_key, link)

    return str(facade.run_in_unit(token))


def complete_as_customer(facade: Any, ticket_id: int, data: dict[str, Any]) -> None:
    """Complete the customer's open step through the link of the latest e-mail."""
    facade.complete_by_link(token=customer_token(facade, ticket_id), data=data)
