"""Inbound e-mail, read: parse what the support mailbox forwarded, tell mail a person wrote from auto-replies,
bounces and our own mail coming back, find the ticket a reply belongs to, and cut the quoted history from a reply.

Pure functions over bytes and strings; the service (engine/services/inbound.py) does the storing.
"""
from __future__ import annotations

import email
import hashlib
import re
from dataclasses import dataclass, field
from email import errors as email_errors
from email import policy
from email.message import EmailMessage, MIMEPart
from email.utils import getaddresses

from inscriptis import get_text
from inscriptis.model.config import ParserConfig

from .attachments import clean_content_type, clean_filename

LEGACY_DOMAIN = "aftercare.local"  # Message-IDs the outbox gave before engine/conversation.py's signed ones
MAX_ID = 300  # InboundMail.message_id and Message.email_message_id
MAX_SUBJECT = 500
MAX_TITLE = 300  # Ticket.title
MAX_BODY = 100_000
NO_SUBJECT = "（无主题）(no subject)"
# any ticket number Aftercare gives: AC-2026-000123, XJ-..., YB-... (engine/kernel.py start_case)
TICKET_NUMBER = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2,5}-\d{4}-\d{6})(?!\d)")
_MSGID = re.compile(r"<[^<>\s]+>")
MAX_ROW_ID = 2**31 - 1  # the largest id a row can have (the id columns are 32-bit integers on PostgreSQL)
# up to 10 digits, so int() stays cheap; outbox_ids() drops what is beyond MAX_ROW_ID (no row has it)
_OUTBOX_ID = re.compile(r"[.<]outbox-(\d{1,10})@" + re.escape(LEGACY_DOMAIN) + ">$")
# Defects that mean the message is not one message: cut off mid-part, or no header block at all.
_FATAL_DEFECTS = (email_errors.NoBoundaryInMultipartDefect, email_errors.StartBoundaryNotFoundDefect,
                  email_errors.CloseBoundaryNotFoundDefect, email_errors.MultipartInvariantViolationDefect,
                  email_errors.MissingHeaderBodySeparatorDefect)
BOUNCE_SENDERS = ("mailer-daemon", "postmaster")
AUTO_SUBJECTS = re.compile(r"^\s*(自动回复|自动答复|auto(matic)?[ -]?reply|auto[ -]?response|out of (the )?office|"
                           r"休假|不在办公室)\s*[:：]?", re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|sv|回复|答复|转发)\s*[:：]\s*)+", re.IGNORECASE)


