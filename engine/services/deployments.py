"""Deployments and versions: check and store diagrams, decision tables and forms; running cases keep theirs."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from .. import repository
from ..deploy import check_files
from ..errors import InvalidProcess
from ..models import Deployment, DeploymentFile, ProcessSpec, ProcessVersion
from ..users import Actor
from .base import Service


class DeploymentService(Service):
    """Process owners' verbs: what is deployed, in which versions."""

    def deploy(self, *, files: dict[str, str], actor: Actor) -> list[dict[str, Any]]:
        """Check and store `files` over the current deployment; running cases keep their versions."""
        with self.uow() as session:
            current = repository.latest_deployment_id(session)
            merged = {f.name: f.content for f in repository.deployment_files(session, current)} if current else {}
            merged.update(files)
            bundle = check_files(merged)
            if bundle.problems:
                raise InvalidProcess(bundle.problems)
            return self._store_bundle(session, bundle, merged, actor, changed=merged != self._files_of(
                session, current))

    def deploy_directory(self, *, directory: Path, actor: Actor) -> list[dict[str, Any]]:
        """Deploy every .bpmn, .dmn and form .json under `directory` (forms may sit in a sibling forms/)."""
        files = {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*"))
                 if p.suffix in (".bpmn", ".dmn", ".json")}
        forms_dir = self.settings.forms_dir
        if forms_dir.is_dir() and forms_dir.resolve() != directory.resolve():
            files.update({p.name: p.read_text(encoding="utf-8") for p in sorted(forms_dir.glob("*.json"))})
        return self.deploy(files=files, actor=actor)

    def _files_of(self, session: Session, deployment_id: int | None) -> dict[str, str]:
        if deployment_id is None:
            return {}
        return {f.name: f.content for f in repository.deployment_files(session, deployment_id)}

    def _store_bundle(self, session: Session, bundle: Any, files: dict[str, str], actor: Actor,
                      changed: bool) -> list[dict[str, Any]]:
        now = self.clock.now()
        deployment_id = repository.latest_deployment_id(session)
        if changed or deployment_id is None:
            deployment = Deployment(actor=actor.name, created_at=now)
            session.add(deployment)
            session.flush()
            deployment_id = deployment.id
            for name, text in files.items():
                session.add(DeploymentFile(deployment_id=deployment_id, name=name, content=text,
                                           sha256=hashlib.sha256(text.encode()).hexdigest()))
        result = []
        for parsed in bundle.processes:
            spec_hash, text = self.runtime.library.encode(parsed.spec, parsed.subprocess_specs)
            if session.get(ProcessSpec, spec_hash) is None:
                session.add(ProcessSpec(hash=spec_hash, process_id=parsed.process_id, json=text, created_at=now))
            latest = repository.latest_version(session, parsed.process_id)
            if latest is None or latest.spec_hash != spec_hash or self._forms_changed(session, latest, parsed, files):
                latest = ProcessVersion(process_id=parsed.process_id, version=(latest.version + 1 if latest else 1),
                                        name=parsed.name, spec_hash=spec_hash, deployment_id=deployment_id,
                                        source_file=parsed.source_file, created_at=now)
                session.add(latest)
                session.flush()
            result.append(_version_dict(latest))
        return result

    def _forms_changed(self, session: Session, latest: ProcessVersion, parsed: Any, files: dict[str, str]) -> bool:
        """Whether a form the process uses differs from the one its newest version was deployed with."""
        for key in _form_keys([parsed.spec, *parsed.subprocess_specs.values()]):
            old = repository.deployment_file(session, latest.deployment_id, key)
            if old is None or old.content != files.get(key):
                return True
        return False

    def list_processes(self) -> list[dict[str, Any]]:
        """The newest version of every deployed process."""
        with self.uow(write=False) as session:
            return [_version_dict(v) for v in repository.latest_versions(session)]


def _form_keys(specs: list[Any]) -> set[str]:
    keys = set()
    for spec in specs:
        for ts in spec.task_specs.values():
            props = (getattr(ts, "extensions", None) or {}).get("properties", {}) or {}
            if props.get("formJsonSchemaFilename"):
                keys.add(props["formJsonSchemaFilename"])
    return keys


def _version_dict(v: ProcessVersion) -> dict[str, Any]:
    return {"process_id": v.process_id, "version": v.version, "name": v.name, "spec_hash": v.spec_hash,
            "deployment_id": v.deployment_id, "source_file": v.source_file,
            "deployed_at": v.created_at.isoformat()}
