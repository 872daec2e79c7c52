"""Diagram code under limits: a CPU-time budget per evaluation and size checks before anything big is built.

`limit_tree` rewrites restricted code once, at compile time (engine/scripting.py caches the result):
- every `while`/`for` body, comprehension iteration, function or lambda entry and except handler calls `_tick_()`,
  which counts steps and, every `CHECK_EVERY` of them, compares the thread's CPU time with the evaluation's deadline
  (`time.thread_time()`, reached only once the cheap wall clock says the deadline could have passed);
- `**`, `*`, `<<`, `+` and `%` (augmented forms too) call guards that estimate the result's size first; operations
  that cannot grow (a float operand, a small constant format) are left as they are;
- f-string format specs, `%` widths and the padding/repeating str methods (ljust, replace, join, translate, ...) are
  checked, also when taken from the type (`str.ljust(s, n)`); a join consumes its items one by one;
- `pow(a, b, m)` refuses an exponent or modulus over `modpow_bits` (one C call, no tick could stop it);
- `set`, `frozenset` and `dict` take a step per item (hash-colliding keys make them quadratic in C);
- after a script, the case data it leaves is estimated (`check_state`), shared objects counted at every reference.
Code without loops or functions gets no tick and no deadline at all. Going over a limit raises ScriptBudgetExceeded,
which names the limit; the engine then parks the case as an incident (engine/incidents.py). Once a budget is
exceeded every later tick raises again, so an `except` clause in the diagram cannot swallow it.
"""
from __future__ import annotations

import ast
import copy
import functools
import itertools
import math
import operator
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

CHECK_EVERY = 256  # ticks between two looks at the clock


class ScriptBudgetExceeded(Exception):
    """Diagram code went over its budget; `what` says which limit (CPU time, the size of a result)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"over budget: {what}")
        self.what = what


@dataclass
class Budget:
    """The limits every evaluation gets; `cpu_seconds` comes from AFTERCARE_SCRIPT_CPU_SECONDS."""

    cpu_seconds: float = 1.0
    int_bits: int = 100_000  # an integer result larger than this is refused
    size_bytes: int = 10_000_000  # a str/bytes/list result (or format width) larger than this is refused
    modpow_bits: int = 4096  # pow(a, b, m): an exponent or modulus longer than this is refused (one C call)
    state_bytes: int = 20_000_000  # the case data a script leaves behind, estimated (room for one largest str)


BUDGET = Budget()


def configure(*, cpu_seconds: float) -> None:
    """Set the CPU time each evaluation may take (process-wide, like the business calendar)."""
    if not 0 < cpu_seconds <= 600:
        raise ValueError("the script CPU budget must be between 0 and 600 seconds")
    BUDGET.cpu_seconds = cpu_seconds


def budget_scope(seconds: float | None = None) -> dict[str, Any]:
    """Fresh `_tick_` and `_getiter_` for one evaluation, sharing one step counter with a CPU deadline `seconds`
    from now.

    Built from C parts, so that a step costs C calls only: the counter is a chain of `repeat(True, CHECK_EVERY)`
    runs, and only between two runs does Python code look at the clock. `_tick_()` takes one step (while loops,
    function entries); `_getiter_`, which RestrictedPython already wraps around the iterable of every for loop and
    comprehension, becomes `compress(iterable, counter)`: a step per item, without a Python call. Once over, the
    chain keeps an iterator that raises on every step, so an `except` in the diagram cannot swallow the budget."""
    limit = BUDGET.cpu_seconds if seconds is None else seconds

    def runs() -> Iterator[Iterator[bool]]:
        cpu_deadline = time.thread_time() + limit
        wall_deadline = time.perf_counter() + limit
        while True:
            yield itertools.repeat(True, CHECK_EVERY)
            if time.perf_counter() < wall_deadline:  # a thread's CPU time never runs ahead of the wall clock
                continue
            cpu_left = cpu_deadline - time.thread_time()
            if cpu_left > 0:
                wall_deadline = time.perf_counter() + cpu_left
                continue
            yield _Exceeded(f"CPU time over {limit:g} s")

    steps = itertools.chain.from_iterable(runs())
    getiter = functools.partial(itertools.compress, selectors=steps)
    return {"_tick_": functools.partial(next, steps), "_getiter_": getiter, **collection_builtins(getiter)}


def ticker(seconds: float | None = None) -> Callable[[], bool]:
    """A fresh step counter with a CPU deadline: calling it takes a step, returning True or raising."""
    tick: Callable[[], bool] = budget_scope(seconds)["_tick_"]
    return tick


class _Builder:
    """`set`, `frozenset` or `dict` for diagram code: the items pass through the evaluation's `_getiter_` one by
    one, so that building from hash-colliding keys (quadratic in C) takes a step per item and stops at the CPU
    deadline. `isinstance(x, set)` still works.

    Paths that remain unticked, each one C call on data the code already holds: `set.update`/`union`/
    `intersection`/... (also called on the type: `set.union(a, b)`) and the `|`, `&`, `-`, `^` operators,
    `dict.update`, `{}.fromkeys` on an instance,
    `x in s` (one lookup at a time, so linear per loop) and set/dict literals (bounded by the code's length)."""

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

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kind, name)  # set.union(a, b), ...: the type's own (dunders never get here)

    def __instancecheck__(self, instance: Any) -> bool:
        return isinstance(instance, self.kind)

    def __repr__(self) -> str:
        return f"<class '{self.kind.__name__}'>"


