"""Deployments and versions: check and store diagrams, decision tables and forms; running cases keep theirs."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from .. import forms, repository
from ..bundle import content_hash, files_of, index
from ..deploy import check_files
from ..diff import diff_bundles
from ..errors import Conflict, InvalidProcess, NotFound
from ..models import Deployment, DeploymentFile, ProcessSpec, ProcessVersion
from ..users import Actor
from .base import Service


class DeploymentService(Service):
    """Process owners' verbs: what is deployed, in which versions."""

    def check(self, *, files: dict[str, str]) -> list[dict[str, Any]]:
        """The problems `files` would be refused for, over the current deployment; nothing is stored."""
        with self.uow(write=False) as session:
            merged = {**self._files_of(session, repository.latest_deployment_id(session)), **files}
        return check_files(merged, uploaded=set(files)).problems

    def deploy(self, *, files: dict[str, str], actor: Actor, note: str | None = None,
               based_on: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Check and store `files` over the current deployment (a file replaces the one of the same name);
        running cases keep their versions. The versions this deploy created, `[{process_id, version}]`.

        `based_on` gives, per file name, the SHA-256 of the text the editor started from: a file someone else
        deployed since is refused (Conflict) instead of silently undoing their change."""
        with self.uow() as session:
            if based_on:
                self._refuse_stale(session, based_on)
            return self._deploy(session, files, actor, note)

    def _refuse_stale(self, session: Session, based_on: dict[str, str]) -> None:
        current = self._files_of(session, repository.latest_deployment_id(session))
        for name, sha in based_on.items():
            now = hashlib.sha256(current[name].encode()).hexdigest() if name in current else ""
            if now != sha:
                raise Conflict(f"{name} was deployed by someone else after you opened it; open it again to see "
                               f"their change, then make yours 他人在您打开后已部署了 {name}，请重新打开后再修改",
                               file=name)

    def _deploy(self, session: Session, files: dict[str, str], actor: Actor, note: str | None) -> list[dict[str, Any]]:
        before = self._files_of(session, repository.latest_deployment_id(session))
        merged = {**before, **files}
        bundle = check_files(merged, uploaded=set(files))
        if bundle.problems:
            raise InvalidProcess(bundle.problems)
        return self._store_bundle(session, bundle, merged, actor, changed=merged != before, note=note)

    def deploy_directory(self, *, directory: Path, actor: Actor) -> list[dict[str, Any]]:
        """Deploy every .bpmn, .dmn and form .json under `directory` (forms may sit in a sibling forms/)."""
        files = {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*"))
                 if p.suffix in (".bpmn", ".dmn", ".json")}
        forms_dir = self.settings.forms_dir
        if forms_dir.is_dir() and forms_dir.resolve() != directory.resolve():
            files.update({p.name: p.read_text(encoding="utf-8") for p in sorted(forms_dir.glob("*.json"))})
        with self.uow() as session:
            # Only what changed in the directory since it was last read: a procedure a process owner changed in
            # the workbench is not put back at the next start.
            seen = repository.directory_hashes(session)
            hashes = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()}
            changed = {name: text for name, text in files.items() if seen.get(name) != hashes[name]}
            created = self._deploy(session, changed, actor, "from the processes directory 来自流程目录") \
                if changed else []
            repository.remember_directory(session, {name: hashes[name] for name in changed}, self.clock.now())
            return created

    def _files_of(self, session: Session, deployment_id: int | None) -> dict[str, str]:
        if deployment_id is None:
            return {}
        return {f.name: f.content for f in repository.deployment_files(session, deployment_id)}

    def _store_bundle(self, session: Session, bundle: Any, files: dict[str, str], actor: Actor,
                      changed: bool, note: str | None) -> list[dict[str, Any]]:
        now = self.clock.now()
        deployment_id = repository.latest_deployment_id(session)
        if changed or deployment_id is None:
            deployment = Deployment(actor=actor.name, note=(note or "").strip()[:500] or None, created_at=now)
            session.add(deployment)
            session.flush()
            deployment_id = deployment.id
            for name, text in files.items():
                session.add(DeploymentFile(deployment_id=deployment_id, name=name, content=text,
                                           sha256=hashlib.sha256(text.encode()).hexdigest()))
        created: list[dict[str, Any]] = []
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
                created.append({"process_id": latest.process_id, "version": latest.version})
        return sorted(created, key=lambda v: v["process_id"])

    def _forms_changed(self, session: Session, latest: ProcessVersion, parsed: Any, files: dict[str, str]) -> bool:
        """Whether a form the process uses differs from the one its newest version was deployed with."""
        for key in _form_keys([parsed.spec, *parsed.subprocess_specs.values()]):
            old = repository.deployment_file(session, latest.deployment_id, key)
            if old is None or old.content != files.get(key):
                return True
        return False

    def list_processes(self) -> list[dict[str, Any]]:
        """The newest version of every deployed process, with who deployed it and how many cases run on it."""
        with self.uow(write=False) as session:
            running = repository.running_cases_by_version(session)
            out = []
            for v in repository.latest_versions(session):
                deployment = session.get(Deployment, v.deployment_id)
                out.append({**_version_dict(v), "deployed_by": deployment.actor if deployment else None,
                            "running_cases": running.get(v.id, 0)})
            return out

    def overview(self) -> dict[str, Any]:
        """The workbench's front page: every procedure (newest version, running cases per version) and every
        deployed file with the procedures that use it."""
        with self.uow(write=False) as session:
            files = self._files_of(session, repository.latest_deployment_id(session))
            running = repository.running_cases_by_version(session)
            procedures = []
            for v in repository.latest_versions(session):
                history = repository.versions_of(session, v.process_id)
                procedures.append({**_version_dict(v), "deployed_by": history[0][1].actor if history else None,
                                   "running": [{"version": old.version, "cases": running[old.id]}
                                               for old, _d in history if running.get(old.id)]})
        used_by: dict[str, list[str]] = {name: [] for name in files}
        calls = index(files).calls
        names = {proc["process_id"]: proc["name"] for proc in procedures}
        for proc in procedures:
            for name in files_of(files, proc["process_id"]):
                used_by[name].append(proc["process_id"])
            # a called process runs inside its callers' cases: none is counted as its own
            proc["called_by"] = sorted(names.get(caller, caller) for caller, called in calls.items()
                                       if proc["process_id"] in called and caller != proc["process_id"])
        return {"procedures": procedures,
                "files": [{"name": n, "kind": n.rsplit(".", 1)[-1], "used_by": sorted(used_by[n])}
                          for n in sorted(files)]}

    def versions(self, *, process_id: str) -> list[dict[str, Any]]:
        """The history of a procedure, newest first: version, content hash, deployer, time, note, running cases."""
        with self.uow(write=False) as session:
            rows = repository.versions_of(session, process_id)
            if not rows:
                raise NotFound("no such procedure", process_id=process_id)
            running = repository.running_cases_by_version(session)
            return [{"version": v.version, "hash": content_hash(self._version_files(session, v)),
                     "deployed_by": d.actor, "deployed_at": v.created_at.isoformat(), "note": d.note,
                     "running_cases": running.get(v.id, 0), "name": v.name, "source_file": v.source_file}
                    for v, d in rows]

    def version_files(self, *, process_id: str, version: int) -> dict[str, str]:
        """The files one version of a procedure is made of (its diagram, called diagrams, tables and forms)."""
        with self.uow(write=False) as session:
            return self._version_files(session, self._version(session, process_id, version))

    def rollback(self, *, process_id: str, version: int, actor: Actor) -> list[dict[str, Any]]:
        """Deploy an old version's files again, as a new version; running cases stay where they are."""
        files = self.version_files(process_id=process_id, version=version)
        created = self.deploy(files=files, actor=actor, note=f"rollback to version {version} 回退到版本 {version}")
        if not created:
            raise Conflict(f"version {version} is what is deployed now; nothing to roll back")
        return created

    def compare(self, *, process_id: str, old: int, new: int) -> dict[str, Any]:
        """What changed between two versions: files, diagram elements, decision rows, form fields; and both
        versions' own diagram for the viewer."""
        with self.uow(write=False) as session:
            versions = [self._version(session, process_id, n) for n in (old, new)]
            files = [self._version_files(session, v) for v in versions]
        return {"process_id": process_id, "old": old, "new": new, "changes": diff_bundles(files[0], files[1]),
                "source_file": versions[1].source_file,
                "old_xml": files[0].get(versions[0].source_file, ""),
                "new_xml": files[1].get(versions[1].source_file, ""), "old_files": files[0], "new_files": files[1]}

    def form_preview(self, *, name: str, text: str) -> dict[str, Any]:
        """A form's schema as a task page would render it (staff choices filled in); InvalidProcess when it is no
        valid form."""
        bundle = check_files({name if name.endswith(".json") else f"{name}.json": text})
        if bundle.problems:
            raise InvalidProcess(bundle.problems)
        schema = forms.parse(text)
        if not forms.staff_fields(schema):
            return schema
        with self.uow(write=False) as session:
            return forms.with_staff_options(schema, repository.active_staff(session))

    def current_files(self) -> dict[str, str]:
        """Every file of the current deployment, by name (what the workbench edits)."""
        with self.uow(write=False) as session:
            return self._files_of(session, repository.latest_deployment_id(session))

    def _version(self, session: Session, process_id: str, version: int) -> ProcessVersion:
        found = repository.version_of(session, process_id, version)
        if found is None:
            raise NotFound(f"{process_id} has no version {version}", process_id=process_id, version=version)
        return found

    def _version_files(self, session: Session, version: ProcessVersion) -> dict[str, str]:
        return files_of(self._files_of(session, version.deployment_id), version.process_id)


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
