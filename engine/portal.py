"""What customers do without an account: submit a ticket from the portal, follow its status, rate the service."""
from __future__ import annotations

from typing import Any

from .models import TimelineEvent
from .queries import iso
from .users import Actor

PORTAL = Actor("portal", "customer", "customer")
PUBLIC_EVENTS = {"ticket_created", "sla_deadline_set", "task_completed", "rejected", "auto_accepted", "reopened",
                  "archived", "progress_update"}


def public_event(event: TimelineEvent) -> dict[str, Any]:
    data = event.data or {}
    label = data.get("title") if event.kind == "task_completed" else None
    return {"at": iso(event.at), "kind": event.kind, "step": label}
