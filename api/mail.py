"""Outbox sender: renders queued e-mails from Jinja2 templates and hands them to SMTP with aiosmtplib. A digest
(template `digest`) is rendered like any message: its context lists the notices it carries."""
from __future__ import annotations

import asyncio
import contextlib
import email.policy
import email.utils
import functools
import logging
import threading
import time
from datetime import datetime, timedelta
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape

from engine.commands import Aftercare
from engine.outbox import Envelope
from engine.users import SYSTEM

from . import i18n
from .report_pdf import monthly_report_pdf
from .timeline import language_half

log = logging.getLogger("aftercare.mail")
TEMPLATES = Path(__file__).parent / "templates" / "email"
SHANGHAI = ZoneInfo("Asia/Shanghai")


class _HeaderClasses(HeaderRegistry):
    """The standard library's header registry, each header's class made once: the standard one makes a new class
    for every header it parses (a tenth of rendering an e-mail)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        made = self._made.get(name.lower())
        if made is None:
            made = self._made[name.lower()] = super().__getitem__(name)
        return made


# email.policy.default with that registry: what every e-mail is built with
POLICY = email.policy.default.clone(header_factory=_HeaderClasses())


@functools.lru_cache(maxsize=8)
def _header(name: str, value: str) -> BaseHeader:
    """A header that is the same on every e-mail (From), parsed once; a message takes it as it is, unchecked, so it
    is refused here as the message would refuse it: a line break would start a header of its own."""
    if value and value.splitlines() != [value]:  # any line break the library knows, as its own check
        raise ValueError(f"the {name} header may not contain a line break")
    return POLICY.header_factory(name, value)


STATUS = {"new": "新建 new", "triage": "待分类 awaiting triage", "in_progress": "处理中 in progress",
          "awaiting_acceptance": "待验收 awaiting acceptance", "callback": "待回访 awaiting callback",
          "waiting_customer": "等待客户 waiting for your answer",
          "archived": "已归档 archived", "closed": "已关闭 closed"}


def local_time(value: str | None, lang: str = "both") -> str:
    """An ISO time as Beijing wall-clock time, the way customers and staff read deadlines (zone in `lang`)."""
    if not value:
        return "—"
    zone = {"en": " (Beijing time, UTC+8)", "zh-CN": "（北京时间）"}.get(lang, " (北京时间 UTC+8)")
    return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") + zone


def status_name(value: str, lang: str = "both") -> str:
    """A ticket status as the customer reads it: the Chinese or the English half of STATUS (both: the whole)."""
    name = STATUS.get(value, value)
    chinese, _, english = name.partition(" ")
    return {"zh-CN": chinese, "en": english or chinese}.get(lang, name)


def short_time(value: str) -> str:
    """An ISO time as Beijing month, day and time, for the lines of a digest."""
    return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%m-%d %H:%M")


def role_name(role: str, lang: str = "zh") -> str:
    """A role as staff read it, from the web app's catalogs: 服务经理 / service manager."""
    if lang == "zh":
        return i18n.translate(role, "zh-CN")
    name = i18n.translate(role, "en")
    return name[:1].lower() + name[1:]


