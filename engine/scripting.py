"""Diagram scripts and expressions run restricted: RestrictedPython compiles them, guards check every access.

Nothing here limits CPU time; diagrams come only from process owners (a deploy is a code review).
"""
from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from datetime import datetime
from typing import Any

from RestrictedPython import compile_restricted, limited_builtins, safe_globals, utility_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, safer_getattr
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from . import calendar as cal

_EXTRA_BUILTINS = ("sum", "min", "max", "any", "all", "enumerate", "dict", "map", "filter", "reversed", "list")
_CODE_CACHE: dict[tuple[str, str], Any] = {}


class ScriptRejected(Exception):
    """A script or expression that the restricted compiler refuses (imports, dunders, syntax)."""


def compile_checked(source: str, mode: str) -> Any:
    """Compile restricted `source` ('exec' or 'eval'), cached; ScriptRejected names the reason."""
    key = (source, mode)
    code = _CODE_CACHE.get(key)
    if code is None:
        _refuse_imports(source, mode)
        try:
            code = compile_restricted(source, "<diagram>", mode)  # type: ignore[arg-type]
        except SyntaxError as exc:
            # RestrictedPython's SyntaxError has lineno=None, which crashes Spiff's error formatter.
            reasons = exc.msg if isinstance(exc.msg, tuple) else (exc.msg or str(exc),)
            raise ScriptRejected("; ".join(str(r) for r in reasons)) from None
        _CODE_CACHE[key] = code
    return code


def _base_globals() -> dict[str, Any]:
    restricted: dict[str, Any] = dict(safe_globals)
    allowed = dict(restricted["__builtins__"])
    allowed.update(limited_builtins)
    allowed.update(utility_builtins)
    allowed.update({name: getattr(builtins, name) for name in _EXTRA_BUILTINS})
    restricted["__builtins__"] = allowed
    restricted.update(_getattr_=safer_getattr, _getitem_=default_guarded_getitem,
                      _getiter_=default_guarded_getiter, _iter_unpack_sequence_=guarded_iter_unpack_sequence,
                      _write_=full_write_guard)
    return restricted


def _refuse_imports(source: str, mode: str) -> None:
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError:
        return  # compile_restricted reports it with its own words
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ScriptRejected(f"line {node.lineno}: imports are not allowed in diagram scripts")


_BASE = _base_globals()


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates and executes restricted code against task data, with the given functions in scope."""

    def __init__(self, functions: dict[str, Callable[..., Any]]) -> None:
        super().__init__({**_BASE, **functions})

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        code = _compile_for_spiff(expression, "eval")
        return eval(code, {**self.globals, **(external_context or {}), **context})

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        code = _compile_for_spiff(script, "exec")
        scope = {**self.globals, **(external_context or {}), **context}
        exec(code, scope)
        for key, value in scope.items():
            if key in self.globals or key.startswith("_") or callable(value):
                continue
            if external_context and key in external_context:
                continue
            context[key] = value
        for key in [k for k in context if k not in scope]:
            del context[key]
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise PermissionError("service tasks are not available to diagrams")


def _compile_for_spiff(source: str, mode: str) -> Any:
    try:
        return compile_checked(source, mode)
    except ScriptRejected as exc:
        # Spiff wraps this into a WorkflowTaskException naming the task; PermissionError keeps lineno out.
        raise PermissionError(f"script refused: {exc}") from None


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise ValueError(f"expected a date-time, got {value!r}")


def calendar_functions(now: Callable[[], datetime]) -> dict[str, Callable[..., Any]]:
    """Business-calendar functions for diagrams; they take and return ISO 8601 strings (aware UTC)."""

    def iso(value: datetime) -> str:
        return value.isoformat()

    return {
        "now": lambda: iso(now()),
        "add_working_hours": lambda start, hours, calendar="working": iso(
            cal.add_working_hours(_as_datetime(start), hours, calendar)),
        "add_working_days": lambda start, days, calendar="working": iso(
            cal.add_working_days(_as_datetime(start), days, calendar)),
        "add_working_duration": lambda start, duration, calendar="working": iso(
            cal.add_working_duration(_as_datetime(start), duration, calendar)),
        "working_hours_between": lambda start, end, calendar="working": cal.working_hours_between(
            _as_datetime(start), _as_datetime(end), calendar),
        "point_at_fraction": lambda start, end, fraction, calendar="working": iso(
            cal.point_at_fraction(_as_datetime(start), _as_datetime(end), fraction, calendar)),
    }


def make_script_engine(functions: dict[str, Callable[..., Any]]) -> PythonScriptEngine:
    """A Spiff script engine whose every script and expression runs restricted with `functions`."""
    return PythonScriptEngine(environment=RestrictedEnvironment(functions))
