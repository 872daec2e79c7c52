"""Diagram scripts and expressions run restricted: RestrictedPython compiles them, guards check every access.

They also run under a budget (engine/script_limits.py): a CPU-time deadline per evaluation, checked by ticks in loops
and functions, and size checks before `**`, `*`, `<<`, `str(...)`, ... build anything large. A constant that obviously
explodes (`10**10**10`) and a `return`/`break`/`continue` leaving a `finally` block or a `yield` inside one (it
would swallow the budget's error) are refused when the code is compiled, so deploy reports them; an evaluation whose
deadline passed raises at its end even if the budget's error was dropped on the way. After a script the case data it
leaves, after an expression its result (unless a number, a str, a bool or None) is estimated against the case-data
limit: a decision cell's output or a computed due date ends up in the case data too, and a gateway condition's bool
costs one class check.
"""
from __future__ import annotations

import ast
import builtins
import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from RestrictedPython import (
    RestrictingNodeTransformer,
    compile_restricted,
    limited_builtins,
    safe_globals,
    utility_builtins,
)
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, safer_getattr
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from . import calendar as cal
from .script_limits import (
    COLLECTION_BUILTINS,
    GUARD_GLOBALS,
    ITERABLE_NAMES,
    TEXT_BUILTINS,
    TEXT_TYPE,
    Limiter,
    ScriptBudgetExceeded,
    SteppedType,
    budget_scope,
    check_state,
    exploding_constant,
    finally_exit,
    guarded_pow,
    guarded_sum,
    sized_method,
)

__all__ = ["RestrictedEnvironment", "ScriptBudgetExceeded", "ScriptRejected", "calendar_functions", "compile_checked",
           "make_script_engine"]

_EXTRA_BUILTINS = ("sum", "min", "max", "any", "all", "enumerate", "map", "filter", "reversed", "list")
_CODE_CACHE: dict[tuple[str, str], tuple[Any, bool, frozenset[str]]] = {}
_TICKING = (ast.While, ast.For, ast.AsyncFor, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.comprehension,
            ast.ExceptHandler)
# set(...), dict(...), map(...), any(...): they tick per item, so the code needs a deadline
_BUILDERS = frozenset(COLLECTION_BUILTINS) | ITERABLE_NAMES
_SCALARS = frozenset({bool, int, float, str, type(None)})  # a str's size is checked where it was built


class ScriptRejected(Exception):
    """A script or expression that the restricted compiler refuses (imports, dunders, syntax)."""


class _LimitingPolicy(RestrictingNodeTransformer):
    """RestrictedPython's checks first, then the budget's ticks and guards (their names start with `_`, which the
    checks would refuse in diagram code)."""

    def visit_Module(self, node: ast.Module) -> Any:
        return self._limit(super().visit_Module(node))

    def visit_Expression(self, node: ast.Expression) -> Any:
        return self._limit(super().visit_Expression(node))

    def _limit(self, node: Any) -> Any:
        return ast.fix_missing_locations(Limiter().visit(node))


def compile_checked(source: str, mode: str) -> Any:
    """Compile restricted `source` ('exec' or 'eval'), cached; ScriptRejected names the reason."""
    return _compiled(source, mode)[0]


def _compiled(source: str, mode: str) -> tuple[Any, bool, frozenset[str]]:
    """The code, whether it ticks (has loops, comprehensions, functions, or names a builtin that steps per item):
    only then it gets a CPU deadline, and which of the stepped iterable builtins (`map`, `any`, ...) it names: its
    scope gets those."""
    key = (source, mode)
    entry = _CODE_CACHE.get(key)
    if entry is None:
        tree = _refuse_imports(source, mode)
        try:
            code = compile_restricted(source, "<diagram>", mode, policy=_LimitingPolicy)  # type: ignore[arg-type]
        except SyntaxError as exc:
            # RestrictedPython's SyntaxError has lineno=None, which crashes Spiff's error formatter.
            reasons = exc.msg if isinstance(exc.msg, tuple) else (exc.msg or str(exc),)
            raise ScriptRejected("; ".join(str(r) for r in reasons)) from None
        nodes = list(ast.walk(tree)) if tree is not None else []
        names = {n.id for n in nodes if isinstance(n, ast.Name)}
        entry = (code, any(isinstance(n, _TICKING) for n in nodes) or not names.isdisjoint(_BUILDERS),
                 frozenset(names & ITERABLE_NAMES))
        _CODE_CACHE[key] = entry
    return entry


