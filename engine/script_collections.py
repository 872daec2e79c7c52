"""Set and dict operations that take a step per item: what diagram code gets for `s.update(l)`, `s.union(...)`,
`d.update(pairs)`, `{}.fromkeys(l)`, the `|`, `&`, `-`, `^` operators (and `|=`, ...) on sets and dicts, and the
displays `{*l}` and `{**d}`.

Each is one C call in plain Python; on hash-colliding keys (ints that are multiples of 2**61 - 1 all hash to 0) it
is quadratic, and no tick could stop it. Here the items that are inserted or looked up pass one by one through the
evaluation's `_getiter_` (a `compress` against the step counter, engine/script_budget.py), so the CPU deadline
stops them; the C code still does the work. What stays one C call: copying a table that exists already (the first
operand of `|`, `-`, ...: a small fraction of what building it cost, and building it took steps) and comparisons
between sets (`==`, `<=`: one lookup per item of an existing set).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

Getiter = Callable[[Any], Any]
_SETS = (set, frozenset)


def _as(original: Any, result: set[Any]) -> Any:
    """`result` as the kind of `original` (a frozenset stays one)."""
    return frozenset(result) if isinstance(original, frozenset) else result


def _pairs(mapping: Any) -> Iterable[Any]:
    """The (key, value) pairs of a mapping, as `dict.update` reads them (an iterable of pairs stays as it is)."""
    if isinstance(mapping, dict):
        return mapping.items()
    if hasattr(mapping, "keys"):
        return ((key, mapping[key]) for key in mapping.keys())  # noqa: SIM118 (as dict.update calls it)
    return mapping


def set_update(obj: Any, getiter: Getiter, *others: Any) -> None:
    """`s.update(*others)`, a step per item."""
    for other in others:
        obj.update(getiter(other))


def set_union(obj: Any, getiter: Getiter, *others: Any) -> Any:
    """`s.union(*others)` and `s | t`."""
    result = set(obj)
    set_update(result, getiter, *others)
    return _as(obj, result)


def set_intersection(obj: Any, getiter: Getiter, *others: Any) -> Any:
    """`s.intersection(*others)` and `s & t`: C looks up each item of the other in `s`, a step each."""
    result = obj.intersection()
    for other in others:
        result = result.intersection(getiter(other))
    return result


def set_intersection_update(obj: Any, getiter: Getiter, *others: Any) -> None:
    """`s.intersection_update(*others)`."""
    for other in others:
        obj.intersection_update(getiter(other))


def set_difference(obj: Any, getiter: Getiter, *others: Any) -> Any:
    """`s.difference(*others)` and `s - t`: a copy of `s` with each item of the others discarded, a step each."""
    result = set(obj)
    set_difference_update(result, getiter, *others)
    return _as(obj, result)


def set_difference_update(obj: Any, getiter: Getiter, *others: Any) -> None:
    """`s.difference_update(*others)`."""
    for other in others:
        if other is obj:
            obj.clear()
        else:
            obj.difference_update(getiter(other))


def set_symmetric_difference(obj: Any, getiter: Getiter, other: Any) -> Any:
    """`s.symmetric_difference(other)` and `s ^ t`: (s - t) | (t - s), each part stepped."""
    other_set = other if isinstance(other, _SETS) else set(getiter(other))
    result = set(obj)
    result.difference_update(getiter(other_set))
    extra = set(other_set)
    extra.difference_update(getiter(obj))
    result.update(getiter(extra))
    return _as(obj, result)


def set_symmetric_difference_update(obj: Any, getiter: Getiter, other: Any) -> None:
    """`s.symmetric_difference_update(other)`."""
    result = set_symmetric_difference(obj, getiter, other)
    obj.clear()
    obj.update(result)


def set_issubset(obj: Any, getiter: Getiter, other: Any) -> bool:
    """`s.issubset(other)`: the other's set looks up each item of `s`, a step each."""
    other_set = other if isinstance(other, _SETS) else set(getiter(other))
    return bool(other_set.issuperset(getiter(obj)))


def set_issuperset(obj: Any, getiter: Getiter, other: Any) -> bool:
    """`s.issuperset(other)`."""
    return bool(obj.issuperset(getiter(other)))


def set_isdisjoint(obj: Any, getiter: Getiter, other: Any) -> bool:
    """`s.isdisjoint(other)`."""
    return bool(obj.isdisjoint(getiter(other)))


def dict_update(obj: Any, getiter: Getiter, *args: Any, **kwargs: Any) -> None:
    """`d.update(other, **kwargs)`, a step per pair of `other` (the keywords are as many as the code wrote)."""
    if len(args) > 1:
        raise TypeError(f"update expected at most 1 argument, got {len(args)}")
    if args:
        obj.update(getiter(_pairs(args[0])))
    obj.update(kwargs)


def dict_fromkeys(obj: Any, getiter: Getiter, keys: Any, value: Any = None) -> Any:
    """`{}.fromkeys(keys, value)` on an instance, a step per key."""
    return dict.fromkeys(getiter(keys), value)


