"""Whether a staff notice held for a digest was already dealt with by the time the digest goes out.

A digest gathers a recipient's notices of the last few minutes (engine/notifications.py). Some are settled by then:
the new task was done or taken by a colleague, the parked case runs again, the notice of a case that could not
start was cleared, the step got its due time, the ticket was closed. The digest still lists them, marked and after
the others, so nobody chases what is done and nothing vanishes unseen.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from . import rows
from .incident_notices import DUE_FAILED, START_FAILED, open_start_notice
from .incidents import INCIDENT
from .models import HumanTask, Instance, Ticket

# notices about a ticket's deadlines: moot once the ticket is closed
_DEADLINES = ("deadline_breached", "escalation", "manual_escalation", "triage_overdue", "response_overdue",
              "callback_overdue")
_CLOSED = ("closed", "archived")
# what settling reads (for every staff notice the sender takes out): built once
_TASKS = select(HumanTask.id, HumanTask.state, HumanTask.assignee, HumanTask.due_at).where(
    HumanTask.id.in_(bindparam("ids", expanding=True)))
_CASES = select(Ticket.id, Ticket.status, Instance.status.label("case_status")).outerjoin(
    Instance, Instance.id == Ticket.instance_id).where(Ticket.id.in_(bindparam("ids", expanding=True)))


def settle(session: Session, items: list[dict[str, Any]], recipient: str) -> None:
    """Mark each digest item that no longer needs doing with `settled` (done, taken, resumed, cleared or closed;
    `taken_by` names who took a task), reading each kind's rows once."""
    task_ids = {str(i["data"].get("task_id")) for i in items
                if i["template"] in ("task_arrived", DUE_FAILED) and i["data"].get("task_id")}
    tasks = {row.id: row for row in rows.read(session, _TASKS, {"ids": sorted(task_ids)})} if task_ids else {}
    ticket_ids = {i["ticket_id"] for i in items if i["ticket_id"] is not None
                  and (i["template"] in _DEADLINES or i["template"] == "incident")}
    cases = {row.id: row for row in rows.read(session, _CASES, {"ids": sorted(ticket_ids)})} if ticket_ids else {}
    for item in items:
        data, template = item["data"], item["template"]
        task = tasks.get(str(data.get("task_id")))
        case = cases.get(item["ticket_id"])
        if template == "task_arrived" and task is not None:
            if task.state != "open":
                item["settled"] = "done"
            elif task.assignee and task.assignee != recipient:
                item["settled"], item["taken_by"] = "taken", task.assignee
        elif template == DUE_FAILED and task is not None:
            if task.state != "open":
                item["settled"] = "done"
            elif task.due_at is not None:
                item["settled"] = "cleared"
        elif template == "incident" and case is not None and case.case_status not in (None, INCIDENT):
            item["settled"] = "resumed"
        elif template in _DEADLINES and case is not None and case.status in _CLOSED:
            item["settled"] = "closed"
        elif template == START_FAILED and data.get("process_id") and data.get("version") is not None \
                and open_start_notice(session, str(data["process_id"]), int(data["version"]), data.get("element")) \
                is None:
            item["settled"] = "cleared"
