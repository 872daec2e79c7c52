"""Attachments: files staff add to a ticket (screenshots, logs), stored in the database beside it."""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from .errors import Conflict, ValidationFailed
from .models import Attachment, Ticket
from .queries import iso

MAX_BYTES = 10 * 1024 * 1024
MAX_NAME = 255
TOO_LARGE = "文件过大（最大 10 兆字节） File too large (max 10 MB)"  # "中文 English": pages show their half
EMPTY = "文件为空 The file is empty"
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


FROZEN = {"archived": "This ticket is archived: its record is frozen and takes no more files.",
          "closed": "This ticket is closed and takes no more files; open a follow-up ticket from its page."}


def refuse_if_frozen(ticket: Ticket) -> None:
    """Refuse new files on a ticket whose case is over: an archived ticket's record (the 故障处理单 the customer
    signed off) is frozen, and a closed one has no step left that would read them."""
    if ticket.status in FROZEN:
        raise Conflict(FROZEN[ticket.status], ticket_id=ticket.id, status=ticket.status)


def attachment_dict(row: Attachment, *, with_data: bool = False) -> dict[str, Any]:
    """An attachment as the surfaces show it; the bytes only when asked for."""
    result: dict[str, Any] = {
        "id": row.id, "ticket_id": row.ticket_id, "filename": row.filename, "content_type": row.content_type,
        "size": row.size, "sha256": row.sha256, "uploaded_by": row.uploaded_by, "created_at": iso(row.created_at)}
    if with_data:
        result["data"] = row.data
    return result


