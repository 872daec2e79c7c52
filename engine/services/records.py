"""The printed records of a ticket: the change and extension development service form."""
from __future__ import annotations

from typing import Any

from ..errors import NotFound
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