def merged_dict(getiter: Getiter, *parts: Any) -> dict[Any, Any]:
    """A dict display with `**` in it (`{'a': 1, **d}`): the parts in order, each pair a step."""
    result: dict[Any, Any] = {}
    for part in parts:
        if not (isinstance(part, dict) or hasattr(part, "keys")):
            raise TypeError(f"'{type(part).__name__}' object is not a mapping")
        result.update(getiter(_pairs(part)))
    return result


_SET_METHODS: dict[str, Callable[..., Any]] = {
    "update": set_update, "union": set_union, "intersection": set_intersection,
    "intersection_update": set_intersection_update, "difference": set_difference,
    "difference_update": set_difference_update, "symmetric_difference": set_symmetric_difference,
    "symmetric_difference_update": set_symmetric_difference_update, "issubset": set_issubset,
    "issuperset": set_issuperset, "isdisjoint": set_isdisjoint}
_DICT_METHODS: dict[str, Callable[..., Any]] = {"update": dict_update, "fromkeys": dict_fromkeys}
STEPPED_NAMES = frozenset(_SET_METHODS) | frozenset(_DICT_METHODS)  # the rewrite wraps these attributes


def stepped_method(method: Any, getiter: Getiter) -> Any:
    """The stepped stand-in for `method` (`s.update`, `set.union`, `d.update`, `{}.fromkeys`...) when it is a set's
    or dict's, else `method` itself; the rewrite calls this on every attribute named in STEPPED_NAMES."""
    name = getattr(method, "__name__", None)
    owner = getattr(method, "__self__", None)
    if isinstance(owner, _SETS) and name in _SET_METHODS:
        return functools.partial(_SET_METHODS[name], owner, getiter)
    if isinstance(owner, dict) and name in _DICT_METHODS:
        return functools.partial(_DICT_METHODS[name], owner, getiter)
    if owner is dict and name == "fromkeys":  # a classmethod: `{}.fromkeys` and `dict.fromkeys` alike
        return functools.partial(dict_fromkeys, owner, getiter)
    kind = getattr(method, "__objclass__", None)  # taken from the type: set.union(a, b), dict.update(d, pairs)
    table = _SET_METHODS if kind in _SETS else _DICT_METHODS if kind is dict else {}
    if kind is not None and name in table:
        return functools.partial(_unbound, table[name], method, kind, getiter)
    return method


def _unbound(stepped: Callable[..., Any], method: Any, kind: type, getiter: Getiter, obj: Any = None, *args: Any,
             **kwargs: Any) -> Any:
    if isinstance(obj, kind):
        return stepped(obj, getiter, *args, **kwargs)
    return method(obj, *args, **kwargs)  # the type's own error


def _both_sets(a: Any, b: Any) -> bool:
    return isinstance(a, _SETS) and isinstance(b, _SETS)


def _dicts(a: Any, b: Any) -> bool:
    return a.__class__ is dict and isinstance(b, dict)


def guarded_or(a: Any, b: Any, getiter: Getiter) -> Any:
    """`a | b`: for two sets or two dicts, the second one's items a step each."""
    if _both_sets(a, b):
        return set_union(a, getiter, b)
    if _dicts(a, b):
        result = dict(a)
        result.update(getiter(b.items()))
        return result
    return a | b


def guarded_and(a: Any, b: Any, getiter: Getiter) -> Any:
    """`a & b`."""
    return set_intersection(a, getiter, b) if _both_sets(a, b) else a & b


def guarded_sub(a: Any, b: Any, getiter: Getiter) -> Any:
    """`a - b`."""
    return set_difference(a, getiter, b) if _both_sets(a, b) else a - b


def guarded_xor(a: Any, b: Any, getiter: Getiter) -> Any:
    """`a ^ b`."""
    return set_symmetric_difference(a, getiter, b) if _both_sets(a, b) else a ^ b


def _in_place(stepped: Callable[..., None], binary: Callable[[Any, Any, Getiter], Any]) -> Callable[..., Any]:
    """`s op= t`: a set is changed in place (stepped), anything else gets the binary operator's result."""
    def apply(target: Any, value: Any, getiter: Getiter) -> Any:
        if isinstance(target, set) and isinstance(value, _SETS):
            stepped(target, getiter, value)
            return target
        return binary(target, value, getiter)
    return apply


def _dict_or_in_place(target: Any, value: Any, getiter: Getiter) -> Any:
    if isinstance(target, dict) and not isinstance(target, _SETS):
        dict_update(target, getiter, value)
        return target
    return guarded_or(target, value, getiter)


INPLACE: dict[str, Callable[[Any, Any, Getiter], Any]] = {
    "|=": _in_place(set_update, _dict_or_in_place),
    "&=": _in_place(set_intersection_update, guarded_and),
    "-=": _in_place(set_difference_update, guarded_sub),
    "^=": _in_place(set_symmetric_difference_update, guarded_xor)}
