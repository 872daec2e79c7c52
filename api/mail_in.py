"""The mail-in listener: an SMTP server (aiosmtpd) the support mailbox's mail server forwards to.

Each message is handed to the facade in a worker thread, so the event loop keeps talking SMTP while the
database works; the facade's outcome becomes the SMTP reply. A message over AFTERCARE_MAIL_IN_MAX_BYTES is
refused with 552 while it is still arriving (aiosmtpd drops its bytes): only a line in the inbound log is kept.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from engine.commands import Aftercare

log = logging.getLogger("aftercare.mail_in")
BANNER_HOST = "aftercare-mail-in"
MAIL_IN_PORT = 2525  # `aftercare mail-in` without --port or AFTERCARE_MAIL_IN_PORT


def smtp_reply(result: dict[str, Any]) -> str:
    """The SMTP reply for the facade's outcome: 250 unless the message was refused."""
    if result["outcome"] != "refused":
        what = result["outcome"] + (f" {result['ticket_number']}" if result.get("ticket_number") else "")
        return f"250 2.0.0 OK: {'already received, ' if result.get('duplicate') else ''}{what}"
    reason = str(result.get("reason") or "")
    if reason.startswith("too_large"):
        return f"552 5.3.4 Message too big: {_one_line(reason)}"
    return f"554 5.6.0 Message refused: {_one_line(reason)}"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


class MailInHandler:
    """aiosmtpd's handler: accepts any recipient (the mailbox's server decides what reaches us)."""

    def __init__(self, facade: Aftercare) -> None:
        self.facade = facade

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd)
        """Handle one message in a worker thread; a failure of ours is temporary (451): the sender retries."""
        raw = envelope.original_content or b""
        peer = str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer)
        try:
            result = await asyncio.to_thread(self.facade.receive_mail, bytes(raw), peer=peer,
                                             mail_from=envelope.mail_from or "",
                                             rcpt_tos=list(envelope.rcpt_tos))
        except Exception:
            log.exception("inbound mail from %s could not be handled; the sender will retry", envelope.mail_from)
            return "451 4.3.0 Temporary failure, please try again later"
        log.info("inbound mail from %s: %s", envelope.mail_from, result["outcome"])
        return smtp_reply(result)


class MailInServer(SMTP):
    """aiosmtpd's SMTP session, with a line in the inbound log for each message refused as too large."""

    _mail_arg = ""
    # RFC 5321 allows 1000 octets a line; some mail clients send longer HTML lines, which the mail servers
    # before us pass on. Reading them costs no more than the message size limit allows anyway.
    line_length_limit = 64 * 1024

    async def smtp_MAIL(self, arg: str | None) -> None:  # noqa: N802 (aiosmtpd)
        self._mail_arg = arg or ""
        await super().smtp_MAIL(arg)

    async def push(self, status: Any) -> None:
        """Send a reply; aiosmtpd's own refusals of a message (too large, by SIZE= or by the bytes; a line too
        long) are logged first."""
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        if text.startswith(("552 Error", "500 Line too long")):
            await self._log_refusal(text)
        await super().push(status)

    async def _log_refusal(self, status: str) -> None:
        sender = (self.envelope.mail_from if self.envelope is not None else None) or _address(self._mail_arg)
        facade = self.event_handler.facade
        try:
            limit = facade.settings.mail_in_max_bytes
            reason = f"too_large: over {limit} bytes" if status.startswith("552") else "malformed: a line too long"
            await asyncio.to_thread(facade.refuse_mail, from_addr=sender or "", size=limit if "552" in status else 0,
                                    reason=f"{reason} ({status})")
        except Exception:  # the refusal stands either way
            log.exception("could not log a refused message from %s", sender)


def _address(mail_arg: str) -> str:
    """The address of a MAIL FROM argument ("FROM:<a@b> SIZE=123")."""
    inside = mail_arg.partition("<")[2].partition(">")[0]
    return inside.strip()[:320]


class MailInController(Controller):
    """Runs the listener on its own thread and event loop: start(), stop()."""

    def __init__(self, facade: Aftercare, *, host: str, port: int) -> None:
        super().__init__(MailInHandler(facade), hostname=host, port=port, server_hostname=BANNER_HOST,
                         data_size_limit=facade.settings.mail_in_max_bytes, enable_SMTPUTF8=True, ready_timeout=10)

    def factory(self) -> MailInServer:
        """Our SMTP session class instead of aiosmtpd's."""
        return MailInServer(self.handler, **self.SMTP_kwargs)


def start_mail_in(facade: Aftercare, *, host: str, port: int) -> MailInController:
    """Start listening on host:port; the caller stops the returned controller."""
    controller = MailInController(facade, host=host, port=port)
    controller.start()
    log.info("mail-in listening on %s:%s (at most %s bytes a message)", host, port,
             facade.settings.mail_in_max_bytes)
    return controller


def serve_mail_in(facade: Aftercare) -> MailInController | None:
    """The listener `serve` runs when AFTERCARE_MAIL_IN_PORT is set; None when it is 0 or the port cannot be had (the
    app serves on: the forwarding mail server keeps the mail queued and retries, and the log says why)."""
    settings = facade.settings
    if not settings.mail_in_port:
        return None
    try:
        return start_mail_in(facade, host=settings.mail_in_host, port=settings.mail_in_port)
    except (OSError, TimeoutError, RuntimeError) as exc:
        log.error("mail-in could not listen on %s:%s: %s", settings.mail_in_host, settings.mail_in_port, exc)
        return None
