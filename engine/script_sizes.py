"""Size guards of the script budget: checks made before anything large is built.

- `**`, `*`, `<<`, `+` and `%` (the rewrite calls the `guarded_*` functions) estimate the result's size first;
- `%` widths (`check_printf`), f-string format specs (`check_spec`, `guarded_format`) and the padding/repeating
  str methods (`sized_method`: ljust, replace, join, translate, list.extend, ...) are checked;
- `check_state` estimates the case data a script leaves (or an expression's result), `check_text` the text that
  `str()`, `repr()`, an f-string or a `%` format would make of a value, and `check_urlencoded` the text of a
  urlencoded value: shared objects counted at every reference, as serializing or printing them would.
Going over a limit raises ScriptBudgetExceeded, which names the limit.
"""
from __future__ import annotations

import collections
import itertools
import math
import re
import reprlib
from collections.abc import Callable
from typing import Any

from .script_budget import BUDGET, ScriptBudgetExceeded


class UnstorableValue(ScriptBudgetExceeded):
    """Diagram code left a value the case data cannot hold (a dict key JSON has no form for): the case fails at
    that element, as over a budget, instead of at the save."""

    def __init__(self, what: str) -> None:
        Exception.__init__(self, what)
        self.what = what


_KEY_TYPES = frozenset({str, int, float, bool, type(None)})  # what JSON writes as an object's key


def _check_keys(value: dict[Any, Any], what: str) -> None:
    for key in value:
        if key is not None and not isinstance(key, str | int | float):
            raise UnstorableValue(
                f"{what} has a dict key of type {type(key).__name__} ({reprlib.repr(key)}); the case data is "
                "stored as JSON, whose keys are text: use a text (or a number) as the key")


def check_state(data: Any, what: str = "the case data", limit: int | None = None) -> None:
    """Refuse `data` (what a script leaves behind) whose estimated size is over `BUDGET.state_bytes`: str and bytes
    count their length, ints their bytes, every reference in a list, tuple, set or dict 8 bytes, and an object
    shared by many references is counted at each of them (as serializing it would). The walk stops as soon as
    the sum is over the limit, so it visits at most `state_bytes / 8` references however the data is built.
    A dict key JSON cannot write (a tuple, a date ...) is refused too (UnstorableValue). Also the size of a value's
    text (`str([s] * 300)` repeats s): `limit` then is the size limit of a result."""
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
            if not _KEY_TYPES.issuperset(map(type, value)):
                _check_keys(value, what)
            extend(value.keys())
            extend(value.values())
        elif kind is list or kind is tuple or kind is set or kind is frozenset:
            total += 8 * len(value)
            extend(value)
        elif kind is int:
            total += value.bit_length() >> 3
        elif isinstance(value, dict):  # a subclass (Spiff's DotDict...)
            total += 16 * len(value)
            if not _KEY_TYPES.issuperset(map(type, value)):
                _check_keys(value, what)
            extend(value.keys())
            extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            total += 8 * len(value)
            extend(value)
        elif isinstance(value, str | bytes | bytearray):
            total += len(value)
        if total > limit:
            raise ScriptBudgetExceeded(f"{what} of about {total:,}+ bytes (the limit is {limit:,})")



_OWN_TEXT = frozenset({str, int, float, bool, type(None)})  # str() of these is no longer than what exists already


def _quoted(text: str) -> int:
    """The length of `repr(text)`, estimated from above: printable text gains its quotes and escaped backslashes
    and quotes, other ASCII text at most four characters a character ('\\x00'), other text at most ten
    ('\\U000e0001')."""
    if text.isprintable():
        return len(text) + 2 + text.count("\\") + text.count("'")
    return (4 if text.isascii() else 10) * len(text) + 2