def collection_builtins(getiter: Callable[[Any], Any]) -> dict[str, Any]:
    """`set`, `frozenset` and `dict` whose items take a step each through `getiter` (see _Builder)."""
    return {kind.__name__: _Builder(kind, getiter) for kind in (set, frozenset, dict)}


def _fresh_getiter(iterable: Any) -> Any:
    """For a builder reached outside an evaluation's scope: a fresh deadline of its own."""
    return budget_scope()["_getiter_"](iterable)


COLLECTION_BUILTINS = collection_builtins(_fresh_getiter)


def check_state(data: Any, what: str = "the case data", limit: int | None = None) -> None:
    """Refuse `data` (what a script leaves behind) whose estimated size is over `BUDGET.state_bytes`: str and bytes
    count their length, ints their bytes, every reference in a list, tuple, set or dict 8 bytes, and an object
    shared by many references is counted at each of them (as serializing it would). The walk stops as soon as
    the sum is over the limit, so it visits at most `state_bytes / 8` references however the data is built.
    Also the size of a value's text (`str([s] * 300)` repeats s): `limit` then is the size limit of a result."""
    limit = BUDGET.state_bytes if limit is None else limit
    total = 0
    pending = [data]
    pop, extend = pending.pop, pending.extend
    while pending:
        value = pop()
        kind = value.__class__
        if kind is str or kind is bytes or kind is bytearray:
            total += len(value)
        elif kind is dict:
            total += 16 * len(value)
            extend(value.keys())
            extend(value.values())
        elif kind is list or kind is tuple or kind is set or kind is frozenset:
            total += 8 * len(value)
            extend(value)
        elif kind is int:
            total += value.bit_length() >> 3
        elif isinstance(value, dict):  # a subclass (Spiff's DotDict...)
            total += 16 * len(value)
            extend(value.keys())
            extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            total += 8 * len(value)
            extend(value)
        elif isinstance(value, str | bytes | bytearray):
            total += len(value)
        if total > limit:
            raise ScriptBudgetExceeded(f"{what} of about {total:,}+ bytes (the limit is {limit:,})")