def _base_globals() -> dict[str, Any]:
    restricted: dict[str, Any] = dict(safe_globals)
    allowed = dict(restricted["__builtins__"])
    allowed.update(limited_builtins)
    # RestrictedPython's utility modules (math, random, string) stay out: math.factorial(10**8) or
    # random.choices(..., k=10**9) would run in C, where no tick can stop them.
    allowed.update(same_type=utility_builtins["same_type"])
    allowed.update({name: getattr(builtins, name) for name in _EXTRA_BUILTINS})
    allowed.update(COLLECTION_BUILTINS)  # set/frozenset/dict that tick per item (each evaluation's scope has its own)
    allowed.update(pow=guarded_pow, sum=guarded_sum, **TEXT_BUILTINS)  # str(x), repr(x): the text estimated first
    restricted["__builtins__"] = allowed
    restricted.update(_getattr_=_guarded_getattr, _getitem_=default_guarded_getitem,
                      _getiter_=default_guarded_getiter, _iter_unpack_sequence_=guarded_iter_unpack_sequence,
                      _write_=full_write_guard, **GUARD_GLOBALS)
    return restricted


def _guarded_getattr(obj: Any, name: str, default: Any = None, getattr: Any = getattr) -> Any:
    """safer_getattr, with the methods that pad or repeat (str.ljust, str.replace, list.extend, ...) checked."""
    if obj.__class__ is SteppedType:  # `list.extend`: the stepped `list` stands for the type
        obj = obj.kind
    value = safer_getattr(obj, name, default, getattr)
    if name in _SIZED_NAMES:
        if obj in _SIZED_TYPES or obj is TEXT_TYPE:  # str.ljust('a', n), str.join(',', parts): taken from the type
            return functools.partial(_unbound_sized, value, name)
        return sized_method(obj, name) or value
    return value


_SIZED_TYPES = (str, bytes, bytearray, list)


def _unbound_sized(method: Callable[..., Any], name: str, instance: Any, *args: Any, **kwargs: Any) -> Any:
    """A padding or repeating method called through its type, checked like the bound one."""
    guard = sized_method(instance, name) if isinstance(instance, _SIZED_TYPES) else None
    return guard(*args, **kwargs) if guard is not None else method(instance, *args, **kwargs)


_SIZED_NAMES = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "replace", "join", "extend",
                          "translate"})


def _refuse_imports(source: str, mode: str) -> ast.AST | None:
    """The parsed tree, after refusing imports, constants that obviously explode and `return`/`break`/`continue`
    leaving a `finally` block or `yield` inside one (None: a syntax error)."""
    try:
        tree = ast.parse(source, mode=mode)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None  # compile_restricted reports it with its own words
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ScriptRejected(f"line {node.lineno}: imports are not allowed in diagram scripts")
    exploding = exploding_constant(tree)
    if exploding is not None:
        line, what = exploding
        raise ScriptRejected(f"line {line}: a constant expression goes over the script budget ({what})")
    leaving = finally_exit(tree)
    if leaving is not None:
        line, keyword = leaving
        raise ScriptRejected(f"line {line}: '{keyword}' inside 'finally' is not allowed in diagram scripts (it would "
                             "swallow the script budget's error)")
    return tree


_BASE = _base_globals()


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates and executes restricted code against task data, with the given functions in scope."""

    def __init__(self, functions: dict[str, Callable[..., Any]]) -> None:
        super().__init__({**_BASE, **functions})

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        code, ticks, iterables = _compile_for_spiff(expression, "eval")
        scope = {**self.globals, **(external_context or {}), **context}
        if ticks:
            exceeded = _budget(scope, iterables)
            result = eval(code, scope)
            _check_over(exceeded)
        else:  # a plain gateway condition: nothing to check
            result = eval(code, scope)
        if result.__class__ not in _SCALARS:  # a decision cell's output or a due date can end up in the case data
            check_state(result, "the expression's result")
        return result

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        code, ticks, iterables = _compile_for_spiff(script, "exec")
        scope = {**self.globals, **(external_context or {}), **context}
        if ticks:
            exceeded = _budget(scope, iterables)
            exec(code, scope)
            _check_over(exceeded)
        else:
            exec(code, scope)
        for key, value in scope.items():
            if key in self.globals or key.startswith("_") or callable(value):
                continue
            if external_context and key in external_context:
                continue
            context[key] = value
        for key in [k for k in context if k not in scope]:
            del context[key]
        check_state(context)  # [s] * 40 is cheap here, but the engine would serialize every copy of s
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise PermissionError("service tasks are not available to diagrams")


def _budget(scope: dict[str, Any], iterables: frozenset[str]) -> Callable[[], str | None]:
    """A fresh budget in `scope`; what it returns names the limit once the deadline has passed."""
    budget = budget_scope(iterables=iterables)
    scope.update(budget)
    exceeded: Callable[[], str | None] = budget["_exceeded_"]
    return exceeded


def _check_over(exceeded: Callable[[], str | None]) -> None:
    """Raise if the evaluation went over its budget although it ended normally: the budget's error was swallowed
    on the way (a generator's `finally` running out of time while Python closes it, ...)."""
    what = exceeded()
    if what is not None:
        raise ScriptBudgetExceeded(what)


def _compile_for_spiff(source: str, mode: str) -> tuple[Any, bool, frozenset[str]]:
    try:
        return _compiled(source, mode)
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