class Mailer:
    """Sends what the outbox holds; each message is claimed, sent and marked in its own unit of work."""

    def __init__(self, facade: Aftercare, *, keep_open: float = 0.0) -> None:
        """`keep_open`: seconds the SMTP connection stays open after a pass for the next one (the worker's mail loop,
        which passes every interval); 0 closes it at the end of each pass."""
        self.facade = facade
        self.keep_open = keep_open
        self._runner: asyncio.Runner | None = None  # one event loop for every pass while a connection is kept
        self._relay: _Relay | None = None
        self._last_sent = 0.0  # time.monotonic() of the kept connection's last pass
        self._passes = threading.Lock()  # a pass and a close never drive the one event loop at once
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["local"] = pass_context(lambda ctx, value: local_time(value, ctx.get("lang", "both")))
        self.env.filters["clock"] = short_time
        self.env.filters["status"] = pass_context(lambda ctx, value: status_name(value, ctx.get("lang", "both")))
        self.env.globals["role_name"] = role_name
        self.env.globals["passed"] = self._passed
        # a text the diagrams write in English (an escalation's reason), in the recipient's language
        self.env.filters["tr"] = pass_context(
            lambda ctx, value: i18n.translate(str(value), ctx["lang"]) if ctx.get("lang") in i18n.LANGUAGES else value)
        # a name the diagrams give in both languages ("维护请求 Maintenance request"), in the recipient's
        self.env.filters["half"] = pass_context(
            lambda ctx, value: language_half(str(value), ctx["lang"]) if ctx.get("lang") in i18n.LANGUAGES else value)

    def _passed(self, moment: str | None) -> bool:
        """Whether an ISO time the e-mail names (a deadline) is already past as it is written."""
        return bool(moment) and datetime.fromisoformat(str(moment)) < self.facade.clock.now()

    def render(self, envelope: Envelope) -> EmailMessage:
        """The e-mail for one outbox row: subject from the template's first line, body from the rest."""
        parts = self.facade.mail_parts(envelope=envelope)
        context = self._context(envelope, parts)
        # the recipient's language; a language without a file of its own reads the Chinese one
        template = self.env.select_template([f"{envelope.template}.{envelope.language}.txt",
                                             f"{envelope.template}.txt", f"{envelope.template}.zh-CN.txt"])
        # a template of one language gets the footer and times in it; a bilingual one keeps both ("both")
        lang = next((code for code in i18n.LANGUAGES if str(template.name).endswith(f".{code}.txt")), "both")
        text = template.render(**{"lang": lang, **context})
        subject, _, body = text.partition("\n")
        message = EmailMessage(policy=POLICY)
        message["From"] = _header("From", self.facade.settings.smtp_from)
        message["To"] = envelope.to_addr
        message["Subject"] = subject.removeprefix("Subject:").strip()
        # when it was written, in Beijing time (RFC 5322 requires it; mail clients sort and show by it)
        message["Date"] = email.utils.format_datetime(self.facade.clock.now().astimezone(SHANGHAI))
        # The same Message-ID on every attempt lets mail systems drop a duplicate after a crash mid-send; a
        # customer's mail refers to the ticket's earlier ones, so replies thread and come back to the ticket.
        headers = dict(parts["headers"])
        if envelope.message_id:  # fixed at the first claim: a change of secret or sender domain keeps it
            headers["Message-ID"] = envelope.message_id
        for header, value in headers.items():
            message[header] = value
        # Marks our mail: if it ever comes back to the support mailbox unchanged (a forwarding rule, a mailbox
        # that lists the support address), mail-in sets it aside as a loop (engine/inbound.skip_reason).
        message["X-Aftercare"] = _header("X-Aftercare", "outbox")
        message.set_content(body.lstrip("\n"), cte="8bit")  # links stay readable in any mail dump
        for attachment_id in context.get("attachment_ids") or []:  # a staff reply's files
            self._attach(message, attachment_id)
        if envelope.template == "monthly_report" and context.get("report"):
            report = context["report"]  # the customer's copy: never the internal note
            message.add_attachment(monthly_report_pdf(report), maintype="application", subtype="pdf",
                                   filename=f"月度服务报告-{report['month']}.pdf")
        return message

    def _attach(self, message: EmailMessage, attachment_id: int) -> None:
        found = self.facade.get_attachment(attachment_id=attachment_id)
        maintype, _, subtype = str(found["content_type"]).partition("/")
        message.add_attachment(found["data"], maintype=maintype or "application", subtype=subtype or "octet-stream",
                               filename=found["filename"])

    def _context(self, envelope: Envelope, parts: dict[str, Any]) -> dict[str, Any]:
        context = dict(envelope.context)
        ticket_id = context.get("ticket_id")
        context["ticket"] = parts["ticket"]
        if ticket_id and context["ticket"].get("category") == "inspection":
            context["report"] = self.facade.inspection_report(ticket_id=ticket_id, actor=SYSTEM)
        elif ticket_id and context["ticket"].get("category") == "monthly_report":
            context["report"] = self.facade.monthly_report_for_ticket(ticket_id=ticket_id)
        context["base_url"] = self.facade.settings.base_url.rstrip("/")
        token = parts["link_token"]
        context["link"] = f"{context['base_url']}/c/{token}" if token else None
        if ticket_id:
            context["status_link"] = f"{context['base_url']}/s/{self.facade.status_token(ticket_id=ticket_id)}"
        if envelope.template == "my_sign_in":  # the token is derived here, never stored in the outbox
            token = self.facade.contacts.sign_in_token(contact_id=int(context["contact_id"]),
                                                       expires_at=str(context["expires_at"]))
            if token is None:
                raise ValueError("the contact is no longer active")
            context["sign_in_link"] = f"{context['base_url']}/my/in/{token}"
        context.setdefault("level", None)
        context.setdefault("reason", "")
        return context

    def send_pending(self, limit: int = 20) -> int:
        """Send every due message once; failures go back to the queue with backoff. Returns sent count."""
        leased_at = self.facade.clock.now()  # before the claim: its leases run at least `lease` from here
        if not self.keep_open:
            envelopes = self.facade.claim_outbox(limit=limit)
            return asyncio.run(self._send_all(envelopes, leased_at)) if envelopes else 0
        with self._passes:
            envelopes = self.facade.claim_outbox(limit=limit)
            if not envelopes:
                if self._relay is not None and time.monotonic() - self._last_sent >= self.keep_open:
                    self._close()  # idle long enough: QUIT rather than wait for the server to time it out
                return 0
            if self._runner is None:
                self._runner = asyncio.Runner()
            if self._relay is None:
                self._relay = _Relay(self.facade.settings.smtp_host, self.facade.settings.smtp_port)
            try:
                return self._runner.run(self._send_all(envelopes, leased_at, self._relay))
            finally:
                self._last_sent = time.monotonic()

    def close(self) -> None:
        """End a kept SMTP connection (QUIT) and its event loop, once a pass under way is done; from any thread (one
        running an event loop of its own hands the work to a thread of its own)."""
        with self._passes:
            self._close()

    def _close(self) -> None:
        relay, runner, self._relay, self._runner = self._relay, self._runner, None, None
        if runner is None:
            return

        def shut() -> None:
            try:
                if relay is not None:
                    runner.run(relay.close())
            finally:
                runner.close()
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop running here
            shut()
            return
        closer = threading.Thread(target=shut, name="aftercare-mail-close")
        closer.start()
        closer.join(timeout=15)

    async def _send_all(self, envelopes: list[Envelope], leased_at: datetime | None = None,
                        kept: _Relay | None = None) -> int:
        """Send claimed messages in order. `leased_at`: when the claim's leases were last set, if known. Over the
        `kept` connection (left open for the next pass), else over one of this batch's own, closed at its end."""
        lease = _Lease(self.facade, envelopes, leased_at)
        relay = kept or _Relay(self.facade.settings.smtp_host, self.facade.settings.smtp_port)
        try:
            return await self._send_each(envelopes, lease, relay)
        finally:
            if kept is None:
                await relay.close()

    async def _send_each(self, envelopes: list[Envelope], lease: _Lease, relay: _Relay) -> int:
        sent = 0
        for index, envelope in enumerate(envelopes):
            try:
                message = self.render(envelope)
            except Exception as exc:  # retrying cannot fix a bad address or template
                log.error("e-mail %s cannot be built: %s", envelope.id, exc)
                self.facade.outbox_failed(message_id=envelope.id, error=f"{type(exc).__name__}: {exc}", permanent=True,
                                          token=envelope.lease_token)
                continue
            # a message is started only while still ours: the rest of the batch is renewed first, unless its own
            # lease was set less than a third of it ago (then no other sender can have taken it: it runs two thirds
            # more at least), which spares a write per message in a quick batch; one found lost stays lost
            if envelope.id in lease.lost or (not lease.fresh(envelope)
                                             and envelope.id not in await lease.renew(envelopes[index:])):
                log.warning("e-mail %s: the claim ran out and another sender took it over", envelope.id)
                continue
            try:
                await self._deliver(message, envelopes[index:], lease, relay)
            except LeaseLost:
                log.warning("e-mail %s: the claim was lost while sending; the new holder sends it", envelope.id)
                continue
            except Exception as exc:  # any failure: the row goes back to the queue, nothing is lost
                log.warning("e-mail %s to %s failed: %s", envelope.id, envelope.to_addr, exc)
                self.facade.outbox_failed(message_id=envelope.id, error=f"{type(exc).__name__}: {exc}",
                                          token=envelope.lease_token)
                continue
            self.facade.outbox_sent(message_id=envelope.id, subject=str(message["Subject"]))
            sent += 1
        return sent

    async def _deliver(self, message: EmailMessage, held: list[Envelope], lease: _Lease, relay: _Relay) -> None:
        """Hand one message to SMTP, renewing the lease every third of it while the server takes its time; a lease
        found taken over cancels the send (the connection is dropped: before the end of DATA the server then
        discards the message)."""
        sending = asyncio.ensure_future(relay.send(message))
        while True:
            done, _ = await asyncio.wait({sending}, timeout=self.facade.settings.mail_lease_seconds / 3)
            if done:
                sending.result()
                return
            try:
                if held[0].id not in await lease.renew(held):
                    raise LeaseLost(held[0].id)
            except BaseException:  # taken over, or the database could not be asked: stop the send, never leave it
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sending
                raise


