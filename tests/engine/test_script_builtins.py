"""The stand-ins diagram code gets for builtins and collection operations: growing a set or dict from an
iterable (`update`, `union`, `|`, `|=`, `{*l}`, `{**d}`, ...) takes a step per item, so hash-colliding keys
(quadratic in C) stop at the CPU deadline; `str`, `repr` and f-strings estimate a container's text before building
it (a list repeating one long string is small, its text is not)."""
from __future__ import annotations

from typing import Any

import pytest

from engine.script_limits import ScriptBudgetExceeded
from engine.scripting import RestrictedEnvironment

pytestmark = pytest.mark.script_budget(0.1)  # a looping script costs a fraction of a second

# ints that are multiples of 2**61 - 1 all hash to 0: every insert probes past all the others
KEYS = [(i * 999 + j) * 2305843009213693951 for i in range(20) for j in range(999)]
SMALL_KEYS = KEYS[:9000]


@pytest.fixture(scope="module")
def colliding() -> dict[str, Any]:
    """Colliding lists, pairs, sets and a dict as task data (a set built by one script stays a set in the data the
    next evaluation gets; these are built here, outside any budget)."""
    return {"l": KEYS, "pairs": [(k, 1) for k in KEYS], "t": set(SMALL_KEYS), "u": set(SMALL_KEYS[4500:]),
            "d": dict.fromkeys(SMALL_KEYS, 1)}


def run(script: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    data = {} if data is None else data
    RestrictedEnvironment({}).execute(script, data)
    return data


@pytest.mark.parametrize("script", [
    "s = set()\ns.update(l)\nn = len(s)",
    "n = len(set().union(l))",
    "n = len(frozenset().union([1], l))",
    "n = len(set.union(set(), l))",
    "s = {1}\ns.symmetric_difference_update(l)\nn = len(s)",
    "n = len(t.intersection(l))",
    "n = t.issubset(l)",
    "n = len({*l})",
    "x = {}\nx.update(pairs)\nn = len(x)",
    "n = len({}.fromkeys(l))",
    "n = len({1} | t)",
    "s = {1}\ns |= t\nn = len(s)",
    "n = len({1} ^ t)",
    "n = len(t - u)",
    "n = len({1: 1} | d)",
    "x = {1: 1}\nx |= d\nn = len(x)",
    "n = len({1: 1, **d})",
])
def test_growing_a_set_or_dict_from_colliding_keys_stops_at_the_cpu_deadline(script: str,
                                                                           colliding: dict[str, Any]) -> None:
    with pytest.raises(ScriptBudgetExceeded, match="CPU time over 0.1 s"):
        run(script, dict(colliding))


def test_set_and_dict_operations_still_give_the_builtins_results() -> None:
    data = run("a = {1, 2, 3}\nb = frozenset([3, 4])\n"
               "r = [a | b, a & b, a - b, a ^ b, b | a, b - a, a.union([5], (6,)), a.intersection([1, 2], [2]),\n"
               "     a.difference([1], [2]), a.symmetric_difference([3, 9]), b.union([1]), a.issubset([1, 2, 3, 4]),\n"
               "     a.issuperset([1]), a.isdisjoint([7]), set.union(a, [8]), {*[1, 1, 2]}, {0, *b}]\n"
               "s = {1}\ns |= {2}\ns &= {2, 3}\ns ^= {4}\ns -= {9}\ns.update([5], [6])\ns.difference_update([6])\n"
               "s.intersection_update([2, 4, 5, 7])\ns.symmetric_difference_update([5, 8])\n"
               "d = {'a': 1}\nd |= {'b': 2}\nd.update([('c', 3)], e=5)\nd.update({'f': 6})\n"
               "e = [d | {'a': 0}, {**d, 'g': 7}, {}.fromkeys('xy', 0), 5 - 3, 6 | 1, 6 & 3, 6 ^ 3]\n"
               "n = 10\nn -= 3\nn |= 16\nf = isinstance(b | a, frozenset) and isinstance(a | b, set)\n")
    assert data["r"] == [{1, 2, 3, 4}, {3}, {1, 2}, {1, 2, 4}, frozenset({1, 2, 3, 4}), frozenset({4}),
                         {1, 2, 3, 5, 6}, {2}, {3}, {1, 2, 9}, frozenset({1, 3, 4}), True, True, True,
                         {1, 2, 3, 8}, {1, 2}, {0, 3, 4}]
    assert data["s"] == {2, 4, 8} and data["n"] == 23 and data["f"] is True
    assert data["d"] == {"a": 1, "b": 2, "c": 3, "e": 5, "f": 6}
    assert data["e"] == [{"a": 0, "b": 2, "c": 3, "e": 5, "f": 6}, {"a": 1, "b": 2, "c": 3, "e": 5, "f": 6, "g": 7},
                         {"x": 0, "y": 0}, 2, 7, 2, 5]


@pytest.mark.parametrize("script", [
    "n = len(str(l))",
    "n = len(repr(l))",
    "n = len(f'{l}')",
    "n = len(f'{l!r}')",
    "n = len(f'{l!s:>5}')",
    "n = len(str({'k': l}))",
    "z = '\\x00' * 3000000\nn = len(repr([z]))",  # each NUL becomes four characters
    "z = '\\x00' * 3000000\nn = len('%r' % ([z],))",
])
def test_the_text_of_a_container_repeating_a_long_string_is_refused_before_it_is_built(script: str) -> None:
    with pytest.raises(ScriptBudgetExceeded, match="text of about"):
        run("l = ['x' * 1000000] * 30\n" + script)


def test_str_repr_and_fstrings_still_work() -> None:
    data = run("a = str([1, 'b', {'c': (2.5, None)}])\nb = repr('q')\nc = f'{a}-{3}-{[1]!r}'\n"
               "d = str(12) + str()\ne = isinstance('x', str) and not isinstance(1, str)\nf = str.upper('k')\n"
               "g = str.join('-', ['x', 'y'])\nh = [str(i) for i in range(3)]\n")
    assert data == {"a": "[1, 'b', {'c': (2.5, None)}]", "b": "'q'", "c": "[1, 'b', {'c': (2.5, None)}]-3-[1]",
                    "d": "12", "e": True, "f": "K", "g": "x-y", "h": ["0", "1", "2"]}
    with pytest.raises(ScriptBudgetExceeded, match="str of about"):
        run("x = str.ljust('a', 10**9)")  # the type's padding methods are still checked through the stand-in
