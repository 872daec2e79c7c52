"""What every new ticket must carry, whichever procedure it starts: a known channel, a plain e-mail address for
the contact (customers are written to there) and a title. Shared by the services that open tickets."""
from __future__ import annotations

from email.utils import parseaddr
from typing import Any

CHANNELS = ("web", "phone", "email", "wechat")
REQUIRED = "此项必填 This field is required"
LIMITS = {"title": 300, "contact_email": 320, "contact_name": 200}  # the ticket's columns (models.Ticket)


def is_address(text: str) -> bool:
    """One plain address: no display name, no list, no header-breaking characters."""
    name, address = parseaddr(text)
    if name or address != text.strip() or any(c in text for c in ",;\r\n<>\"") or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    return bool(local) and "." in domain and not domain.startswith(".") and not domain.endswith(".")


def field_errors(*, channel: str, contact_email: str, title: str,
                 contact_name: str | None = None) -> list[dict[str, Any]]:
    """One {field, message} per field that a new ticket cannot have (messages in Chinese, then English)."""
    errors = []
    if channel not in CHANNELS:
        errors.append({"field": "channel", "message": f"请选择渠道 Must be one of {', '.join(CHANNELS)}"})
    if not is_address(contact_email) or len(contact_email) > LIMITS["contact_email"]:
        errors.append({"field": "contact_email", "message": "邮箱地址无效 Not an e-mail address"})
    if not title.strip():
        errors.append({"field": "title", "message": REQUIRED})
    for field, value in (("title", title), ("contact_name", contact_name or "")):
        if len(value) > (limit := LIMITS[field]):
            errors.append({"field": field, "message": f"最多 {limit} 个字符 At most {limit} characters"})
    return errors