class _Relay:
    """The SMTP connection of one batch, or of the worker's passes while they come within `Mailer.keep_open` of each
    other: opened for its first message and kept for the next ones (one connection and greeting, not one per message),
    dropped after any error or cancelled send; closed politely (QUIT) at the end."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.client: aiosmtplib.SMTP | None = None

    async def send(self, message: EmailMessage) -> None:
        """Send one message on the batch's connection, opening one when there is none to reuse. A kept connection is
        asked first (NOOP) whether the server still holds it (it may have closed it after a cap of messages or an idle
        timeout): if not, a new one is opened. The message itself is sent once; a failure while sending it is the
        message's (it goes back to the queue), never retried here, so nothing the server may have taken goes twice."""
        if self.client is not None:
            try:
                await self.client.noop()
            except (aiosmtplib.SMTPException, OSError):
                self._drop()
        try:
            if self.client is None:
                self.client = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=10)
                await self.client.connect()
            await self.client.send_message(message)
        except BaseException:  # a refusal, a broken connection, a send cancelled mid-DATA or while connecting
            self._drop()
            raise

    async def close(self) -> None:
        """End the connection (QUIT), if one is open."""
        if self.client is not None and self.client.is_connected:
            with contextlib.suppress(Exception):
                await self.client.quit()
        self._drop()

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