class _Exceeded:
    """An iterator that raises ScriptBudgetExceeded every time it is asked for its next item."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __iter__(self) -> _Exceeded:
        return self

    def __next__(self) -> bool:
        raise ScriptBudgetExceeded(self.what)


# --- size guards -----------------------------------------------------------------------------------------------------

_SEQUENCES = (str, bytes, bytearray, list, tuple)


def _unit(sample: Any) -> int:
    """Bytes per item of a sequence, roughly."""
    if isinstance(sample, str):
        return 1 if sample.isascii() else 4
    return 1 if isinstance(sample, bytes | bytearray) else 8


def check_size(sample: Any, items: int) -> None:
    """Refuse a sequence like `sample` with `items` items that would be over the size limit."""
    size = items * _unit(sample)
    if size > BUDGET.size_bytes:
        raise ScriptBudgetExceeded(f"a {type(sample).__name__} of about {size:,} bytes "
                                   f"(the limit is {BUDGET.size_bytes:,})")


def _check_bits(bits: float, op: str) -> None:
    if bits > BUDGET.int_bits:
        raise ScriptBudgetExceeded(f"'{op}' would give an integer of about {int(bits):,} bits "
                                   f"(the limit is {BUDGET.int_bits:,})")


_SMALL = 1 << 40  # two ints below this multiply (or one raised to a power below 64) into nothing large
_SCALARS = frozenset({int, float, bool, complex})


def guarded_pow(a: Any, b: Any, mod: Any = None) -> Any:
    """`a ** b` (or `pow(a, b, mod)`), refused when the integer result would be too large."""
    if mod is not None:
        # one C call: its time grows with the exponent's bits times the modulus's bits squared
        if isinstance(b, int) and isinstance(mod, int):
            bits = max(abs(b).bit_length(), abs(mod).bit_length())
            if bits > BUDGET.modpow_bits:
                raise ScriptBudgetExceeded(f"'pow' with a {bits:,}-bit exponent or modulus "
                                           f"(the limit is {BUDGET.modpow_bits:,})")
        return pow(a, b, mod)
    if (a.__class__ is int is b.__class__ and b < 64 and -_SMALL < a < _SMALL) or float in (a.__class__, b.__class__):
        return a ** b  # the common cases, without a look at sizes
    if isinstance(a, int) and isinstance(b, int) and b > 1 and abs(a) > 1:
        _check_bits(b * math.log2(abs(a)), "**")
    return a ** b


def guarded_mul(a: Any, b: Any) -> Any:
    """`a * b`, refused when an integer or a repeated str/bytes/list would be too large."""
    if a.__class__ is int is b.__class__ and -_SMALL < a < _SMALL and -_SMALL < b < _SMALL:
        return a * b  # the common case first: attribute loads and comparisons are the cheapest checks
    if a.__class__ is float or b.__class__ is float:
        return a * b
    if isinstance(a, int):
        if isinstance(b, int):
            if a and b:
                _check_bits(abs(a).bit_length() + abs(b).bit_length(), "*")
        elif isinstance(b, _SEQUENCES):
            check_size(b, len(b) * a)
    elif isinstance(b, int) and isinstance(a, _SEQUENCES):
        check_size(a, len(a) * b)
    return a * b


def guarded_lshift(a: Any, b: Any) -> Any:
    """`a << b`, refused when the integer result would be too large."""
    if isinstance(a, int) and isinstance(b, int) and a and b > 0:
        _check_bits(abs(a).bit_length() + b, "<<")
    return a << b


def guarded_add(a: Any, b: Any) -> Any:
    """`a + b`, refused when two sequences together would be too large (doubling in a loop grows fast)."""
    if a.__class__ in _SCALARS or b.__class__ in _SCALARS:
        return a + b
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        check_size(a if _unit(a) >= _unit(b) else b, len(a) + len(b))
    return a + b


_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def check_printf(fmt: str | bytes | bytearray, args: Any = ()) -> None:
    """Refuse a `%` format whose widths and precisions (also `*` ones taken from `args`) add up to too much."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes | bytearray) else fmt
    values = args if isinstance(args, tuple) else (args,)
    total, position = 0, 0
    for match in _PRINTF.finditer(text):
        for part in match.group(1), match.group(2):
            if part == "*":
                value = values[position] if position < len(values) else 0
                position += 1
                total += value if isinstance(value, int) else 0
            elif part:
                total += int(part) if len(part) < 12 else BUDGET.size_bytes + 1
        position += match.group(3) != "%"
    if total > BUDGET.size_bytes:
        raise ScriptBudgetExceeded(f"'%' format widths of {total:,} characters (the limit is {BUDGET.size_bytes:,})")


