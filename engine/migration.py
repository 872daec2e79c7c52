"""Move a running case to another version of its process, keeping open task ids, task data and timer due times.

Pure and database-free: the caller loads the case, passes the target version's specs and stores the result.

SpiffWorkflow 3.2 has `bpmn.util.diff.migrate_workflow`, but it does not fit: its reset (READY|WAITING by default)
restarts waiting timers from "now" and replaces the data of READY tasks, and its spec alignment may pair a removed
step with an added one of the same shape, where the task list and the customers' e-mail links need the same bpmn id.
So the move here rebinds each task to the new spec's task spec of the same name (the bpmn id) and keeps the task
objects (ids, data, internal_data with the timers' `event_value`) as they are; only predictions are redone.
"""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .runtime import Runtime

# What a case waits on: open steps, waiting events, running call activities (and a failed step, kept for a retry).
_CURRENT = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
# Tasks that have not run: Spiff's guesses at the road ahead, redone from the new diagram.
_AHEAD = TaskState.FUTURE | TaskState.PREDICTED_MASK

_TASK_KINDS = {
    "UserTask": ("user task", "用户任务"), "ManualTask": ("manual task", "人工任务"), "NoneTask": ("task", "任务"),
    "ScriptTask": ("script task", "脚本任务"), "ServiceTask": ("service task", "服务任务"),
    "BusinessRuleTask": ("decision task", "决策任务"), "CallActivity": ("call activity", "调用活动"),
    "SubWorkflowTask": ("subprocess", "子流程"), "TransactionSubprocess": ("transaction", "事务子流程"),
    "ExclusiveGateway": ("exclusive gateway", "排他网关"), "ParallelGateway": ("parallel gateway", "并行网关"),
    "InclusiveGateway": ("inclusive gateway", "包容网关"), "EventBasedGateway": ("event gateway", "事件网关"),
    "ReceiveTask": ("receive task", "接收任务"),
}
_EVENT_PLACES = {"BoundaryEvent": ("boundary", "边界"), "IntermediateCatchEvent": ("intermediate", "中间")}


