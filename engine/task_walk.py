"""SpiffWorkflow's task-tree walk without its depth limit and without its bookkeeping.

Every engine step asks the tree for its READY tasks several times (`BpmnWorkflow.do_engine_steps` walks the case
and each active called process until nothing is left to run), and `get_tasks` walks the whole tree each time.
SpiffWorkflow 3.2's `BpmnTaskIterator` does it with a list it pops from the front, counts the depth of every task
by walking back up to an ancestor at each leaf, and stops at depth 1000, which silently stalls a case whose rework
loop has gone round 500 times (docs: shared/reference, pitfall 11). The walk here visits the same tasks in the same
order (depth first, a called process's tasks before the calling task's children, into a task's children only when
the filter's states could be below it) with a stack and no depth limit; the filter is SpiffWorkflow's own.
`tests/engine/test_task_walk.py` checks the order equals SpiffWorkflow's for 19 filters at every step of a
maintenance request with a rework.

Walks with options this module does not replace (`end_at_spec`, a `max_depth`, breadth first) go to
SpiffWorkflow's iterator, without its depth limit unless one is asked for. SpiffWorkflow's own code also builds its
iterators directly, a dozen times (whether a workflow is completed, what a parallel or inclusive join waits for,
cancelling, a task's own subtree), each stopping at depth 1000 too: a case waiting at a user task below that depth
counted as completed (its ticket would have closed). Those iterators lose the limit as well (`install`).
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter, BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState

_spiff_iterator = BpmnBaseWorkflow.get_tasks_iterator
# the iterators' default arguments as released: (end_at_spec, max_depth=1000, depth_first, ...)
_SPIFF_DEFAULTS: dict[type, tuple[Any, ...]] = {cls: cls.__init__.__defaults__ or ()
                                                for cls in (TaskIterator, BpmnTaskIterator)}
_FINISHED = TaskState.FINISHED_MASK


def walk(workflow: Any, first_task: Any = None, skip_subprocesses: bool = False, task_filter: Any = None,
         **filter_args: Any) -> Iterator[Any]:
    """The tasks of `workflow` from `first_task` (its root by default) matching the filter, in SpiffWorkflow's
    depth-first order; the arguments are `get_tasks`'s."""
    task_filter = task_filter or BpmnTaskFilter(**filter_args)
    states = task_filter.state
    min_state = (TaskState.MAYBE if states & TaskState.PREDICTED_MASK
                 else TaskState.FUTURE if states & TaskState.DEFINITE_MASK else TaskState.COMPLETED)
    into_finished_subprocesses = not states <= _FINISHED
    subprocesses = workflow.top_workflow.subprocesses
    matches = task_filter.matches
    stack = [first_task or workflow.task_tree]
    while stack:
        task = stack.pop()
        children = task._children
        subprocess = subprocesses.get(task.id)
        if subprocess is None:
            if children and task.state >= min_state:
                stack.extend(reversed(task.children))
        else:
            below = list(reversed(task.children))
            if not (skip_subprocesses or (task.state >= _FINISHED and not into_finished_subprocesses)):
                below.append(subprocess.task_tree)
            stack.extend(below)
        if matches(task):
            yield task


def get_tasks_iterator(self: Any, first_task: Any = None, **kwargs: Any) -> Iterator[Any]:
    """`BpmnBaseWorkflow.get_tasks_iterator` as this module walks it (see the module docstring)."""
    if kwargs.get("end_at_spec") is None and kwargs.get("depth_first", True) \
            and kwargs.get("max_depth", sys.maxsize) == sys.maxsize:
        kwargs.pop("end_at_spec", None)
        kwargs.pop("depth_first", None)
        kwargs.pop("max_depth", None)
        return walk(self, first_task, **kwargs)
    return _spiff_iterator(self, first_task, **{"max_depth": sys.maxsize, **kwargs})


def install() -> None:
    """Make every workflow in this process walk its tasks here, and SpiffWorkflow's own iterators walk without a
    depth limit."""
    BpmnBaseWorkflow.get_tasks_iterator = get_tasks_iterator
    for cls, defaults in _SPIFF_DEFAULTS.items():
        if len(defaults) > 1 and defaults[1] == 1000:  # max_depth, as in SpiffWorkflow 3.2
            cls.__init__.__defaults__ = (defaults[0], sys.maxsize, *defaults[2:])  # type: ignore[misc]


def uninstall() -> None:
    """SpiffWorkflow's own walks as released, depth limit included (the benchmark's baselines; tests)."""
    BpmnBaseWorkflow.get_tasks_iterator = _spiff_iterator
    for cls, defaults in _SPIFF_DEFAULTS.items():
        cls.__init__.__defaults__ = defaults  # type: ignore[misc]


@contextmanager
def spiffworkflow_as_released() -> Iterator[None]:
    """A block in which SpiffWorkflow walks its tasks as released."""
    uninstall()
    try:
        yield
    finally:
        install()


def spiffworkflow_own() -> Any:
    """SpiffWorkflow's own iterator as released (for comparisons)."""
    return _spiff_iterator
