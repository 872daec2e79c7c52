"""SLA what-if: replay the last days' tickets against a candidate SLA decision table before deploying it."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from ..errors import InvalidProcess, ValidationFailed
from ..kernel import MAIN_PROCESS
from ..models import Contract, Instance, Ticket
from ..sla_replay import TicketFacts, breach_flags, parse_candidate, replay
from .base import Service

MAX_DAYS = 366


class ReplayService(Service):
    """Reads tickets and their contracts; the replay itself is engine/sla_replay.py."""

    def replay_sla(self, *, files: dict[str, str], days: int) -> dict[str, Any]:
        """How many tickets of the last `days` days would have breached under the candidate table in `files`
        against what happened, overall and by category and severity."""
        if not 1 <= days <= MAX_DAYS:
            raise ValidationFailed("days out of range", [{"field": "days", "message":
                                   f"天数须在 1 到 {MAX_DAYS} 之间 Give between 1 and {MAX_DAYS} days"}])
        tables = [name for name in files if name.endswith(".dmn")]
        if len(tables) != 1:
            raise InvalidProcess([{"file": ", ".join(sorted(files)) or "(none)", "element_id": None, "line": None,
                                   "message": "upload exactly one candidate SLA table (.dmn)",
                                   "message_zh": "请上传且仅上传一个候选 SLA 决策表（.dmn）"}])
        candidate = parse_candidate(files[tables[0]], tables[0])
        now = self.clock.now()
        return {**replay(candidate, self._facts(now - timedelta(days=days)), now), "days": days}

    def _facts(self, since: Any) -> list[TicketFacts]:
        """The maintenance requests opened since `since` (the procedure that looks the SLA table up: inspections
        and other procedures are not measured by it), with their triage facts and their contract's overrides."""
        with self.uow(write=False) as session:
            rows = session.execute(select(Ticket, Contract.sla_overrides)
                                   .join(Instance, Instance.id == Ticket.instance_id)
                                   .outerjoin(Contract, Contract.id == Ticket.contract_id)
                                   .where(Ticket.created_at >= since,  # untriaged ones too: counted as left out
                                          Instance.process_id == MAIN_PROCESS)
                                   .order_by(Ticket.created_at)).all()
            return [_facts(ticket, overrides or {}) for ticket, overrides in rows]


def _facts(ticket: Ticket, overrides: dict[str, Any]) -> TicketFacts:
    response, resolve = breach_flags(ticket.breaches or [])
    return TicketFacts(id=ticket.id, number=ticket.number, created_at=ticket.created_at, category=ticket.category,
                       severity=ticket.severity, tier=ticket.tier, onsite=ticket.onsite, sla_overrides=overrides,
                       responded_at=ticket.responded_at, resolved_at=ticket.resolved_at,
                       actual_response_breached=response, actual_resolve_breached=resolve,
                       closed_at=ticket.closed_at, paused_seconds=ticket.paused_seconds or 0,
                       paused_at=ticket.paused_at)
