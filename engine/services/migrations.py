"""Moving running cases from one version of a procedure to another: a dry run first, then the move, each case in
a unit of work of its own, so a case that cannot move (or fails to) is left exactly as it was."""
from __future__ import annotations

from typing import Any

from .. import repository
from ..errors import NotFound, ValidationFailed
from ..migration import MigrationRefused, assess, migrate
from ..models import Instance, ProcessVersion
from ..projection import event
from ..users import Actor
from .base import Service


class MigrationService(Service):
    """Process owners move running cases in bulk; each moved case's timeline says so."""

    def migrate_cases(self, *, process_id: str, from_version: int, to_version: int, dry_run: bool, actor: Actor,
                      ticket_ids: list[int] | None = None, limit: int | None = None) -> dict[str, Any]:
        """Every running case of `from_version` (or of `ticket_ids` among them, at most `limit`): whether it can
        move to `to_version` and why not; unless `dry_run`, move those that can. `moved` counts the cases moved."""
        source_id, target_id, instance_ids = self._plan(process_id, from_version, to_version, ticket_ids, limit)
        cases = [self._one(instance_id, source_id, target_id, dry_run=dry_run, actor=actor,
                           versions=(from_version, to_version)) for instance_id in instance_ids]
        return {"cases": cases, "moved": sum(1 for c in cases if c.get("moved"))}

    def _plan(self, process_id: str, from_version: int, to_version: int, ticket_ids: list[int] | None,
              limit: int | None) -> tuple[int, int, list[int]]:
        if from_version == to_version:
            raise ValidationFailed("nothing to migrate", [{"field": "to_version", "message":
                                   "目标版本与来源版本相同 The target version is the version the cases run on"}])
        with self.uow(write=False) as session:
            source, target = (repository.version_of(session, process_id, n) for n in (from_version, to_version))
            for wanted, found in ((from_version, source), (to_version, target)):
                if found is None:
                    raise NotFound(f"{process_id} has no version {wanted}", process_id=process_id, version=wanted)
            assert source is not None and target is not None
            ids = repository.running_instance_ids(session, source.id)
            if ticket_ids is not None:
                wanted_ids = set(ticket_ids)
                ids = [i for i in ids if (t := repository.ticket_by_instance(session, i)) and t.id in wanted_ids]
            return source.id, target.id, ids[:limit] if limit else ids

    def _one(self, instance_id: int, source_id: int, target_id: int, *, dry_run: bool, actor: Actor,
             versions: tuple[int, int]) -> dict[str, Any]:
        """One case, in its own unit of work."""
        with self.uow(write=not dry_run) as session:
            instance = repository.lock_instance(session, instance_id) if not dry_run else session.get(
                Instance, instance_id)
            ticket = repository.ticket_by_instance(session, instance_id)
            result: dict[str, Any] = {"ticket_id": ticket.id if ticket else None,
                                      "number": ticket.number if ticket else None, "movable": False, "reason": ""}
            if instance is None or instance.status != "running" or instance.version_id != source_id:
                return {**result, "reason": "the case moved on meanwhile", "reason_zh": "工单已在此期间变化"}
            target = session.get(ProcessVersion, target_id)
            assert target is not None
            self.runtime.library.ensure(target.spec_hash, lambda: repository.spec_json(session, target.spec_hash))
            spec, subs = self.runtime.library.get(target.spec_hash)
            effects = self.kernel.effects_for(ticket)
            wf = self.kernel.load_case(session, instance, effects, for_update=not dry_run)
            verdict = assess(wf, spec, subs, version=versions[1])
            result.update(movable=verdict.movable, reason=verdict.reason, reason_zh=verdict.reason_zh)
            if dry_run or not verdict.movable:
                return result
            try:
                moved = migrate(wf, spec, subs, runtime=self.runtime, spec_hash=target.spec_hash,
                                version=versions[1])
            except MigrationRefused as exc:
                session.rollback()
                return {**result, "movable": False, "reason": exc.reason, "reason_zh": exc.reason_zh}
            instance.version_id = target.id
            event(session, ticket, instance, self.clock.now(), "case_migrated", actor.name,
                  {"procedure": target.name, "from_version": versions[0], "to_version": versions[1]})
            self.kernel.save(session, self.kernel.ctx(actor), instance, ticket, moved, effects, [])
            return {**result, "moved": True}