class MalformedMail(Exception):
    """The bytes are not one readable e-mail; `reason` says why (it goes back in the SMTP reply)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ParsedMail:
    """What Aftercare needs of one e-mail."""

    message_id: str  # the Message-ID, or one made from the content's hash when the mail has none
    from_addr: str  # lower-case
    from_name: str
    subject: str
    references: list[str]  # In-Reply-To first, then References, newest first
    text: str  # the body as text (HTML-only mail converted), history not yet cut
    html_only: bool
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # (filename, content type, bytes)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names of the headers classify() reads
    is_report: bool = False  # a delivery-status or disposition report


def parse(raw: bytes) -> ParsedMail:
    """Read one RFC 5322 message; MalformedMail when it cannot be read as one."""
    if not raw.strip():
        raise MalformedMail("empty message")
    try:
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return _read(msg, raw)
    except MalformedMail:
        raise
    except Exception as exc:  # the header parser has corner cases that raise instead of recording a defect
        raise MalformedMail(f"unreadable message ({type(exc).__name__})") from exc


def _read(msg: EmailMessage, raw: bytes) -> ParsedMail:
    for part in msg.walk():
        fatal = [d for d in part.defects if isinstance(d, _FATAL_DEFECTS)]
        if fatal:
            raise MalformedMail(f"broken MIME structure ({type(fatal[0]).__name__})")
    name, address = _sender(msg)
    text, html_only, body_parts = _body(msg)
    watched = ("auto-submitted", "precedence", "x-autoreply", "x-autorespond", "x-auto-response-suppress",
               "x-aftercare", "return-path", "list-id", "x-loop")
    headers = {h: _header(msg, h) for h in watched if msg.get(h) is not None}
    headers.update({k.lower(): _header(msg, k) for k in msg if k.lower().startswith("x-aftercare")})
    return ParsedMail(message_id=_message_id(msg, raw), from_addr=address, from_name=name,
                      subject=_header(msg, "subject")[:MAX_SUBJECT], references=_references(msg), text=text,
                      html_only=html_only, attachments=_attachments(msg, body_parts), headers=headers,
                      is_report=msg.get_content_type() == "multipart/report"
                      or any(p.get_content_type() in ("message/delivery-status", "message/disposition-notification")
                             for p in msg.walk()))


def _header(msg: EmailMessage, name: str) -> str:
    value = msg.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _sender(msg: EmailMessage) -> tuple[str, str]:
    raw_from = msg.get_all("from") or []
    pairs = [(n, a) for n, a in getaddresses([str(v) for v in raw_from]) if "@" in a]
    if not pairs:
        raise MalformedMail("no sender address in From")
    name, address = pairs[0]
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(c in address for c in " ,;<>\"\r\n"):
        raise MalformedMail("the From address is not an e-mail address")
    return " ".join(name.split())[:200], address.lower()[:320]


def _message_id(msg: EmailMessage, raw: bytes) -> str:
    found = _MSGID.findall(_header(msg, "message-id"))
    if found and len(found[0]) <= MAX_ID:
        return found[0]
    # no usable Message-ID: the content's hash, so that a retried delivery of the same bytes is still one mail
    return f"<sha256-{hashlib.sha256(raw).hexdigest()}@inbound.invalid>"


def _references(msg: EmailMessage) -> list[str]:
    ids = _MSGID.findall(_header(msg, "in-reply-to")) + list(reversed(_MSGID.findall(_header(msg, "references"))))
    return list(dict.fromkeys(i for i in ids if len(i) <= MAX_ID))


def _body(msg: EmailMessage) -> tuple[str, bool, list[MIMEPart]]:
    """The text to keep, whether it came from HTML alone, and the parts it was read from."""
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None:
        return normalize_text(_decoded(plain)), False, [plain]
    html = msg.get_body(preferencelist=("html",))
    if html is not None:
        return html_to_text(_decoded(html)), True, [html]
    return "", False, []


def _decoded(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, AssertionError):  # an unknown or lying charset: keep what can be read
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def html_to_text(html: str) -> str:
    """HTML mail as plain text, laid out as a reader sees it; scripts and styles are dropped, nothing is run."""
    if not html.strip():
        return ""
    try:
        text = get_text(html, ParserConfig(display_links=False, display_images=False))
    except Exception:  # lxml gives up on some byte soup: fall back to the tags stripped
        text = re.sub(r"<[^>]*>", " ", re.sub(r"(?is)<(script|style)\b.*?</\1>", "", html))
    return normalize_text(text)


def _attachments(msg: EmailMessage, body_parts: list[MIMEPart]) -> list[tuple[str, str, bytes]]:
    found: list[tuple[str, str, bytes]] = []
    for part in msg.walk():
        if part.is_multipart() or any(part is b for b in body_parts):
            continue
        content_type = part.get_content_type()
        filename = part.get_filename()
        if filename is None and content_type in ("text/plain", "text/html"):
            continue  # the other alternative of the body, not a file
        if content_type in ("message/delivery-status", "message/disposition-notification"):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else part.as_bytes()
        if not data:
            continue
        name = clean_filename(filename or f"attachment-{len(found) + 1}{_extension(content_type)}")
        found.append((name, clean_content_type(content_type), data))
    return found


def _extension(content_type: str) -> str:
    known = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "application/pdf": ".pdf",
             "message/rfc822": ".eml", "text/calendar": ".ics"}
    return known.get(content_type, ".bin")


def normalize_text(text: str) -> str:
    """Unix line ends, no trailing spaces, at most two blank lines in a row, no blank edges."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return text[:MAX_BODY]