def guarded_mod(a: Any, b: Any) -> Any:
    """`a % b`; for a str/bytes format its widths are checked first and the result's length after ('%s%s' % (s, s)
    doubles s: the parts were within the limit, so at most a few times the limit is ever built)."""
    if isinstance(a, str | bytes | bytearray):
        check_printf(a, b)
        for value in b if isinstance(b, tuple) else (b,):  # '%s' % ([s] * 300,): a value's text, estimated first
            if not isinstance(value, str | bytes | int | float):
                check_state(value, "a '%' format's values", BUDGET.size_bytes)
        return sized(a % b)
    return a % b


def sized(value: Any) -> Any:
    """`value` (an f-string, a formatted text) if it is within the size limit."""
    if isinstance(value, str | bytes | bytearray):
        check_size(value, len(value))
    return value


_DIGITS = re.compile(r"\d+")


def check_spec(spec: str) -> None:
    """Refuse a format spec ('>20', '.3f', '{:>99999999}') whose width or precision is too large."""
    for digits in _DIGITS.findall(spec):
        if len(digits) > 11 or int(digits) > BUDGET.size_bytes:
            raise ScriptBudgetExceeded(f"a format width of {digits[:20]} characters "
                                       f"(the limit is {BUDGET.size_bytes:,})")


_CONVERSIONS: dict[int, Callable[[Any], str]] = {115: str, 114: repr, 97: ascii}


def guarded_format(value: Any, conversion: int, spec: str) -> str:
    """One f-string field with a format spec: `f"{value!r:>{n}}"` with the spec checked first."""
    if conversion in _CONVERSIONS:
        value = _CONVERSIONS[conversion](value)
    check_spec(spec)
    return format(value, spec)


def _pad(obj: Any, name: str) -> Callable[..., Any]:
    method = getattr(obj, name)

    def padded(width: int, *args: Any) -> Any:
        if isinstance(width, int):
            check_size(obj, width)
        return method(width, *args)
    return padded


def _expandtabs(obj: Any, _name: str) -> Callable[..., Any]:
    def expandtabs(tabsize: int = 8) -> Any:
        if isinstance(tabsize, int) and tabsize > 0:
            check_size(obj, len(obj) + obj.count("\t" if isinstance(obj, str) else b"\t") * tabsize)
        return obj.expandtabs(tabsize)
    return expandtabs


def _replace(obj: Any, _name: str) -> Callable[..., Any]:
    def replace(old: Any, new: Any, count: int = -1) -> Any:
        if isinstance(old, type(obj)) and isinstance(new, type(obj)) and len(new) > len(old):
            hits = obj.count(old) if old else len(obj) + 1
            hits = min(hits, count) if isinstance(count, int) and count >= 0 else hits
            check_size(obj, len(obj) + hits * (len(new) - len(old)))
        return obj.replace(old, new, count)
    return replace


def _join(obj: Any, _name: str) -> Callable[..., Any]:
    def join(iterable: Any) -> Any:
        return obj.join(sized_items(obj, iterable))
    return join


def sized_items(separator: Any, iterable: Any) -> list[Any]:
    """The items of `iterable`, consumed one by one and refused as soon as they, joined by `separator`, would go
    over the size limit (a generator of large strings is never held in memory at once)."""
    items: list[Any] = []
    total, step, unit = 0, len(separator), _unit(separator)
    for item in iterable:
        if isinstance(item, str | bytes | bytearray):
            total += len(item) + step
            if unit == 1 and isinstance(item, str) and not item.isascii():
                unit = 4
            if total * unit > BUDGET.size_bytes:
                raise ScriptBudgetExceeded(f"a joined {type(separator).__name__} of about {total * unit:,}+ bytes "
                                           f"(the limit is {BUDGET.size_bytes:,})")
        items.append(item)
    return items


_TRANSLATE_COUNTS = 256  # table entries that expand whose occurrences are counted before the table is refused


