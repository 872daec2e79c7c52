"""Side effects that diagram scripts ask for; applied to the database by the command that ran them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROLES = ("service_desk", "engineer", "expert", "manager", "product", "process_owner", "admin")
CUSTOMER_LANE = "customer"
BREACH_KINDS = ("triage", "response", "resolve", "callback", "answer")


@dataclass
class Effects:
    """What scripts did during one unit of work, in order."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)
    escalations: list[tuple[int, list[str], str]] = field(default_factory=list)
    emails: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    status: str | None = None
    # ("pause", timer variables) / ("resume", paused working hours, {variable: new value}), see engine/waiting.py
    clock: list[tuple[Any, ...]] = field(default_factory=list)
    paused: bool = False  # the ticket's resolve clock stands (waiting for the customer): as loaded, then as paused here

    def functions(self) -> dict[str, Callable[..., Any]]:
        """The functions diagrams call, bound to this collector."""
        return {
            "log_event": self.log_event,
            "record_breach": self.record_breach,
            "escalate": self.escalate,
            "notify_role": self.notify_role,
            "notify_customer": self.notify_customer,
            "set_status": self.set_status,
            "open_ticket": self.open_ticket,
            "pause_sla": self.pause_sla,
            "resume_sla": self.resume_sla,
            "sla_paused": self.sla_paused,
        }

    def log_event(self, kind: str, **data: Any) -> None:
        """Add an event to the ticket's timeline."""
        self.events.append((str(kind), _plain(data)))

    def record_breach(self, kind: str) -> None:
        """Record that an SLA deadline was missed (once per kind and ticket)."""
        if kind not in BREACH_KINDS:
            raise ValueError(f"unknown breach kind {kind!r}; use one of {', '.join(BREACH_KINDS)}")
        self.breaches.append(kind)

    def escalate(self, level: int, roles: list[str], reason: str = "") -> None:
        """Escalate to `roles` at `level` (1 warning, 2 breach, 3 management), once per level."""
        _check_roles(roles)
        self.escalations.append((int(level), list(roles), str(reason)))

    def notify_role(self, role: str, template: str, **data: Any) -> None:
        """E-mail every active user of `role`."""
        _check_roles([role])
        self.emails.append((role, str(template), _plain(data)))

    def notify_customer(self, template: str, **data: Any) -> None:
        """E-mail the ticket's contact."""
        self.emails.append((CUSTOMER_LANE, str(template), _plain(data)))

    def open_ticket(self, title: str, description: str = "", ref: Any = None) -> None:
        """Open a maintenance request for the same customer, linked to this case's ticket (`ref` names
        what it came from, e.g. the index of an inspection risk)."""
        title = str(title).strip()
        if not title:
            raise ValueError("open_ticket needs a title")
        self.tickets.append({"title": title[:300], "description": str(description), "ref": ref})

    def pause_sla(self, *variables: str) -> None:
        """Pause the ticket's resolve clock: the waiting timers whose date is one of `variables` stop."""
        names = tuple(str(v) for v in variables)
        if not names or not all(n.isidentifier() for n in names):
            raise ValueError("pause_sla needs the names of the deadline variables its timers read, e.g. 'resolve_due'")
        self.clock.append(("pause", names))
        self.paused = True

    def resume_sla(self, paused_hours: float, **deadlines: Any) -> None:
        """Resume the clock after `paused_hours` of working time; the timers reading each deadline variable named
        here move to its new value (the script has already moved the variables themselves)."""
        hours = float(paused_hours)
        if hours < 0:
            raise ValueError("resume_sla: paused_hours must not be negative")
        self.clock.append(("resume", hours, {k: str(v) for k, v in deadlines.items() if v}))
        self.paused = False

    def sla_paused(self) -> bool:
        """Whether the ticket's resolve clock stands: a step waits for the customer (pause_sla until resume_sla).
        E.g. no routine progress e-mail then: the customer knows the next move is theirs."""
        return self.paused

    def set_status(self, status: str) -> None:
        """Set the ticket status explicitly."""
        self.status = str(status)


def _check_roles(roles: list[str]) -> None:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {', '.join(ROLES)}")


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Keep event data JSON-friendly."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[key] = value if isinstance(value, str | int | float | bool | type(None) | list | dict) else str(value)
    return out
