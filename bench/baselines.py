"""The lifecycle benchmark's runs below HTTP: (a) plain SpiffWorkflow in memory, (p) the honest persisted
baseline (plain SpiffWorkflow saving its state to SQLite around every step) and (b) through the facade.
bench/lifecycle.py times and compares them.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from bench.common import ADMIN, DESK, PROCESSES, STEPS, TICKET, pick, staff_role
from engine import task_walk
from engine.clock import Clock
from engine.commands import Aftercare
from engine.contracts import case_facts
from engine.effects import Effects
from engine.kernel import MAIN_PROCESS, case_start_data
from engine.scripting import calendar_functions, make_script_engine
from engine.users import Actor


def plain_spiffworkflow() -> AbstractContextManager[None]:
    """SpiffWorkflow's own task-tree walks for the baselines: the engine replaces them in every workflow of the
    process (engine/task_walk.py), and (a) and (p) measure SpiffWorkflow as released."""
    return task_walk.spiffworkflow_as_released()


# -- (a) in memory ------------------------------------------------------------------------------------------


class InMemory:
    """(a) Plain SpiffWorkflow: specs parsed once, one workflow object per lifecycle, nothing saved."""

    def __init__(self) -> None:
        parser = SpiffBpmnParser()
        parser.add_bpmn_files([str(p) for p in sorted(PROCESSES.glob("*.bpmn"))])
        parser.add_dmn_files([str(p) for p in sorted(PROCESSES.glob("*.dmn"))])
        self.spec = parser.get_spec(MAIN_PROCESS)
        self.subprocess_specs = parser.get_subprocess_specs(MAIN_PROCESS)
        self.clock = Clock()
        self.count = 0

    def lifecycle(self) -> None:
        """Start a case with the facade's start data and complete its six user tasks; it must end completed."""
        with plain_spiffworkflow():
            self._lifecycle()

    def _lifecycle(self) -> None:
        self.count += 1
        engine = make_script_engine({**calendar_functions(self.clock.now), **Effects().functions()})
        wf = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=engine)
        wf.get_next_task(state=TaskState.READY).data.update(start_data(self.count, self.clock.now()))
        wf.do_engine_steps()
        for name, data in STEPS:
            task = ready_user_task(wf, name)
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
        assert wf.is_completed(), "the in-memory workflow did not complete"


def start_data(ticket_id: int, now: datetime) -> dict[str, Any]:
    """The data `Aftercare.create_ticket` puts on the start task."""
    facts = case_facts(None, SimpleNamespace(tier="standard"), now.date())  # type: ignore[arg-type]
    return case_start_data(ticket_id=ticket_id, number=f"AC-{now:%Y}-{ticket_id:06d}", customer=TICKET["customer"],
                           facts=facts, channel=TICKET["channel"], title=TICKET["title"],
                           description=TICKET["description"], contact_name=TICKET["contact_name"],
                           contact_email=TICKET["contact_email"], now=now, origin=None)


def ready_user_task(wf: BpmnWorkflow, name: str) -> Any:
    """The one READY manual task with BPMN id `name`."""
    ready = wf.get_tasks(state=TaskState.READY, manual=True)
    found = [t for t in ready if t.task_spec.bpmn_id == name]
    assert len(found) == 1, f"expected one READY {name!r}, READY: {sorted(t.task_spec.bpmn_id for t in ready)}"
    return found[0]


# -- (p) persisted baseline ---------------------------------------------------------------------------------


class _SpecRefConverter(BpmnWorkflowConverter):
    """Spiff's own workflow converter, writing a spec hash instead of the spec (the spec is stored once)."""

    specs: dict[str, tuple[Any, dict[str, Any]]] = {}

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)  # the tasks and data, not the spec
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        dct["spec_ref"] = workflow.spec_ref
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        spec, subprocess_specs = self.specs[dct["spec_ref"]]
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.spec_ref = dct["spec_ref"]
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.get("bpmn_events", []))
        return workflow