def _translate(obj: Any, name: str) -> Callable[..., Any] | None:
    if not isinstance(obj, str):
        return None  # bytes.translate maps byte to byte (and deletes): it never grows

    def translate(table: Any) -> Any:
        if isinstance(table, dict):
            entries: Any = table.items()
        elif isinstance(table, list | tuple):
            entries = enumerate(table)
        elif table is None or isinstance(table, str | bytes | bytearray):
            entries = ()  # one character for one
        else:
            raise ScriptBudgetExceeded("str.translate with a table that is not a dict, list or str")
        growing = [(key, value) for key, value in entries if isinstance(value, str) and len(value) > 1]
        longest = max((len(value) for _, value in growing), default=1)
        if longest > 1 and len(obj) * longest > BUDGET.size_bytes:  # the rough bound fails: count what grows
            if len(growing) > _TRANSLATE_COUNTS:
                raise ScriptBudgetExceeded(f"str.translate with {len(growing):,} expanding entries")
            size = len(obj)
            for key, value in growing:
                if isinstance(key, int) and 0 <= key <= 0x10FFFF:
                    size += obj.count(chr(key)) * (len(value) - 1)
                    check_size(value, size)
        return obj.translate(table)
    return translate


def _extend(obj: Any, _name: str) -> Callable[..., Any]:
    def extend(iterable: Any) -> None:
        items = iterable if isinstance(iterable, (*_SEQUENCES, dict, set, frozenset)) else list(iterable)
        check_size(obj, len(obj) + len(items))
        obj.extend(items)
    return extend


_TEXT_METHODS: dict[str, Callable[[Any, str], Callable[..., Any] | None]] = {
    "ljust": _pad, "rjust": _pad, "center": _pad, "zfill": _pad, "expandtabs": _expandtabs, "replace": _replace,
    "join": _join, "translate": _translate}


def sized_method(obj: Any, name: str) -> Callable[..., Any] | None:
    """A checked stand-in for `obj.name` when that method can build a large result (str.ljust, list.extend...)."""
    if isinstance(obj, str | bytes | bytearray):
        guard = _TEXT_METHODS.get(name)
        return guard(obj, name) if guard else None  # (None also for bytes.translate, which cannot grow)
    if isinstance(obj, list) and name == "extend":
        return _extend(obj, name)
    return None


def guarded_sum(iterable: Any, start: Any = 0) -> Any:
    """`sum`, with sequences added up (sum(lists, [])) checked for size."""
    if isinstance(start, _SEQUENCES):
        items = list(iterable)
        check_size(start, len(start) + sum(len(i) for i in items if isinstance(i, _SEQUENCES)))
        if isinstance(start, list | tuple) and all(isinstance(i, type(start)) for i in items):
            return type(start)(itertools.chain(start, *items))  # linear, where sum() copies at every step
        return sum(items, start)
    return sum(iterable, start)


BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "**": guarded_pow, "*": guarded_mul, "<<": guarded_lshift, "+": guarded_add, "%": guarded_mod}
_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": guarded_add, "-=": operator.sub, "*=": guarded_mul, "/=": operator.truediv, "//=": operator.floordiv,
    "%=": guarded_mod, "**=": guarded_pow, "<<=": guarded_lshift, ">>=": operator.rshift, "&=": operator.and_,
    "|=": operator.or_, "^=": operator.xor, "@=": operator.matmul}


def guarded_inplace(op: str, target: Any, value: Any) -> Any:
    """RestrictedPython turns `x op= y` into `_inplacevar_(op, x, y)`: the same guards as the binary operators."""
    function = _INPLACE.get(op)
    if function is None:
        raise SyntaxError(f"unsupported augmented assignment {op}")
    return function(target, value)


GUARD_GLOBALS: dict[str, Any] = {
    "_pow_": guarded_pow, "_mul_": guarded_mul, "_lshift_": guarded_lshift, "_add_": guarded_add,
    "_mod_": guarded_mod, "_format_": guarded_format, "_inplacevar_": guarded_inplace, "_sized_": sized}


# --- the rewrite -----------------------------------------------------------------------------------------------------

_GUARDED_OPS: dict[type[ast.operator], str] = {
    ast.Pow: "_pow_", ast.Mult: "_mul_", ast.LShift: "_lshift_", ast.Add: "_add_", ast.Mod: "_mod_"}


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])


