"""Attachments: files staff add to a ticket (screenshots, logs), stored in the database beside it."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import defer

from .clock import Clock
from .errors import NotFound, ValidationFailed
from .models import Attachment, Ticket, TimelineEvent
from .queries import iso
from .uow import UnitOfWork
from .users import Actor

MAX_BYTES = 10 * 1024 * 1024
MAX_NAME = 255
TOO_LARGE = "文件过大（最大 10 MB）file too large (max 10 MB)"
EMPTY = "文件为空 file is empty"
FALLBACK_NAME = "attachment"
FALLBACK_TYPE = "application/octet-stream"
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
# Bidi overrides and isolates can make "exe.txt" read as "txt.exe"; they are format characters, not controls.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}


def clean_filename(raw: str) -> str:
    """The basename of `raw` without control characters, at most 255 characters, never empty."""
    name = re.split(r"[/\\]", raw or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc" and ch not in _BIDI).strip()
    if name in ("", ".", ".."):
        return FALLBACK_NAME
    if len(name) <= MAX_NAME:
        return name
    stem, dot, suffix = name.rpartition(".")
    if dot and stem and len(suffix) <= 16:  # keep the extension: it tells the reader what the file is
        return stem[: MAX_NAME - len(suffix) - 1] + "." + suffix
    return name[:MAX_NAME]


def clean_content_type(raw: str | None) -> str:
    """The bare media type the browser sent (no parameters), or application/octet-stream if it is not one."""
    media_type = (raw or "").split(";", 1)[0].strip().lower()
    if len(media_type) > 100 or not _MEDIA_TYPE.fullmatch(media_type):
        return FALLBACK_TYPE
    return media_type


def check_size(data: bytes) -> None:
    """Refuse an empty file or one over 10 MiB."""
    if not data:
        raise ValidationFailed(EMPTY, [{"field": "file", "message": EMPTY}])
    if len(data) > MAX_BYTES:
        raise ValidationFailed(TOO_LARGE, [{"field": "file", "message": TOO_LARGE}])


def attachment_dict(row: Attachment, *, with_data: bool = False) -> dict[str, Any]:
    """An attachment as the surfaces show it; the bytes only when asked for."""
    result: dict[str, Any] = {
        "id": row.id, "ticket_id": row.ticket_id, "filename": row.filename, "content_type": row.content_type,
        "size": row.size, "sha256": row.sha256, "uploaded_by": row.uploaded_by, "created_at": iso(row.created_at)}
    if with_data:
        result["data"] = row.data
    return result


class AttachmentVerbs:
    """Attachment verbs of the facade."""

    uow: UnitOfWork
    clock: Clock

    def add_attachment(self, *, ticket_id: int, filename: str, content_type: str | None, data: bytes,
                       actor: Actor) -> dict[str, Any]:
        """Store a file with a ticket and note it on the timeline."""
        check_size(data)
        with self.uow() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            now = self.clock.now()
            row = Attachment(ticket_id=ticket.id, filename=clean_filename(filename), size=len(data),
                             content_type=clean_content_type(content_type), data=data, uploaded_by=actor.name,
                             sha256=hashlib.sha256(data).hexdigest(), created_at=now)
            session.add(row)
            session.add(TimelineEvent(ticket_id=ticket.id, instance_id=ticket.instance_id, at=now,
                                      kind="attachment_added", actor=actor.name,
                                      data={"filename": row.filename, "size": row.size}))
            session.flush()
            return attachment_dict(row)

    def list_attachments(self, *, ticket_id: int) -> list[dict[str, Any]]:
        """A ticket's attachments, oldest first, without their bytes."""
        query = (select(Attachment).options(defer(Attachment.data, raiseload=True))
                 .where(Attachment.ticket_id == ticket_id).order_by(Attachment.created_at, Attachment.id))
        with self.uow(write=False) as session:
            return [attachment_dict(row) for row in session.scalars(query)]

    def get_attachment(self, *, attachment_id: int) -> dict[str, Any]:
        """One attachment with its bytes."""
        with self.uow(write=False) as session:
            row = session.get(Attachment, attachment_id)
            if row is None:
                raise NotFound("no such attachment", attachment_id=attachment_id)
            return attachment_dict(row, with_data=True)