class MigrationRefused(Exception):
    """The case cannot move to that version; the reason is written for the process owner."""

    def __init__(self, reason: str, reason_zh: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reason_zh = reason_zh


class MigrationFailed(MigrationRefused):
    """The move itself failed (assess said yes); the case is left as it was."""


@dataclass(frozen=True)
class Assessment:
    """Whether a case can move to a version, and if not, why (English and Chinese)."""

    movable: bool
    reason: str = ""
    reason_zh: str = ""


_MOVABLE = Assessment(True)


def assess(wf: BpmnWorkflow, spec: Any, subprocess_specs: dict[str, Any], *,
           version: int | str | None = None) -> Assessment:
    """Whether `wf` can move to `spec` (+ its called processes): everything it waits on must exist there, alike."""
    if wf.is_completed():
        return Assessment(False, "the case has ended", "工单流程已结束")
    if spec.name != wf.spec.name:
        return Assessment(False, f"{_version(version)} is process '{spec.name}', the case runs '{wf.spec.name}'",
                          f"新版本是流程 {spec.name}，而工单运行的是流程 {wf.spec.name}")
    for workflow in _workflows(wf):
        current = [t for t in workflow.tasks.values() if _waits(t)]
        target = spec if workflow is wf else subprocess_specs.get(workflow.spec.name)
        if current and target is None:
            return Assessment(False, f"runs the called process '{workflow.spec.name}', which {_version(version)} "
                                     "no longer has", f"进行中的子流程 {workflow.spec.name} 在新版本中已不存在")
        for task in current:
            verdict = _assess_task(task, target, version)
            if not verdict.movable:
                return verdict
    return _MOVABLE


def migrate(wf: BpmnWorkflow, spec: Any, subprocess_specs: dict[str, Any], *, runtime: Runtime, spec_hash: str,
            version: int | str | None = None) -> BpmnWorkflow:
    """A copy of `wf` on `spec`, stored under `spec_hash` (which `runtime.library` must know); `wf` is untouched.

    Raises MigrationRefused when `assess` says no, MigrationFailed when the move itself goes wrong."""
    verdict = assess(wf, spec, subprocess_specs, version=version)
    if not verdict.movable:
        raise MigrationRefused(verdict.reason, verdict.reason_zh)
    engine = wf.script_engine
    try:
        # The moved case is built on a copy, so nothing done here can leave the caller's workflow half moved.
        copy = runtime.load(runtime.dump(wf), engine)
        _move(copy, spec, subprocess_specs)
        copy.spec_hash = spec_hash
        # Returning what a load of the stored state gives proves it survives and rebuilds Spiff's event wiring
        # (subprocess completion hooks, the event manager) from the new specs.
        return runtime.load(runtime.dump(copy), engine)
    except Exception as exc:  # any failure of the move must reach the caller as a refusal with a reason
        raise MigrationFailed(f"the case could not be moved to {_version(version)}: {exc}",
                              f"工单无法迁移到新版本：{exc}") from exc


# -- assessment ---------------------------------------------------------------------------------------------------


def _waits(task: Task) -> bool:
    # A FUTURE task under a finished one is no guess: the case has committed to it (a join about to wait).
    return bool(task.has_state(_CURRENT) or (
        task.state == TaskState.FUTURE and task.parent is not None and task.parent.has_state(TaskState.FINISHED_MASK)))


def _assess_task(task: Task, target: Any, version: int | str | None) -> Assessment:
    old = task.task_spec
    step = _step(old)
    new = target.task_specs.get(old.name)
    if new is None:
        noun, noun_zh = ("timer", "定时器") if _is_timer(old) else ("step", "步骤")
        return Assessment(False, f"waits at {noun} '{step}', which {_version(version)} no longer has",
                          f"等待中的{noun_zh} {step} 在新版本中已不存在")
    if isinstance(old, LoopTask) and task.state == TaskState.STARTED:
        # Instances of a multi-instance step are children of the step itself; re-predicting would drop them.
        return Assessment(False, f"is in the middle of the multi-instance step '{step}', which cannot be moved",
                          f"多实例步骤 {step} 正在进行中，无法迁移")
    (old_en, old_zh), (new_en, new_zh) = _kind(old), _kind(new)
    if old_en != new_en:
        return Assessment(False, f"waits at step '{step}', which {_version(version)} turns from a {old_en} "
                                 f"into a {new_en}", f"等待中的步骤 {step} 在新版本中已从{old_zh}改为{new_zh}")
    if isinstance(old, SubWorkflowTask) and old.spec != new.spec:
        return Assessment(False, f"waits in '{step}', which calls '{old.spec}' but in {_version(version)} "
                                 f"calls '{new.spec}'", f"进行中的调用活动 {step} 在新版本中改为调用 {new.spec}")
    return _MOVABLE


def _kind(ts: Any) -> tuple[str, str]:
    """What a step is, in English and Chinese; a waiting task may only move to a step of the same kind."""
    ed = getattr(ts, "event_definition", None)
    if isinstance(ts, CatchingEvent) and ed is not None and not isinstance(ed, NoneEventDefinition):
        place_en, place_zh = _EVENT_PLACES.get(type(ts).__name__, (type(ts).__name__, type(ts).__name__))
        event_en, event_zh = _event_kind(ed)
        return f"{place_en} {event_en}", f"{place_zh}{event_zh}"
    name = type(ts).__name__
    return _TASK_KINDS.get(name, (name, name))


def _event_kind(ed: Any) -> tuple[str, str]:
    # A date and a duration timer both keep an ISO due time in event_value, so one may replace the other;
    # a cycle keeps a dict and must stay a cycle.
    if isinstance(ed, CycleTimerEventDefinition):
        return "cycle timer", "循环定时器"
    if isinstance(ed, TimerEventDefinition):
        return "timer", "定时器"
    if isinstance(ed, MessageEventDefinition):
        return f"message '{ed.name}'", f"消息 {ed.name}"
    return type(ed).__name__, type(ed).__name__


def _is_timer(ts: Any) -> bool:
    return isinstance(getattr(ts, "event_definition", None), TimerEventDefinition)


def _step(ts: Any) -> str:
    return str(getattr(ts, "bpmn_id", None) or ts.name)


def _version(version: int | str | None) -> str:
    return f"version {version}" if version is not None else "the new version"


def _workflows(wf: BpmnWorkflow) -> list[Any]:
    return [wf, *wf.subprocesses.values()]


# -- the move -----------------------------------------------------------------------------------------------------


def _move(wf: BpmnWorkflow, spec: Any, subprocess_specs: dict[str, Any]) -> None:
    """Rebind `wf` and its called processes to the new specs in place (on a copy)."""
    _drop_orphaned_subprocesses(wf, spec, subprocess_specs)
    for workflow in _workflows(wf):
        target = spec if workflow is wf else subprocess_specs[workflow.spec.name]
        _rebind(workflow, target)
    wf.subprocess_specs = dict(subprocess_specs)
    for workflow in _workflows(wf):
        _arm_new_boundary_events(workflow)
        _repredict(workflow)
        _check_bound(workflow)
        _order_parents_first(workflow)


def _drop_orphaned_subprocesses(wf: BpmnWorkflow, spec: Any, subprocess_specs: dict[str, Any]) -> None:
    """Forget finished called processes the new version cannot hold (assess refused running ones): their steps are
    in no diagram of it, and the serializer could not restore them."""
    while True:
        orphans = [key for key, sub in wf.subprocesses.items() if not _holds(wf, key, sub, spec, subprocess_specs)]
        if not orphans:
            return
        for key in orphans:
            del wf.subprocesses[key]


def _holds(wf: BpmnWorkflow, key: Any, sub: Any, spec: Any, subprocess_specs: dict[str, Any]) -> bool:
    caller = _find_task(wf, key)
    if caller is None or sub.spec.name not in subprocess_specs:
        return False
    caller_target = spec if caller.workflow is wf else subprocess_specs.get(caller.workflow.spec.name)
    new = caller_target.task_specs.get(caller.task_spec.name) if caller_target is not None else None
    return isinstance(new, SubWorkflowTask) and new.spec == sub.spec.name


def _find_task(wf: BpmnWorkflow, task_id: Any) -> Task | None:
    for workflow in _workflows(wf):
        if task_id in workflow.tasks:
            return workflow.tasks[task_id]
    return None


def _rebind(workflow: Any, target: Any) -> None:
    """Point every task at the new task spec of the same name; history on removed steps is spliced out."""
    workflow.spec = target
    if target.data_objects:
        # Spiff creates this dict only when a workflow starts; without it, writes to a new data object are lost.
        workflow.data.setdefault("data_objects", {})
    for task in list(workflow.tasks.values()):
        if task.id not in workflow.tasks:
            continue  # went with a removed prediction
        new = target.task_specs.get(task.task_spec.name)
        if new is not None:
            task.task_spec = new
        elif task.has_state(_AHEAD):
            workflow._remove_task(task.id)
        else:
            _splice(workflow, task)


def _splice(workflow: Any, task: Task) -> None:
    """Take a finished task of a removed step out of the tree, its children moving up to its parent: the serializer
    binds tasks to specs by name, and the new diagram cannot show the step anyway."""
    parent = task.parent
    children = list(task._children)
    at = parent._children.index(task.id)
    parent._children[at:at + 1] = children
    for child in task.children:
        child._parent = parent.id
    del workflow.tasks[task.id]
    if workflow.last_task is task:
        workflow.last_task = parent


def _arm_new_boundary_events(workflow: Any) -> None:
    """Start the boundary events the new version adds to a step the case waits at, as entering it would have."""
    splits = {out.name: ts for ts in workflow.spec.task_specs.values() if isinstance(ts, BoundaryEventSplit)
              for out in ts.outputs if not isinstance(out, BoundaryEvent)}
    for task in list(workflow.tasks.values()):
        split = splits.get(task.task_spec.name)
        if split is None or not task.has_state(TaskState.READY | TaskState.STARTED):
            continue
        parent = task.parent if task.parent.task_spec is split else _insert_split(workflow, task, split)
        present = {child.task_spec for child in parent.children}
        for event in (out for out in split.outputs if isinstance(out, BoundaryEvent) and out not in present):
            child = parent._add_child(event, TaskState.FUTURE)
            # Spiff's own update: inherits the data, computes the due time from now and registers the wait.
            event._update(child)


def _insert_split(workflow: Any, task: Task, split: Any) -> Task:
    """Put the boundary-event split the new version has above a waiting step that had no boundary events: the join
    after the step looks for it when the step completes."""
    parent = task.parent
    node = Task(workflow, split, state=TaskState.COMPLETED)
    node._parent = parent.id
    node.data = deepcopy(parent.data)
    parent._children[parent._children.index(task.id)] = node.id
    node._children = [task.id]
    task._parent = node.id
    return node


def _repredict(workflow: Any) -> None:
    """Redo Spiff's prediction of the road ahead of every task the case waits at, from the new diagram."""
    for task in [t for t in workflow.tasks.values() if t.has_state(_CURRENT)]:
        ed = getattr(task.task_spec, "event_definition", None)
        if isinstance(ed, CycleTimerEventDefinition):
            continue  # a cycle predicts nothing; its children are the branches it already fired
        ahead = [c for c in task.children if c.has_state(_AHEAD)]
        weakest = min((c.state for c in ahead), default=TaskState.FUTURE)
        for child in ahead:
            workflow._remove_task(child.id)
        if task.state == TaskState.ERROR or isinstance(task.task_spec, BoundaryEvent):
            # A boundary event's road is only possible (and the hook would copy ERROR onto a failed task's children).
            task._sync_children(task.task_spec.outputs, TaskState.MAYBE)
        else:
            task.task_spec._predict_hook(task)
        for child in task.children:
            if child.state == TaskState.FUTURE and weakest != TaskState.FUTURE:
                # Keep Spiff's certainty: a road guessed as only possible (a join reached from a boundary branch)
                # must not become definite, or a later sync would refuse to drop it.
                child._set_state(weakest)
            if child.state == TaskState.FUTURE:
                # Only a definite road is followed further; Spiff stops a mere possibility after one step too.
                child.task_spec._predict(child, mask=_AHEAD)


def _order_parents_first(workflow: Any) -> None:
    """List tasks parents first: the serializer stores a child's data as a delta and restores it against its parent
    only if the parent was restored before it (an inserted split would otherwise lose the step's data)."""
    ordered: dict[Any, Task] = {}
    stack = [workflow.task_tree]
    while stack:
        task = stack.pop()
        ordered[task.id] = task
        stack.extend(reversed(task.children))
    if len(ordered) != len(workflow.tasks):
        raise ValueError(f"{len(workflow.tasks) - len(ordered)} tasks of '{workflow.spec.name}' fell off the tree")
    workflow.tasks = ordered


def _check_bound(workflow: Any) -> None:
    """Every task must now stand on a spec of the new version, or the stored state would not load."""
    stale = [t for t in workflow.tasks.values() if workflow.spec.task_specs.get(t.task_spec.name) is not t.task_spec]
    if stale:
        raise ValueError(f"steps {sorted({_step(t.task_spec) for t in stale})} are still on the old version")