class _Lease:
    """A sender's leases on the messages of its claims: until when each is known to hold (by this process's clock),
    and renewing them. A message whose renewal did not come back is lost for good: another sender holds it."""

    def __init__(self, facade: Aftercare, envelopes: list[Envelope], set_at: datetime | None) -> None:
        self.facade = facade
        self.length = timedelta(seconds=facade.settings.mail_lease_seconds)
        self.until = {e.id: set_at + self.length for e in envelopes} if set_at is not None else {}
        self.lost: set[int] = set()

    def fresh(self, envelope: Envelope) -> bool:
        """Whether this message's lease was set less than a third of its length ago: two thirds still hold, so no
        other sender can have taken it."""
        until = self.until.get(envelope.id)
        return until is not None and self.facade.clock.now() < until - self.length * 2 / 3

    async def renew(self, held: list[Envelope]) -> set[int]:
        """Renew the leases on the messages this sender still holds, each claim by its own token (in a thread: SMTP
        keeps going meanwhile); the ids still held. Those not among them are lost and never started."""
        started = self.facade.clock.now()
        tokens: dict[str, list[int]] = {}
        for envelope in held:
            if envelope.id not in self.lost:
                tokens.setdefault(str(envelope.lease_token), []).append(envelope.id)
        kept: set[int] = set()
        for token, ids in tokens.items():
            kept |= await asyncio.to_thread(self.facade.renew_outbox_lease, ids=ids, token=token)
        for ids in tokens.values():
            for message_id in ids:
                if message_id in kept:
                    self.until[message_id] = started + self.length
                else:
                    self.until.pop(message_id, None)
                    self.lost.add(message_id)
        return kept


class LeaseLost(Exception):
    """Another sender holds the message now: this one's lease ran out."""
