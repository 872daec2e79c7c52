"""SpiffWorkflow load, run and save. No SQL here: specs come in through a loader callable."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from . import clock, state_json, task_walk
from .due_failures import DueFailures
from .errors import CaseError, Conflict

SpecLoader = Callable[[str], str]

# Spiff stops walking the task tree at depth 1000, silently stalling long-lived loops (rework), and walks it slowly.
task_walk.install()


class SpecLibrary:
    """Restored spec objects by content hash, loaded once per process from the process_spec table."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.loader: SpecLoader | None = None
        self._cache: dict[str, tuple[Any, dict[str, Any]]] = {}

    def get(self, spec_hash: str) -> tuple[Any, dict[str, Any]]:
        """(spec, subprocess_specs) for a hash."""
        if spec_hash not in self._cache:
            if self.loader is None:
                raise LookupError(spec_hash)
            loader = self.loader
            self.ensure(spec_hash, lambda: loader(spec_hash))
        return self._cache[spec_hash]

    def ensure(self, spec_hash: str, text: Callable[[], str]) -> None:
        """Cache a spec from `text()` (read in the caller's own transaction) unless it is cached already."""
        if spec_hash not in self._cache:
            stored = json.loads(text())
            subs = {name: self.registry.restore(d) for name, d in stored["subprocess_specs"].items()}
            self._cache[spec_hash] = (self.registry.restore(stored["spec"]), subs)

    def encode(self, spec: Any, subprocess_specs: dict[str, Any]) -> tuple[str, str]:
        """(hash, json) for a parsed spec and its called processes; equal specs give equal hashes."""
        text = json.dumps({"spec": self.registry.convert(spec),
                           "subprocess_specs": {k: self.registry.convert(v) for k, v in subprocess_specs.items()}},
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest(), text


def _make_serializer() -> tuple[BpmnWorkflowSerializer, SpecLibrary]:
    registry = BpmnWorkflowSerializer.configure(dict(SPIFF_CONFIG))
    library = SpecLibrary(registry)

    class SpecRefConverter(BpmnWorkflowConverter):
        """Writes a spec hash instead of the whole spec into every instance."""

        def to_dict(self, workflow: Any) -> dict[str, Any]:
            # Skip BpmnWorkflowConverter.to_dict: converting the whole spec on every save only to drop it
            # was half the cost of a save.
            dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
            dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
            dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
            dct["spec_ref"] = workflow.spec_hash
            return dct

        def from_dict(self, dct: dict[str, Any]) -> Any:
            if "spec_ref" not in dct:  # written by plain SpiffWorkflow, the spec inside: loads as it was written
                return BpmnWorkflowConverter.from_dict(self, dct)  # and is saved by reference (Runtime.load)
            spec_hash = dct.pop("spec_ref")
            spec, subs = library.get(spec_hash)
            workflow = self.target_class(spec, subs, deserializing=True)
            workflow.spec_hash = spec_hash
            workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
            workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
            self.set_default_attributes(workflow, dct)
            self.subprocesses_from_dict(dct["subprocesses"], workflow)
            workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
            return workflow

    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpecRefConverter
    registry = BpmnWorkflowSerializer.configure(config)
    library.registry = registry
    return BpmnWorkflowSerializer(registry), library


@dataclass
class ReadyTask:
    """A READY manual task as the task list needs it."""

    id: str
    bpmn_id: str
    title: str
    lane: str | None
    form_key: str | None
    instructions: str | None
    status: str | None
    email_template: str | None
    due_at: datetime | None
    assignee: str | None = None


@dataclass
class DiagramProgress:
    """Where the case stands in one diagram file: element ids done, current and fired timers."""

    process_id: str
    name: str
    source_file: str
    runs: int = 0
    done: set[str] = field(default_factory=set)
    current: set[str] = field(default_factory=set)
    fired: set[str] = field(default_factory=set)
    last: str | None = None  # the element done last: where a case that has ended (or waits elsewhere) stands here
    last_at: float = -1.0

    def markers(self) -> dict[str, Any]:
        """The JSON the diagram viewer reads: sorted ids per marker, and the element done last."""
        return {"process_id": self.process_id, "name": self.name, "runs": self.runs, "done": sorted(self.done),
                "current": sorted(self.current), "fired": sorted(self.fired), "last": self.last}


class Runtime:
    """Runs workflows; one per process, shared by all units of work."""

    def __init__(self) -> None:
        self.serializer, self.library = _make_serializer()
        self._encoder = self.serializer._encoder_cls()  # its `default` converts what JSON has no type for
        self.loads = 0  # workflows deserialized by this process: the scheduler's cost, measured
        self.due_failures = DueFailures()  # due expressions that failed: evaluated once per task

    @property
    def version(self) -> str:
        """The serializer format written into each instance row."""
        return str(self.serializer.VERSION)

    def start(self, spec_hash: str, data: dict[str, Any], engine: PythonScriptEngine) -> BpmnWorkflow:
        """A new workflow with `data` on its start task, run to its first wait."""
        spec, subs = self.library.get(spec_hash)
        wf = BpmnWorkflow(spec, subs, script_engine=engine)
        wf.spec_hash = spec_hash
        wf.get_next_task(state=TaskState.READY).data.update(data)
        self.advance(wf)
        return wf

    def load(self, state: str, engine: PythonScriptEngine, spec_hash: str | None = None) -> BpmnWorkflow:
        """Restore a workflow; the script engine is not serialized, so it is set here every time.

        A state normally names its spec by hash. One written with the spec inside (plain SpiffWorkflow's format)
        loads too, and takes `spec_hash` (its process version's) to be saved by reference from then on."""
        dct = state_json.loads(state)  # as serializer.deserialize_json, parsed faster
        self.serializer.migrate(dct)
        wf = self.serializer.from_dict(dct)
        if getattr(wf, "spec_hash", None) is None:
            wf.spec_hash = spec_hash
        wf.script_engine = engine
        self.loads += 1
        return wf

    def dump(self, wf: BpmnWorkflow) -> str:
        """Serialize a workflow (without its spec)."""
        if getattr(wf, "spec_hash", None) is None:
            raise ValueError("a workflow is saved with a reference to its stored spec, and this one has none")
        serializer = self.serializer  # as serializer.serialize_json, written faster
        serializer.registry._encoder_mode = True
        try:
            dct = serializer.to_dict(wf)
            dct[serializer.VERSION_KEY] = serializer.VERSION
            return state_json.dumps(dct, self._encoder.default)
        finally:
            serializer.registry._encoder_mode = False

    def advance(self, wf: BpmnWorkflow) -> list[str]:
        """Fire due timers and run engine steps until nothing moves; names of the timers that fired."""
        fired: list[str] = []
        _skip_missed_cycles(wf)
        for _ in range(50):
            before = {t.id: (t, _timer_due(t)) for t in _waiting_timers(wf)}
            _guard(wf.refresh_timers)
            _guard(wf.do_engine_steps)
            after = {t.id: _timer_due(t) for t in _waiting_timers(wf)}
            # A fired timer left the waiting set (completed) or, for a cycle, re-armed with a later due time.
            moved = [t for tid, (t, due) in before.items()
                     if (tid not in after and t.state == TaskState.COMPLETED) or (tid in after and after[tid] != due)]
            fired.extend(_timer_label(t) for t in moved)
            if not moved:
                break
        _raise_on_error(wf)
        return fired

    def ready_task(self, wf: BpmnWorkflow, task_id: str) -> Task:
        """The READY manual task `task_id`, or Conflict: Task.run() itself checks nothing."""
        try:
            task = wf.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, WorkflowException):
            task = None
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise Conflict("this task is no longer open", task_id=task_id)
        return task

    def complete(self, wf: BpmnWorkflow, task: Task, data: dict[str, Any]) -> list[str]:
        """Merge form data into the task, run it and everything that follows."""
        task.data.update(data)
        _guard(task.run)
        return self.advance(wf)

    def ready_tasks(self, wf: BpmnWorkflow) -> list[ReadyTask]:
        """All READY manual tasks, including those inside called processes."""
        ready = [t for t in _all_tasks(wf) if t.state == TaskState.READY and t.task_spec.manual]
        if len(ready) > 1:  # several at once (parallel branches): in the tree's order, as SpiffWorkflow walks it
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
        return [self._describe(wf, t) for t in ready]

    def _describe(self, wf: BpmnWorkflow, task: Task) -> ReadyTask:
        spec = task.task_spec
        props = (spec.extensions or {}).get("properties", {}) or {}
        return ReadyTask(
            id=str(task.id), bpmn_id=spec.bpmn_id, title=spec.bpmn_name or spec.bpmn_id, lane=spec.lane,
            form_key=props.get("formJsonSchemaFilename"),
            instructions=(spec.extensions or {}).get("instructionsForEndUser"),
            status=props.get("status"), email_template=props.get("email_template"),
            due_at=self._due(wf, task, props.get("due")),
            assignee=_assignee(task, props.get("assignee")),
        )

    def _due(self, wf: BpmnWorkflow, task: Task, expression: str | None) -> datetime | None:
        if expression:
            return self.due_failures.due(task, expression,
                                         lambda: to_datetime(wf.script_engine.evaluate(task, expression)))
        siblings = [t for t in task.parent.children if t is not task] if task.parent else []
        dues = [_timer_due(t) for t in siblings if t.state == TaskState.WAITING]
        return min((d for d in dues if d is not None), default=None)

    def progress(self, wf: BpmnWorkflow) -> list[DiagramProgress]:
        """Where the case stands, one entry per diagram file it has entered: the top process's file first, then
        each called process's file in the order first entered. A call activity is current while its child runs."""
        diagrams: dict[str, DiagramProgress] = {}
        for sub in [wf, *sorted(wf.subprocesses.values(), key=_entered_at)]:
            spec = sub.spec
            # A process drawn in a file already shown (fault_handling beside maintenance_request, an embedded
            # subprocess, a second run of the same call) marks that diagram: one picture per file.
            entry = diagrams.setdefault(spec.file or spec.name, DiagramProgress(
                process_id=spec.name, name=spec.description or spec.name, source_file=spec.file or ""))
            entry.runs += 1 if spec.name == entry.process_id else 0
            _mark(entry, sub.tasks.values())
        for entry in diagrams.values():
            entry.done -= entry.current  # done in an earlier run (rework), current again now
        return list(diagrams.values())

    def next_timer_at(self, wf: BpmnWorkflow) -> datetime | None:
        """The earliest due time of any waiting timer, for the indexed scheduler column."""
        dues = [_timer_due(t) for t in _waiting_timers(wf)]
        return min((d for d in dues if d is not None), default=None)

    def case_data(self, wf: BpmnWorkflow) -> dict[str, Any]:
        """Variables across all tasks, the most recently changed value winning.

        A task counts only with what it changed from its parent: a timer that fires hours later carries the copy
        of the data it was armed with, and must not put back values changed since (the first response time)."""
        tasks = sorted(_all_tasks(wf), key=lambda t: t.last_state_change)
        merged: dict[str, Any] = {}
        for task in tasks:
            if task.state in (TaskState.COMPLETED, TaskState.READY, TaskState.WAITING, TaskState.STARTED):
                base = task.parent.data if task.parent is not None else {}
                merged.update({k: v for k, v in task.data.items() if k not in base or base[k] != v})
        if wf.is_completed():
            merged.update(wf.data)
        return merged

    def set_variables(self, wf: BpmnWorkflow, values: dict[str, Any]) -> int:
        """Give a running case new values for some variables: every task that holds data for what comes next
        (READY, WAITING, STARTED, also inside called processes) takes them; the number of tasks changed. Timers
        already waiting keep the due time they were armed with."""
        tasks = wf.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
        for task in tasks:
            task.data.update(values)
        return len(tasks)