class Persisted:
    """(p) The honest persisted baseline: plain SpiffWorkflow that, around every step, reads the case's state from a
    SQLite table, deserializes it, runs the step, serializes it and writes it back in one write transaction. The
    spec is serialized once into a table of its own and referred to by hash (restored spec objects are cached, as
    any engine would); no projections, no timeline, no mail: the least a persisted engine must do."""

    def __init__(self, database: Path) -> None:
        parser = SpiffBpmnParser()
        parser.add_bpmn_files([str(p) for p in sorted(PROCESSES.glob("*.bpmn"))])
        parser.add_dmn_files([str(p) for p in sorted(PROCESSES.glob("*.dmn"))])
        config = dict(SPIFF_CONFIG)
        config[BpmnWorkflow] = _SpecRefConverter
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
        spec, subs = parser.get_spec(MAIN_PROCESS), parser.get_subprocess_specs(MAIN_PROCESS)
        registry = self.serializer.registry
        spec_json = json.dumps({"spec": registry.convert(spec),
                                "subprocess_specs": {k: registry.convert(v) for k, v in subs.items()}}, sort_keys=True)
        self.spec_ref = hashlib.sha256(spec_json.encode()).hexdigest()
        _SpecRefConverter.specs[self.spec_ref] = (spec, subs)
        self.db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("CREATE TABLE IF NOT EXISTS bench_spec (hash TEXT PRIMARY KEY, json TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS bench_case (id INTEGER PRIMARY KEY, spec_hash TEXT NOT NULL, "
                        "state TEXT NOT NULL, serializer_version TEXT NOT NULL)")
        self.db.execute("INSERT OR IGNORE INTO bench_spec VALUES (?, ?)", (self.spec_ref, spec_json))
        self.clock = Clock()
        self.count = 0

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def engine(self) -> Any:
        """The same restricted script engine the facade gives every case."""
        return make_script_engine({**calendar_functions(self.clock.now), **Effects().functions()})

    def lifecycle(self) -> None:
        """Start and store a case, then per step: load, deserialize, complete, run, serialize, store."""
        with plain_spiffworkflow():
            self._lifecycle()

    def _lifecycle(self) -> None:
        self.count += 1
        wf = BpmnWorkflow(*_SpecRefConverter.specs[self.spec_ref], script_engine=self.engine())
        wf.spec_ref = self.spec_ref
        wf.get_next_task(state=TaskState.READY).data.update(start_data(self.count, self.clock.now()))
        wf.do_engine_steps()
        self.db.execute("BEGIN IMMEDIATE")
        case_id = self.db.execute("INSERT INTO bench_case (spec_hash, state, serializer_version) VALUES (?, ?, ?)",
                                  (self.spec_ref, self.serializer.serialize_json(wf),
                                   self.serializer.VERSION)).lastrowid
        self.db.execute("COMMIT")
        for name, data in STEPS:
            self.db.execute("BEGIN IMMEDIATE")
            (state,) = self.db.execute("SELECT state FROM bench_case WHERE id = ?", (case_id,)).fetchone()
            wf = self.serializer.deserialize_json(state)
            wf.script_engine = self.engine()
            task = ready_user_task(wf, name)
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
            state = self.serializer.serialize_json(wf)
            self.db.execute("UPDATE bench_case SET state = ? WHERE id = ?", (state, case_id))
            self.db.execute("COMMIT")
        assert wf.is_completed(), "the persisted workflow did not complete"


# -- (b) facade + database ----------------------------------------------------------------------------------


class ThroughFacade:
    """(b) The facade on SQLite: every step is a unit of work that loads, runs and saves the case."""

    def __init__(self, facade: Aftercare) -> None:
        self.facade = facade

    def lifecycle(self) -> None:
        """Create a ticket, complete each open task as its role; the ticket must end archived."""
        created = self.facade.create_ticket(**TICKET, actor=DESK)
        status = created["status"]
        for name, data in STEPS:
            task = pick(self.facade.list_tasks(actor=ADMIN, ticket_id=created["id"]), name)
            role = staff_role(task["role"])
            status = self.facade.complete_task(task_id=task["id"], data=data, actor=Actor(role, role))["status"]
        assert status == "archived", f"ticket {created['id']} ended {status!r}, not archived"