def _is_number(node: ast.expr, kinds: tuple[type, ...]) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, kinds) and not isinstance(node.value, bool)


def _needs_guard(node: ast.BinOp) -> bool:
    """Whether an operation can build something large: not with a float operand, not `x + 1`, not a small literal
    '%' format."""
    left, right, op = node.left, node.right, node.op
    if _is_number(left, (float, complex)) or _is_number(right, (float, complex)):
        return False
    if isinstance(op, ast.Add):
        return not (isinstance(left, ast.Constant) or isinstance(right, ast.Constant))
    if isinstance(op, ast.Mod):
        if _is_number(left, (int,)):
            return False
        if isinstance(left, ast.Constant) and isinstance(left.value, str) and "*" not in left.value:
            try:
                check_printf(left.value)
            except ScriptBudgetExceeded:
                return True
            conversions = [match.group(3) for match in _PRINTF.finditer(left.value)]
            # one numeric conversion cannot repeat anything; '%s' of a list repeating one long string can
            return len(conversions) > 1 or any(c in "sra" for c in conversions)
    return True


def _fast_subject(node: ast.BinOp) -> str | None:
    """The name whose class decides, inline, that `node` needs no guard: `x * 3`, `3 * x`, `x + y`, `x % 7` with x
    a plain name and the constant a small int (None: always call the guard)."""
    left, right = node.left, node.right

    def small(n: ast.expr) -> bool:
        return isinstance(n, ast.Constant) and type(n.value) is int and abs(n.value) <= 1 << 16
    if isinstance(node.op, ast.Add) and isinstance(left, ast.Name) and isinstance(right, ast.Name):
        return left.id  # int + anything, float + anything: no sequence can come out of it
    if isinstance(node.op, ast.Mult):
        if isinstance(left, ast.Name) and small(right):
            return left.id
        if isinstance(right, ast.Name) and small(left):
            return right.id
    if isinstance(node.op, ast.Mod) and isinstance(left, ast.Name) and small(right):
        return left.id  # (not `x ** 2`: a large int squared in a loop doubles its size every time)
    return None


class Limiter(ast.NodeTransformer):
    """Adds the tick calls and the operator guards to a tree RestrictedPython has already checked; `ticks` tells
    whether any tick was added (code without one needs no budget). `tick` builds the tick call; `iterations` ticks
    in every for loop and comprehension too (code whose iterables do not pass through `_getiter_`)."""

    def __init__(self, tick: Callable[[], ast.expr] = lambda: _call("_tick_"), operators: bool = True,
                 iterations: bool = False) -> None:
        self.ticks = False
        self._tick_call = tick
        self._operators = operators
        self._iterations = iterations

    def _tick(self) -> ast.expr:
        self.ticks = True
        return self._tick_call()

    def _body_first(self, node: Any) -> Any:
        self.generic_visit(node)
        node.body.insert(0, ast.Expr(self._tick()))
        return node

    # for loops and comprehensions step through `_getiter_` (see budget_scope), unless told to tick themselves
    visit_While = visit_FunctionDef = visit_AsyncFunctionDef = visit_ExceptHandler = _body_first

    def visit_For(self, node: Any) -> Any:
        return self._body_first(node) if self._iterations else self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self.generic_visit(node)
        node.body = ast.BoolOp(op=ast.And(), values=[self._tick(), node.body])
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        if self._iterations:
            node.ifs.insert(0, self._tick())
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        name = _GUARDED_OPS.get(type(node.op))
        if not self._operators or name is None or not _needs_guard(node):
            return node
        guarded = ast.copy_location(_call(name, copy.deepcopy(node.left), copy.deepcopy(node.right)), node)
        subject = _fast_subject(node)
        if subject is None:
            return guarded
        # `i * 2` in a loop: a number times a small constant cannot grow much, so look at the class inline and
        # call the guard only for anything else (a str or list repeated); the name is read twice, which is free.
        test = ast.BoolOp(op=ast.Or(), values=[
            ast.Compare(left=ast.Attribute(ast.Name(subject, ast.Load()), "__class__", ast.Load()), ops=[ast.Is()],
                        comparators=[ast.Name(kind, ast.Load())]) for kind in ("int", "float")])
        return ast.copy_location(ast.IfExp(test=test, body=node, orelse=guarded), node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        self.generic_visit(node)
        if not self._operators or sum(isinstance(v, ast.FormattedValue) for v in node.values) < 2:
            return node
        return ast.copy_location(_call("_sized_", node), node)  # f"{s}{s}" doubles s

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        if not self._operators or node.format_spec is None:
            return node
        spec = node.format_spec
        call = _call("_format_", node.value, ast.Constant(node.conversion), spec)
        return ast.copy_location(ast.FormattedValue(value=call, conversion=-1, format_spec=None), node)


def limit_tree(tree: ast.AST) -> tuple[ast.AST, bool]:
    """`tree` with ticks and guards, and whether it ticks at all."""
    limiter = Limiter()
    tree = ast.fix_missing_locations(limiter.visit(tree))
    return tree, limiter.ticks


# --- deploy: constants that obviously explode ------------------------------------------------------------------------

_FOLDABLE: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Pow: guarded_pow, ast.Mult: guarded_mul, ast.LShift: guarded_lshift, ast.Add: guarded_add,
    ast.Mod: guarded_mod, ast.Sub: operator.sub, ast.FloorDiv: operator.floordiv, ast.RShift: operator.rshift}
