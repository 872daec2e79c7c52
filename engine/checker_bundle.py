"""What checking a set of files gives: the processes ready to store, the forms, the problems found (both languages).

Its own room so the checker's parts (locating, linting, the product guard) use it without importing the checker."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .checker_messages import SOFT_KINDS, render


@dataclass
class ParsedProcess:
    """One executable process, ready to be stored."""

    process_id: str
    name: str
    source_file: str
    spec: Any
    subprocess_specs: dict[str, Any]


@dataclass
class Bundle:
    """The outcome of checking a set of files: processes, forms and the problems found.

    `blocking` counts the problems after which the later steps cannot run (a diagram the engine cannot read); the
    others (SOFT_KINDS: a step drawn unconnected, a bad SLA value) leave the rest of the files checkable, so every
    independent problem is reported in one pass."""

    processes: list[ParsedProcess] = field(default_factory=list)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    blocking: int = 0

    def add(self, kind: str, file: str, element_id: str | None, line: int | None, **params: Any) -> None:
        """Record one problem of `kind` (a template of checker_messages) in both languages; duplicates once."""
        message, message_zh = render(kind, **params)
        self.problem(file, element_id, line, message, message_zh, blocking=kind not in SOFT_KINDS)

    def problem(self, file: str, element_id: str | None, line: int | None, message: str,
                message_zh: str | None = None, *, blocking: bool = True) -> None:
        """Record one problem a process owner can act on."""
        entry = {"file": file, "element_id": element_id or None, "line": line if isinstance(line, int) and line > 0
                 else None, "message": message, "message_zh": message_zh or f"问题：{message}"}
        if entry not in self.problems:
            self.problems.append(entry)
            self.blocking += blocking
