"""Due expressions that fail, remembered: a task's `due` property is evaluated every time its case is saved (the
task list's due time is projected from it), so an expression that loops would cost its whole CPU budget
(engine/script_limits.py) on every save of its case. A failure is evaluated once per task and expression: the task
remembers it in its internal data (saved with the case, so a restart remembers it too once the case is saved again)
and this process in a bounded memo (a workflow loaded again before that save). The task gets no due time, and the
log says why, once. A new version with another expression (a migration) is evaluated afresh.

A failure is also an incident notice for the process owner and the managers (engine/incident_notices.py): while a
case is saved (Kernel.save) the failures its tasks meet are `collecting()`, and the kernel records each as a notice
in the case's own unit of work. The case is not parked: see engine/incident_notices.py for why.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger("aftercare.engine")
MARKER = "due_failed"  # in a task's internal_data: {"expression": ..., "error": ...}
_ERROR_CHARS = 500


@dataclass(frozen=True)
class DueFailure:
    """A due expression a task met failing: which task and step, the expression and the error."""

    task_id: str
    bpmn_id: str
    title: str
    expression: str
    error: str


class DueFailures:
    """The due expressions that failed, by task id and expression; one per Runtime."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()  # the failures of the save running on this thread, while collected

    @contextmanager
    def collecting(self) -> Iterator[list[DueFailure]]:
        """The failures met on this thread inside the block (one case's save): every task whose due expression
        failed and that does not yet carry the failure in its saved state (its notice may not exist yet)."""
        outer = getattr(self._local, "found", None)
        found: list[DueFailure] = []
        self._local.found = found
        try:
            yield found
        finally:
            self._local.found = outer

    def due(self, task: Any, expression: str, evaluate: Callable[[], datetime | None]) -> datetime | None:
        """`evaluate()`, unless this task's `expression` failed before; a failure is remembered and gives None."""
        key = (str(task.id), expression)
        marked = task.internal_data.get(MARKER)
        if isinstance(marked, dict) and marked.get("expression") == expression:
            return None
        with self._lock:
            known = self._seen.get(key)
        if known is not None:  # failed in this process, but this copy of the case was saved before it knew
            task.internal_data[MARKER] = {"expression": expression, "error": known}
            self._found(task, expression, known)
            return None
        try:
            return evaluate()
        except Exception as exc:  # a broken or looping expression leaves the task without a due time
            from .incidents import describe  # (imported here: incidents -> incident_notices -> this module)

            error = describe(exc)[1][:_ERROR_CHARS]  # with the underlying error: Spiff's text alone does not say
            task.internal_data[MARKER] = {"expression": expression, "error": error}
            with self._lock:
                self._seen[key] = error
                while len(self._seen) > self.size:
                    self._seen.popitem(last=False)
            spec = task.task_spec
            log.warning("the due expression of task %s (%s) failed; it gets no due time and is not evaluated "
                        "again: %s", spec.bpmn_id, task.id, error)
            self._found(task, expression, error)
            return None

    def _found(self, task: Any, expression: str, error: str) -> None:
        found = getattr(self._local, "found", None)
        if found is not None:
            spec = task.task_spec
            found.append(DueFailure(task_id=str(task.id), bpmn_id=str(spec.bpmn_id),
                                    title=str(spec.bpmn_name or spec.bpmn_id), expression=expression, error=error))
