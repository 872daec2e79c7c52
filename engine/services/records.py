"""The printed records of a ticket: the change and extension development service form."""
from __future__ import annotations

from typing import Any

from ..errors import NotFound
from ..fault_record import fault_record
from ..kernel import MAIN_PROCESS
from ..models import Ticket
from ..records import change_record
from ..users import Actor
from .base import Service


class RecordService(Service):
    """The printed records of a ticket: the change and extension development service form."""

    def change_form(self, *, ticket_id: int, actor: Actor) -> dict[str, Any]:
        """The change and extension development service form (客户需求变更及扩展开发服务单) of a change ticket."""
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None or ticket.category != "change":
                raise NotFound("no change request for this ticket", ticket_id=ticket_id)
            return {**change_record(session, ticket), "generated_at": self.clock.now().isoformat()}

    def fault_form(self, *, ticket_id: int, actor: Actor) -> dict[str, Any]:
        """The fault handling form (故障处理单) of a maintenance request (a fault, or a usage question)."""
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id)
            record = fault_record(session, ticket) if ticket is not None and ticket.category != "change" else None
            if record is None or record["process_id"] != MAIN_PROCESS:
                raise NotFound("no fault handling form for this ticket", ticket_id=ticket_id)
            return {**record, "generated_at": self.clock.now().isoformat()}