def skip_reason(mail: ParsedMail, *, envelope_from: str | None, ours: bool = False,
                own_addresses: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(outcome, reason) when the mail must never open a ticket or become a reply, else None.

    Loops first (our own mail come back: `ours` when its Message-ID is one we gave, see
    engine/conversation.is_ours), then bounces, then auto-replies: RFC 3834 and the headers the common servers
    (Exchange, Postfix vacation, QQ and 163 mail) set.
    """
    ours = ours or bool(_OUTBOX_ID.search(mail.message_id))
    if ours or any(h.startswith("x-aftercare") for h in mail.headers) or mail.from_addr in own_addresses:
        return "loop", "our own mail came back" if ours or mail.from_addr in own_addresses \
            else "it carries an X-Aftercare header"
    local = mail.from_addr.partition("@")[0]
    null_sender = envelope_from is not None and envelope_from.strip().strip("<>") == ""
    if mail.is_report or local in BOUNCE_SENDERS or null_sender:
        return "bounce", "a delivery-status report" if mail.is_report else f"sent by {local or 'the null sender'}"
    auto = mail.headers.get("auto-submitted", "").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto_reply", f"Auto-Submitted: {auto}"
    precedence = mail.headers.get("precedence", "").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return "auto_reply", f"Precedence: {precedence}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in mail.headers:
            return "auto_reply", f"{name} header"
    if AUTO_SUBJECTS.match(mail.subject):
        return "auto_reply", "an automatic-reply subject"
    return None


def outbox_ids(references: list[str]) -> list[int]:
    """The outbox rows named by the Message-IDs of mail sent before signed ids (`<...outbox-<id>@aftercare.local>`);
    an id no row can have (beyond MAX_ROW_ID) names none, so the database is never asked about it."""
    ids = (int(m.group(1)) for ref in references if (m := _OUTBOX_ID.search(ref)))
    return [i for i in ids if 1 <= i <= MAX_ROW_ID]


def ticket_numbers(subject: str) -> list[str]:
    """The ticket numbers a subject carries, "[AC-2026-000123]" or bare, first one first."""
    return list(dict.fromkeys(TICKET_NUMBER.findall(subject)))


def ticket_title(subject: str) -> str:
    """A new ticket's title from a subject: without Re:/Fw:/回复: prefixes, never empty."""
    title = _REPLY_PREFIX.sub("", subject).strip()
    return (title or NO_SUBJECT)[:MAX_TITLE]


_QUOTE_MARKERS = [
    re.compile(r"^\s*-{2,}\s*(原始邮件|original message|forwarded message|转发邮件)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's rule above the quoted header block
    re.compile(r"^\s*on\b.{0,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*在\s*.{0,300}写道\s*[:：]\s*$", re.DOTALL),
    re.compile(r"^\s*.{0,200}于\s*.{0,100}写道\s*[:：]\s*$", re.DOTALL),
]
_HEADER_START = re.compile(r"^\s*\**\s*(发件人|from)\s*\**\s*[:：]", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*\**\s*(发送时间|时间|日期|sent|date|收件人|to|主题|subject)\s*\**\s*[:：]",
                          re.IGNORECASE)


def strip_quoted(text: str) -> str:
    """The new part of a reply: the quoted history ("On ... wrote:", "-----原始邮件-----", "发件人: ...", "> ")
    cut off. The whole text when the cut would leave nothing (a bare forward is all history)."""
    lines = text.split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        pair = line + " " + lines[i + 1] if i + 1 < len(lines) else line  # Gmail wraps "On ...\nwrote:"
        if any(m.match(line) for m in _QUOTE_MARKERS) or (_QUOTE_MARKERS[2].match(pair) and line.lower().lstrip()
                                                             .startswith("on ")):
            cut = i
            break
        if _HEADER_START.match(line) and any(_HEADER_NEXT.match(n) for n in lines[i + 1:i + 4]):
            cut = i
            break
    kept = lines[:cut]
    while kept and (kept[-1].lstrip().startswith(">") or not kept[-1].strip()):
        kept.pop()  # quoted lines the client put at the bottom, without a marker
    result = normalize_text("\n".join(kept))
    return result or normalize_text(text)