def _all_tasks(wf: BpmnWorkflow) -> list[Task]:
    tasks = list(wf.tasks.values())
    for sub in wf.subprocesses.values():
        tasks.extend(sub.tasks.values())
    return tasks


def _entered_at(sub: Any) -> float:
    """When a called process was entered: the earliest state change of its tasks (its start ran on entry; wall
    time, kept in the serialized state, so the order survives a reload where the subprocess dict order does not)."""
    return min((t.last_state_change for t in sub.tasks.values()), default=0.0)


def _mark(entry: DiagramProgress, tasks: Any) -> None:
    """Add one (sub)workflow's tasks to a diagram's markers; a call activity waiting on its child is STARTED."""
    for task in tasks:
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id:
            continue
        is_timer = isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)
        if task.state == TaskState.COMPLETED:
            (entry.fired if is_timer else entry.done).add(bpmn_id)
            if not is_timer and task.last_state_change >= entry.last_at:
                entry.last, entry.last_at = bpmn_id, task.last_state_change
        elif task.state in (TaskState.READY, TaskState.STARTED) or (
                task.state == TaskState.WAITING and not is_timer):
            entry.current.add(bpmn_id)


def _waiting_timers(wf: BpmnWorkflow) -> list[Task]:
    out = []
    for task in wf.event_manager.tasks.values() if hasattr(wf, "event_manager") else []:
        ed = task.task_spec.event_definition
        if isinstance(ed, TimerEventDefinition) or (
                isinstance(ed, MultipleEventDefinition)
                and any(isinstance(e, TimerEventDefinition) for e in ed.event_definitions)):
            out.append(task)
    return out