_NOT_CONSTANT = object()


def exploding_constant(tree: ast.AST) -> tuple[int, str] | None:
    """The line and reason of the first constant sub-expression (`10**10**10`, `'x' * 10**10`) that would exceed
    the budget, folded with the same guards the running code gets; None when there is none."""
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp | ast.Call) and (isinstance(node, ast.BinOp) or _is_pow_call(node)):
            try:
                _fold(node)
            except ScriptBudgetExceeded as exc:
                return getattr(node, "lineno", 1), exc.what
    return None


def _is_pow_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "pow"
            and 2 <= len(node.args) <= 3 and not node.keywords)


def _fold(node: ast.expr) -> Any:
    if isinstance(node, ast.Call) and _is_pow_call(node):  # pow(3, 2**20000 - 1, 2**20000 - 1)
        args = [_fold(a) for a in node.args]
        if any(a is _NOT_CONSTANT for a in args):
            return _NOT_CONSTANT
        try:
            return guarded_pow(*args)
        except ScriptBudgetExceeded:
            raise
        except Exception:
            return _NOT_CONSTANT
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple) and len(node.elts) <= 100:  # [0] * 10**9
        items = [_fold(e) for e in node.elts]
        if any(i is _NOT_CONSTANT for i in items):
            return _NOT_CONSTANT
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _fold(node.operand)
        return _NOT_CONSTANT if value is _NOT_CONSTANT else (-value if isinstance(node.op, ast.USub) else value)
    if isinstance(node, ast.BinOp) and type(node.op) in _FOLDABLE:
        left, right = _fold(node.left), _fold(node.right)
        if left is _NOT_CONSTANT or right is _NOT_CONSTANT:
            return _NOT_CONSTANT
        try:
            return _FOLDABLE[type(node.op)](left, right)
        except ScriptBudgetExceeded:
            raise
        except Exception:
            return _NOT_CONSTANT  # 1 / 0, 'a' - 1: the compiler or the run reports those
    return _NOT_CONSTANT


_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.S)


def exploding_placeholder(text: str) -> tuple[str, str] | None:
    """The first `{{ ... }}` or `{% ... %}` of task instructions whose constant arithmetic would go over the budget
    (`{{ 10 ** (10 ** 10) }}`), as (placeholder, reason); Jinja's arithmetic on numbers and text is Python's."""
    for match in _PLACEHOLDER.finditer(text):
        body = (match.group(1) or match.group(2) or "").strip()
        # `{% set x = ... %}`, `{% if ... %}`: also the part after the `=` or the keyword
        for candidate in (body, body.partition("=")[2], body.partition(" ")[2]):
            try:
                tree = ast.parse(candidate.strip(), mode="eval")
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                continue
            found = exploding_constant(tree)
            if found is not None:
                return match.group(0)[:120], found[1]
    return None
