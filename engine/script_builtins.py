"""What diagram code gets in place of some builtins and operations: `set`, `frozenset` and `dict` whose items take
a step each (hash-colliding keys make them quadratic in C), `str` and `repr` that estimate a value's text first, a
checked `sum`, the augmented-assignment guard, the guard globals the rewritten code calls (the set and dict
operations among them are in engine/script_collections.py), and `budget_scope`, the fresh names of one evaluation.
"""
from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Collection
from typing import Any

from RestrictedPython.Guards import safer_getattr

from .script_budget import fresh_getiter, steps
from .script_collections import INPLACE, guarded_and, guarded_or, guarded_sub, guarded_xor, merged_dict, stepped_method
from .script_iterables import ITERABLE_NAMES, TypeStandIn, iterable_builtins
from .script_sizes import (
    _OWN_TEXT,
    _SEQUENCES,
    check_size,
    check_text,
    guarded_add,
    guarded_format,
    guarded_lshift,
    guarded_mod,
    guarded_mul,
    guarded_pow,
    sized,
    text_of,
)


def budget_scope(seconds: float | None = None, iterables: Collection[str] = ITERABLE_NAMES) -> dict[str, Any]:
    """Fresh `_tick_` and `_getiter_` for one evaluation (see script_budget.steps), sharing one step counter with a
    CPU deadline `seconds` from now, and the `set`, `frozenset` and `dict` that step through that `_getiter_`.
    `_stepiter_` is the same `_getiter_` for the set and dict operations; code without loops or functions gets no
    scope, and there GUARD_GLOBALS' `_stepiter_` gives each operation a deadline of its own (as many as the code's
    length has operations). The `iterables` among `map`, `list`, `any`, ... step through it too
    (engine/script_iterables.py; code gets those it names). `_exceeded_()` names the limit once the deadline has
    passed (the evaluation checks it at its end)."""
    counter = steps(seconds)
    getiter = counter.getiter
    scope = {"_tick_": counter.tick, "_getiter_": getiter, "_stepiter_": getiter, "_exceeded_": counter.exceeded,
             **collection_builtins(getiter)}
    if iterables:
        scope.update(iterable_builtins(getiter, counter.take, guarded_sum, iterables))
    return scope


class _Builder(TypeStandIn):
    """`set`, `frozenset` or `dict` for diagram code: the items pass through the evaluation's `_getiter_` one by
    one, so that building from hash-colliding keys (quadratic in C) takes a step per item and stops at the CPU
    deadline. `isinstance(x, set)` still works.

    The methods and operators that grow a set or dict (`update`, `union`, `|`, ..., `{*l}`, `{**d}`) step through
    engine/script_collections.py. Paths that remain unticked, each one C call on data the code already holds:
    copies and comparisons of existing sets, `x in s` (one lookup at a time, so linear per loop) and set/dict
    literals (bounded by the code's length)."""

    def __init__(self, kind: type, getiter: Callable[[Any], Any]) -> None:
        self.kind = kind
        self.getiter = getiter

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args:
            return self.kind(**kwargs)
        if len(args) > 1:
            raise TypeError(f"{self.kind.__name__} expected at most 1 argument, got {len(args)}")
        source = args[0]
        if self.kind is dict:
            if isinstance(source, dict):
                source = source.items()
            elif hasattr(source, "keys"):  # a mapping, as dict() takes it
                mapping, keys = source, source.keys()
                source = ((key, mapping[key]) for key in keys)
            built = dict(self.getiter(source))
            built.update(kwargs)  # a call's keywords: as many as the code has written
            return built
        return self.kind(self.getiter(source), **kwargs)

    def fromkeys(self, keys: Any, value: Any = None) -> Any:
        """`dict.fromkeys`, a step per key too (`set.fromkeys` stays an AttributeError)."""
        if self.kind is not dict:
            raise AttributeError(f"type object '{self.kind.__name__}' has no attribute 'fromkeys'")
        return dict.fromkeys(self.getiter(keys), value)


