"""Due expressions that fail, remembered: a task's `due` property is evaluated every time its case is saved (the
task list's due time is projected from it), so an expression that loops would cost its whole CPU budget
(engine/script_limits.py) on every save of its case. A failure is evaluated once per task and expression: the task
remembers it in its internal data (saved with the case, so a restart remembers it too once the case is saved again)
and this process in a bounded memo (a workflow loaded again before that save). The task gets no due time, and the
log says why, once. A new version with another expression (a migration) is evaluated afresh.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

log = logging.getLogger("aftercare.engine")
MARKER = "due_failed"  # in a task's internal_data: {"expression": ..., "error": ...}
_ERROR_CHARS = 500


class DueFailures:
    """The due expressions that failed, by task id and expression; one per Runtime."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def due(self, task: Any, expression: str, evaluate: Callable[[], datetime | None]) -> datetime | None:
        """`evaluate()`, unless this task's `expression` failed before; a failure is remembered and gives None."""
        key = (str(task.id), expression)
        marked = task.internal_data.get(MARKER)
        if isinstance(marked, dict) and marked.get("expression") == expression:
            return None
        with self._lock:
            known = self._seen.get(key)
        if known is not None:
            task.internal_data[MARKER] = {"expression": expression, "error": known}
            return None
        try:
            return evaluate()
        except Exception as exc:  # a broken or looping expression leaves the task without a due time
            error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
            task.internal_data[MARKER] = {"expression": expression, "error": error}
            with self._lock:
                self._seen[key] = error
                while len(self._seen) > self.size:
                    self._seen.popitem(last=False)
            spec = task.task_spec
            log.warning("the due expression of task %s (%s) failed; it gets no due time and is not evaluated "
                        "again: %s", spec.bpmn_id, task.id, error)
            return None
