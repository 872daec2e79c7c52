"""Files on a ticket."""
from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import defer

from ..attachments import attachment_dict, check_size, clean_content_type, clean_filename, refuse_if_frozen
from ..errors import NotFound
from ..models import Attachment, Ticket, TimelineEvent
from ..users import Actor
from .base import Service


class AttachmentService(Service):
    """Files on a ticket."""

    def add_attachment(self, *, ticket_id: int, filename: str, content_type: str | None, data: bytes,
                       actor: Actor) -> dict[str, Any]:
        """Store a file with a ticket and note it on the timeline."""
        check_size(data)
        with self.uow() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            refuse_if_frozen(ticket)
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