def collection_builtins(getiter: Callable[[Any], Any]) -> dict[str, Any]:
    """`set`, `frozenset` and `dict` whose items take a step each through `getiter` (see _Builder)."""
    return {kind.__name__: _Builder(kind, getiter) for kind in (set, frozenset, dict)}




COLLECTION_BUILTINS = collection_builtins(fresh_getiter)


def guarded_sum(iterable: Any, start: Any = 0) -> Any:
    """`sum`, with sequences added up (sum(lists, [])) checked for size."""
    if isinstance(start, _SEQUENCES):
        items = list(iterable)
        check_size(start, len(start) + sum(len(i) for i in items if isinstance(i, _SEQUENCES)))
        if isinstance(start, list | tuple) and all(isinstance(i, type(start)) for i in items):
            return type(start)(itertools.chain(start, *items))  # linear, where sum() copies at every step
        return sum(items, start)
    return sum(iterable, start)



class _TextType(TypeStandIn):
    """`str` for diagram code: `str(x)` of a container is estimated first (check_text: a list repeating one long
    string is small, its text is not); `isinstance(x, str)` and the type's methods (`str.upper('a')`) still work,
    taken through RestrictedPython's getattr guard (which refuses `str.format`)."""

    kind = str

    def __call__(self, value: Any = "", *args: Any, **kwargs: Any) -> str:
        if value.__class__ not in _OWN_TEXT:
            check_text(value, "a str() text")
        if args or kwargs:
            return str(value, *args, **kwargs) if "object" not in kwargs else str(check_text(kwargs.pop("object"),
                                                                                           "a str() text"), **kwargs)
        return str(value)

    def __getattr__(self, name: str) -> Any:
        return safer_getattr(str, name)  # through the guard: `str.format` stays refused


def guarded_repr(value: Any) -> str:
    """`repr`, with the text estimated first (escapes counted)."""
    return repr(check_text(value, "a repr() text", quoted=True))


TEXT_TYPE = _TextType()
TEXT_BUILTINS: dict[str, Any] = {"str": TEXT_TYPE, "repr": guarded_repr}

_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": guarded_add, "*=": guarded_mul, "/=": operator.truediv, "//=": operator.floordiv,
    "%=": guarded_mod, "**=": guarded_pow, "<<=": guarded_lshift, ">>=": operator.rshift, "@=": operator.matmul}

_NUMERIC: dict[str, Callable[[Any, Any], Any]] = {
    "-=": operator.sub, "|=": operator.or_, "&=": operator.and_, "^=": operator.xor}


def guarded_inplace(op: str, target: Any, value: Any, getiter: Callable[[Any], Any] = iter) -> Any:
    """RestrictedPython turns `x op= y` into `_inplacevar_(op, x, y)`: the same guards as the binary operators; the
    rewrite passes the evaluation's `_getiter_` along, so that `s |= t` on sets and dicts takes a step per item."""
    function = _INPLACE.get(op)
    if function is not None:
        return function(target, value)
    if target.__class__ is int or target.__class__ is float:
        return _NUMERIC[op](target, value)  # `n -= 1` in a loop: no set, no dict
    stepped = INPLACE.get(op)
    if stepped is None:
        raise SyntaxError(f"unsupported augmented assignment {op}")
    return stepped(target, value, getiter)


GUARD_GLOBALS: dict[str, Any] = {
    "_pow_": guarded_pow, "_mul_": guarded_mul, "_lshift_": guarded_lshift, "_add_": guarded_add,
    "_mod_": guarded_mod, "_format_": guarded_format, "_inplacevar_": guarded_inplace, "_sized_": sized,
    "_or_": guarded_or, "_and_": guarded_and, "_sub_": guarded_sub, "_xor_": guarded_xor,
    "_stepped_": stepped_method, "_merged_": merged_dict, "_text_": text_of, "_stepiter_": fresh_getiter,
    "_own_text_": _OWN_TEXT, "_numbers_": frozenset({int, float, bool, complex})}
