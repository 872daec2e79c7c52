"""Incidents: the cases parked because their diagram code failed, listed for the people who fix diagrams, and
retried only when one of them says so (engine/incidents.py holds the rule)."""
from __future__ import annotations

from typing import Any

from .. import repository
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..incidents import INCIDENT, OVERSEERS, RETRIERS, describe, is_diagram_failure, listing, park_failed_case, reopen
from ..migration import MigrationRefused, migrate
from ..models import Instance, ProcessVersion
from ..projection import event
from ..users import Actor
from .base import Service


class IncidentService(Service):
    """List and retry parked cases; a retry that fails again parks the case again with the new error."""

    def list_incidents(self, *, actor: Actor, ticket_id: int | None = None) -> list[dict[str, Any]]:
        """Every parked case (or the one of `ticket_id`), oldest first; process owners, managers and admins."""
        if actor.role not in RETRIERS:
            raise Forbidden(f"role {actor.role!r} may not see incidents")
        with self.uow(write=False) as session:
            return listing(session, ticket_id=ticket_id)

    def ticket_incident(self, *, ticket_id: int) -> dict[str, Any] | None:
        """The incident of a ticket's case, if it is parked (the ticket page's banner)."""
        with self.uow(write=False) as session:
            found = listing(session, ticket_id=ticket_id, limit=1)
            return found[0] if found else None

    def retry_incident(self, *, instance_id: int, actor: Actor, to_version: int | None = None) -> dict[str, Any]:
        """Run the parked case again from where it stopped: its due timers and engine steps (on `to_version` of its
        procedure first, when given: the fixed diagram). The outcome, `status` "running" or again "incident"."""
        if actor.role not in RETRIERS:
            raise Forbidden(f"role {actor.role!r} may not retry incidents; {', '.join(OVERSEERS)} may")
        try:
            with self.uow() as session:
                instance = repository.lock_instance(session, instance_id)
                if instance is None:
                    raise NotFound("no such case", instance_id=instance_id)
                if instance.status != INCIDENT:
                    raise Conflict("this case is not parked as an incident", instance_id=instance_id)
                ticket = repository.ticket_by_instance(session, instance_id)
                now = self.clock.now()
                reopen(session, instance, ticket, actor=actor.name, now=now)
                effects = self.kernel.effects_for(ticket)
                wf = self.kernel.load_case(session, instance, effects)
                if to_version is not None:
                    wf = self._move(session, instance, ticket, wf, to_version, actor)
                fired = self.runtime.advance(wf)
                self.kernel.save(session, self.kernel.ctx(actor), instance, ticket, wf, effects, fired)
                return {"instance_id": instance_id, "ticket_id": ticket.id if ticket else None,
                        "status": instance.status, "element_id": None, "error": None}
        except Exception as exc:
            if not is_diagram_failure(exc):
                raise
            element, error = describe(exc)
            ticket_id = self._park(instance_id, element, error)
            return {"instance_id": instance_id, "ticket_id": ticket_id, "status": INCIDENT, "element_id": element,
                    "error": error}

    def _move(self, session: Any, instance: Instance, ticket: Any, wf: Any, to_version: int, actor: Actor) -> Any:
        """The case on another version of its procedure, as a workbench migration moves it."""
        source = session.get(ProcessVersion, instance.version_id)
        target = repository.version_of(session, source.process_id, to_version) if source else None
        if source is None or target is None:
            raise ValidationFailed("no such version", [{"field": "to_version",
                                                         "message": f"没有版本 {to_version} no version {to_version}"}])
        self.runtime.library.ensure(target.spec_hash, lambda: repository.spec_json(session, target.spec_hash))
        spec, subs = self.runtime.library.get(target.spec_hash)
        try:
            moved = migrate(wf, spec, subs, runtime=self.runtime, spec_hash=target.spec_hash, version=to_version)
        except MigrationRefused as exc:
            raise ValidationFailed("the case cannot move to that version", [
                {"field": "to_version", "message": f"{exc.reason_zh} {exc.reason}"}]) from None
        instance.version_id = target.id
        event(session, ticket, instance, self.clock.now(), "case_migrated", actor.name,
              {"procedure": target.name, "from_version": source.version, "to_version": to_version})
        return moved

    def _park(self, instance_id: int, element: str | None, error: str) -> int | None:
        """Park the case again in a unit of work of its own (the failed one rolled back); its ticket's id."""
        park_failed_case(self.uow, self.clock.now(), instance_id, element, error)
        with self.uow(write=False) as session:
            ticket = repository.ticket_by_instance(session, instance_id)
            return ticket.id if ticket else None
