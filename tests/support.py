"""Test helpers: a real SMTP server and small drivers for the procedures."""
from __future__ import annotations

import email
import re
import socket
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
