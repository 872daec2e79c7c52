"""The JSON of a case's stored state: written and read with ujson, the standard library taking what ujson refuses.

Every save serializes the whole workflow (some 30 KB for a case half-way through its procedure), and a load of a case
not held in memory (a timer firing, another process's case) parses it again. On such a state json.dumps took 220 µs
and ujson 90 µs; json.loads 160-195 µs and ujson 125 µs (measured 2026-12-07). ujson writes the same JSON values:
only spacing differs, and text is written as UTF-8 instead of \\u escapes (a Chinese case's state is about a third
smaller); control characters are still escaped. Read back, both give equal data, NaN and Infinity included
(tests/engine/test_state_json.py).

Where ujson refuses a value (a structure nested too deep or circular, a type neither it nor the serializer's
`default` knows) or writes text that is not valid UTF-8 (a lone surrogate, which json escapes), the standard library
does the whole document,
so whatever json did with it before, error included, it still does. Two differences are left, for values the case
data never holds: ujson writes a Decimal as a number, and a dict key of another type than text, number, true/false
or None as its str(), where json refused both. Nothing in SpiffWorkflow or a restricted script makes a Decimal, and
a script that leaves such a key in the case data fails at its element (engine/script_sizes.py check_state), as it
would have failed at the save, but with the reason and the element named.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import ujson

_REFUSED = (TypeError, ValueError, OverflowError, UnicodeError, RecursionError)


def dumps(value: Any, default: Callable[[Any], Any]) -> str:
    """`value` as JSON; `default` converts what JSON has no type for (as json.dumps's `default`)."""
    try:
        text = str(ujson.dumps(value, default=default, ensure_ascii=False, escape_forward_slashes=False))
        text.encode()  # a lone surrogate passes through ujson unescaped, and no database would store it
        return text
    except _REFUSED:
        return json.dumps(value, default=default)


def loads(text: str | bytes) -> Any:
    """The value a JSON document holds."""
    try:
        return ujson.loads(text)
    except _REFUSED:
        return json.loads(text)
