"""Reads for the task list, task pages, ticket pages and e-mails: projections only, except where said."""
from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import select

from .. import forms, kb, mail_context, repository
from ..effects import Effects
from ..errors import Conflict, NotFound
from ..models import HumanTask, Instance, Ticket
from ..queries import open_task_for, previous_answer, task_dict, ticket_detail
from ..users import Actor, visible_lanes
from .base import Service


class ReadService(Service):
    """Reads for the task list, task pages, ticket pages and e-mails: projections only, except where said."""

    def get_ticket(self, *, ticket_id: int, actor: Actor) -> dict[str, Any]:
        """One ticket in full."""
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            return ticket_detail(session, ticket)

    def list_tasks(self, *, actor: Actor, role: str | None = None,
                   ticket_id: int | None = None) -> list[dict[str, Any]]:
        """Open tasks the actor may work on, optionally narrowed to a role or a ticket."""
        lanes = visible_lanes(actor.role)
        if role is not None:
            lanes = [role] if lanes is None or role in lanes else []
        with self.uow(write=False) as session:
            rows = repository.open_tasks(session, roles=lanes, ticket_id=ticket_id)
            return [task_dict(r) for r in rows]

    def get_task(self, *, task_id: str, actor: Actor) -> dict[str, Any]:
        """One open task with its form schema."""
        with self.uow(write=False) as session:
            row = open_task_for(session, task_id, actor)
            instance = session.get(Instance, row.instance_id)
            form = self.kernel.form(session, instance.version_id, row.form_key) if instance else {}
            form = forms.with_previous_answer(form, kb.form_prefill(session, row) or previous_answer(session, row))
            if forms.staff_fields(form):
                form = forms.with_staff_options(form, repository.active_staff(session))
            return {**task_dict(row), "form": form}

    def form_choices(self, *, process_id: str, form_key: str, field: str) -> list[str]:
        """The choices (`oneOf` consts) a field offers in the newest deployed version of a process's form, e.g. the
        kinds of change of the change assessment, which a contract's free-maintenance scope lists."""
        with self.uow(write=False) as session:
            version = repository.latest_version(session, process_id)
            if version is None:
                return []
            form = self.kernel.form(session, version.id, form_key)
            options = form.get("properties", {}).get(field, {}).get("oneOf", [])
            return [str(o["const"]) for o in options if "const" in o]

    def task_forms(self, *, ticket_id: int) -> dict[str, dict[str, Any]]:
        """The form schema of every step this ticket's case has reached, by task id (the timeline's field titles)."""
        with self.uow(write=False) as session:
            steps = session.execute(select(HumanTask.bpmn_id, HumanTask.form_key, Instance.version_id).distinct()
                                    .join(Instance, Instance.id == HumanTask.instance_id)
                                    .where(HumanTask.ticket_id == ticket_id, HumanTask.form_key.is_not(None))).all()
            found: dict[str, dict[str, Any]] = {}
            for bpmn_id, form_key, version_id in steps:
                with contextlib.suppress(NotFound):  # a form missing from a deployment leaves its fields unlabelled
                    found[bpmn_id] = self.kernel.form(session, version_id, form_key)
            return found

    def task_variables(self, *, task_id: str, actor: Actor) -> dict[str, Any]:
        """The case variables as the open task sees them: what its instructions (from the diagram) are rendered
        with. Reads the case itself, so only the task page asks for it, never the task list."""
        with self.uow(write=False) as session:
            row = open_task_for(session, task_id, actor)
            instance = session.get(Instance, row.instance_id)
            if instance is None:
                return {}
            wf = self.kernel.load_case(session, instance, Effects(), for_update=False)
            try:
                return dict(self.runtime.ready_task(wf, task_id).data)
            except Conflict:
                return {}

    def ticket_for_mail(self, *, ticket_id: int) -> dict[str, Any]:
        """Ticket facts an e-mail template may use (no timeline, no internal notes), read narrowly."""
        with self.uow(write=False) as session:
            return mail_context.ticket_facts(session, ticket_id)

    def worklist(self, *, actor: Actor, query: Any) -> Any:
        """A page of the staff task list."""
        from ..worklist import worklist

        with self.uow(write=False) as session:
            return worklist(session, actor, query, self.clock.now())
