"""The builtins that walk an iterable in one C call, stepped: what diagram code gets for `map`, `filter`, `zip`,
`enumerate`, `reversed` and the consumers `list`, `tuple`, `sorted`, `min`, `max`, `any`, `all`, `sum`.

In plain Python `any(map(any, [l] * 400))` is two C calls that walk 400 million items with no tick in between (the
repeated list costs nothing to build). Here every item these functions take passes through the evaluation's
`_getiter_` (a `compress` against the step counter, engine/script_budget.py), so the CPU deadline stops them; the
function that `map` and `filter` call on each item may be one C call over that item (`str.upper`, `sorted`), so
their items are weighed too: an item with a length takes one more step per 1,024 of its length. Code that names
any of these gets a deadline even without loops (engine/scripting.py).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterator
from typing import Any

Getiter = Callable[[Any], Any]
Take = Callable[[int], Any]
_SIZED = frozenset({str, bytes, bytearray, list, tuple, dict, set, frozenset})
WEIGHT_SHIFT = 10  # an item of length n takes n >> WEIGHT_SHIFT steps more


def weighed(iterable: Any, getiter: Getiter, take: Take) -> Iterator[Any]:
    """The items of `iterable`, a step each, and a long item (str, list, dict, ...) one more step per 1,024 of its
    length: what a C function called on it may walk. A collection whose items have no length (a list of numbers,
    a str: its items are characters) steps in C only."""
    kind = iterable.__class__
    if kind is str or (kind in _COLLECTIONS and _SIZED.isdisjoint(set(map(type, iterable)))):
        return getiter(iterable)
    return _weighed(iterable, getiter, take)


_COLLECTIONS = frozenset({list, tuple, range, set, frozenset, dict})  # iterated again without harm


def _weighed(iterable: Any, getiter: Getiter, take: Take) -> Iterator[Any]:
    for item in getiter(iterable):
        if item.__class__ in _SIZED:
            extra = len(item) >> WEIGHT_SHIFT
            if extra:
                take(extra)
        yield item


class TypeStandIn:
    """What diagram code gets in place of a built-in type (`kind`) whose call is guarded: `isinstance(x, list)`,
    `issubclass` and the type's own methods (`list.append`) still work, and it prints as the type."""

    kind: type

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kind, name)  # set.union(a, b), ...: the type's own (dunders never get here)

    def __instancecheck__(self, instance: Any) -> bool:
        return isinstance(instance, self.kind)

    def __subclasscheck__(self, subclass: Any) -> bool:
        return issubclass(subclass, self.kind)

    def __repr__(self) -> str:
        return f"<class '{self.kind.__name__}'>"


class SteppedType(TypeStandIn):
    """`list`, `tuple`, `map`, ... for diagram code: the call steps through its iterables (see the module's
    docstring)."""

    def __init__(self, kind: type, call: Callable[..., Any]) -> None:
        self.kind = kind
        self.call = call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(*args, **kwargs)


def _sequence(kind: type, getiter: Getiter, *args: Any, **kwargs: Any) -> Any:
    if not args:
        return kind(**kwargs)
    if len(args) > 1:
        raise TypeError(f"{kind.__name__} expected at most 1 argument, got {len(args)}")
    return kind(getiter(args[0]), **kwargs)


def _map(getiter: Getiter, take: Take, function: Any, *iterables: Any) -> Any:
    if not iterables:
        raise TypeError("map() must have at least two arguments.")
    return map(function, *(weighed(i, getiter, take) for i in iterables))


def _filter(getiter: Getiter, take: Take, function: Any, iterable: Any) -> Any:
    return filter(function, weighed(iterable, getiter, take))


def _zip(getiter: Getiter, *iterables: Any, **kwargs: Any) -> Any:
    return zip(*(getiter(i) for i in iterables), **kwargs)  # noqa: B905 (the code's own `strict=`, if any)


def _enumerate(getiter: Getiter, iterable: Any, start: int = 0) -> Any:
    return enumerate(getiter(iterable), start)


def _reversed(getiter: Getiter, sequence: Any) -> Any:
    return getiter(reversed(sequence))


def _one_iterable(function: Callable[..., Any], getiter: Getiter, take: Take, *args: Any, **kwargs: Any) -> Any:
    """min, max: the one-iterable form steps per item, weighed (comparing two long lists walks them, so does a
    `key` like str.upper); `max(a, b)` compares what the code names."""
    if len(args) == 1:
        return function(weighed(args[0], getiter, take), **kwargs)
    return function(*args, **kwargs)


def _sorted(getiter: Getiter, take: Take, iterable: Any, /, *, key: Any = None, reverse: bool = False) -> Any:
    """`sorted`: with a `key`, the keys are made one by one while the items step (weighed); plain `sorted` would
    make them all in one C call once it holds the items. Comparisons while sorting stay one C call."""
    if key is None:
        return sorted(getiter(iterable), reverse=reverse)
    items = list(getiter(iterable))
    keys = list(map(key, weighed(items, getiter, take)))
    return [items[index] for index in sorted(range(len(items)), key=keys.__getitem__, reverse=reverse)]


def _consumer(function: Callable[..., Any], getiter: Getiter, iterable: Any, *args: Any, **kwargs: Any) -> Any:
    return function(getiter(iterable), *args, **kwargs)


ITERABLE_NAMES = frozenset({"map", "filter", "zip", "enumerate", "reversed", "list", "tuple", "sorted", "min", "max",
                            "any", "all", "sum"})


def iterable_builtins(getiter: Getiter, take: Take, checked_sum: Callable[..., Any],
                      names: Collection[str] = ITERABLE_NAMES) -> dict[str, Any]:
    """The stepped stand-ins of `names` (some of ITERABLE_NAMES) for one evaluation's `getiter` and `take`
    (`checked_sum`: the sum that checks sequences added up, engine/script_builtins.py)."""
    return {name: _MAKERS[name](getiter, take, checked_sum) for name in names}


def _typed(kind: type, call: Callable[..., Any]) -> Callable[[Getiter, Take, Any], SteppedType]:
    return lambda getiter, take, _sum: SteppedType(kind, functools.partial(call, getiter))


def _weighing(kind: type, call: Callable[..., Any]) -> Callable[[Getiter, Take, Any], SteppedType]:
    return lambda getiter, take, _sum: SteppedType(kind, functools.partial(call, getiter, take))


def _consuming(function: Callable[..., Any]) -> Callable[[Getiter, Take, Any], Any]:
    return lambda getiter, take, _sum: functools.partial(_consumer, function, getiter)


def _bounds(function: Callable[..., Any]) -> Callable[[Getiter, Take, Any], Any]:
    return lambda getiter, take, _sum: functools.partial(_one_iterable, function, getiter, take)


_MAKERS: dict[str, Callable[[Getiter, Take, Any], Any]] = {
    "list": _typed(list, functools.partial(_sequence, list)),
    "tuple": _typed(tuple, functools.partial(_sequence, tuple)),
    "map": _weighing(map, _map), "filter": _weighing(filter, _filter),
    "zip": _typed(zip, _zip), "enumerate": _typed(enumerate, _enumerate), "reversed": _typed(reversed, _reversed),
    "sorted": lambda getiter, take, _sum: functools.partial(_sorted, getiter, take),
    "any": _consuming(any), "all": _consuming(all),
    "min": _bounds(min), "max": _bounds(max),
    "sum": lambda getiter, take, checked_sum: functools.partial(_consumer, checked_sum, getiter)}