def _skip_missed_cycles(wf: BpmnWorkflow) -> None:
    """A cycle timer that fell several periods behind (the scheduler was down) fires once, not once per period:
    five progress e-mails in one second help nobody."""
    now = clock.now()
    for task in _waiting_timers(wf):
        value = task.internal_data.get("event_value")
        if not isinstance(task.task_spec.event_definition, CycleTimerEventDefinition) or not isinstance(value, dict):
            continue
        period = float(value.get("duration") or 0)
        due = datetime.fromisoformat(value["next"])
        missed = int((now - due).total_seconds() // period) if period > 0 and due < now else 0
        if missed > 0:
            value["next"] = (due + timedelta(seconds=missed * period)).isoformat()
            if value.get("cycles", 0) > 0:
                value["cycles"] = max(1, value["cycles"] - missed)


def _timer_label(task: Task) -> str:
    return str(task.task_spec.bpmn_name or task.task_spec.bpmn_id)


def _timer_due(task: Task) -> datetime | None:
    ed = task.task_spec.event_definition
    value: Any
    if isinstance(ed, TimerEventDefinition):
        value = ed.details(task).value
    else:
        value = task.internal_data.get("event_value")
        value = value.get("next") if isinstance(value, dict) else value
    if value is None or (isinstance(value, str) and value.upper().startswith(("P", "R"))):
        return None
    return to_datetime(value)


def to_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO string or datetime; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = TimerEventDefinition.parse_time_or_duration(value)
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _guard(step: Callable[[], Any]) -> None:
    try:
        step()
    except WorkflowException as exc:
        raise CaseError(_describe_error(exc)) from exc
    except RecursionError as exc:  # SpiffWorkflow walks some links of the task tree recursively (a join's branches)
        raise CaseError("the case's task tree is too deep for SpiffWorkflow (a loop has gone round some 500 times "
                        "before a join)") from exc


def _raise_on_error(wf: BpmnWorkflow) -> None:
    # a flat pass over the task dicts: SpiffWorkflow's tree iterator costs several times more on every step
    failed = next((t for t in _all_tasks(wf) if t.state == TaskState.ERROR), None)
    if failed is not None:
        spec = failed.task_spec
        raise CaseError(f"step '{spec.bpmn_name or spec.bpmn_id}' ({spec.bpmn_id}) failed")


def _describe_error(exc: WorkflowException) -> str:
    task = getattr(exc, "task", None)
    where = f" in '{task.task_spec.bpmn_id}'" if task is not None else ""
    return f"the diagram failed{where}: {exc}"


def _assignee(task: Task, variable: str | None) -> str | None:
    """The user a task goes to straight away: the value of the case variable its `assignee` property names."""
    if not variable:
        return None
    value = task.data.get(variable)
    return (value.strip()[:100] or None) if isinstance(value, str) else None