def check_text(value: Any, what: str = "a value's text", quoted: bool = False, factor: int = 1) -> Any:
    """`value`, once the text that `str()` (`repr()` when `quoted`) would make of it is estimated within the size
    limit; refused before that text is built. A container's items count as their repr plus a separator, an object
    shared by many references at each of them (`str(['x' * 10**6] * 5000)` is 5 GB of text); the walk stops as soon
    as the sum is over the limit. With a `factor` (urlencoding: 3), strings count their UTF-8 bytes times it.

    Cheap for long containers: a flat one (only ints, only floats and None, or only str) is estimated with a few C
    calls over it (`_flat_text`), and the items of another one are counted by identity first, so that an object
    referenced many times is walked once and counted times its references."""
    kind = value.__class__
    if kind in _OWN_TEXT and not (quoted and kind is str) and factor == 1:
        return value
    limit, total = BUDGET.size_bytes, 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    top = True
    while pending:
        item, times = pending.pop()
        if isinstance(item, str):
            if factor > 1:
                size = factor * (len(item) if item.isascii() else 4 * len(item))
            else:
                size = _quoted(item) if quoted or not top else len(item)
        elif isinstance(item, dict):
            size = 2 + 4 * len(item)
            pending.extend(_counted(item.keys(), times))
            pending.extend(_counted(item.values(), times))
        elif isinstance(item, list | tuple | set | frozenset):
            size = 13 + 2 * len(item)  # brackets (frozenset({...})), separators
            flat = _flat_text(item, factor, (limit - total) // times + 1) if len(item) > _FEW else None
            if flat is None:
                pending.extend(_counted(item, times))
            else:
                size += flat
        elif isinstance(item, bytes | bytearray):
            size = 4 * len(item) + 3
        elif isinstance(item, int):
            size = 2 + (item.bit_length() * 5 >> 4)  # decimal digits: bits * log10(2)
        else:
            size = 32  # a float, None, a date: short
        total += size * times
        top = False
        if total > limit:
            raise ScriptBudgetExceeded(f"{what} of about {total:,}+ bytes (the limit is {limit:,})")
    return value


_FEW = 16  # containers up to this long are walked item by item
_INTS = frozenset({int, bool})
_SHORT = frozenset({float, type(None)})


def _flat_text(items: Any, factor: int, room: int) -> int | None:
    """The text of the items of a container holding only ints, only floats and None, or only str (quoted, or
    urlencoded with a `factor`), estimated from above with C calls over it; None for any other container. `room`:
    what is left under the limit (a larger sum of lengths is returned as soon as known, before looking closer)."""
    kinds = set(map(type, items))
    if kinds <= _INTS:
        largest = max(max(items), -min(items))
        return len(items) * (2 + (int(largest).bit_length() * 5 >> 4))  # as the walk counts each int
    if kinds <= _SHORT:
        return 32 * len(items)
    if kinds != {str}:
        return None
    length = sum(map(len, items))  # each reference: ['x' * 10**6] * 5000 counts 5000 times
    if length > room:
        return length
    text = "".join(items)  # at most `room` characters: a few C passes over it
    if factor > 1:
        return factor * (length if text.isascii() else 4 * length)
    if text.isprintable():  # repr: the quotes, escaped backslashes and quotes
        return length + 2 * len(items) + text.count("\\") + text.count("'")
    return (4 if text.isascii() else 10) * length + 2 * len(items)


def _counted(items: Any, times: int) -> Any:
    """(item, references) pairs of `items`, each counted `times` more: an object that many of a long container's
    references share comes once, with their number (the walk looks at it once)."""
    if len(items) <= _FEW:
        return zip(items, itertools.repeat(times))
    counts = collections.Counter(map(id, items))
    if 2 * len(counts) > len(items):
        return zip(items, itertools.repeat(times))
    objects = dict(zip(map(id, items), items, strict=True))
    return [(objects[key], count * times) for key, count in counts.items()]


def check_urlencoded(value: Any) -> Any:
    """`value`, once its urlencoded text is estimated within the size limit: every UTF-8 byte of its text may
    become `%XX`, lists (doseq) quoted item by item."""
    return check_text(value, "the urlencoded text", factor=3)


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
                check_text(value, "a '%' format's values' text")
        return sized(a % b)
    return a % b


def text_of(value: Any, conversion: int) -> Any:
    """One f-string field without a format spec (`f"{x}"`, `f"{x!r}"`): `value`, once its text is estimated."""
    if value.__class__ in _OWN_TEXT and (conversion == -1 or conversion == 115):
        return value
    return check_text(value, "an f-string value's text", quoted=conversion in (114, 97))


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
    check_spec(spec)
    check_text(value, "an f-string value's text", quoted=conversion in (114, 97))
    if conversion in _CONVERSIONS:
        value = _CONVERSIONS[conversion](value)
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



BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "**": guarded_pow, "*": guarded_mul, "<<": guarded_lshift, "+": guarded_add, "%": guarded_mod}
