"""Diagram code under limits: a CPU-time budget per evaluation and size checks before anything big is built.

The public name of the budget (other modules import from here); its parts:
- engine/script_budget.py: the limits (`Budget`, `configure`), ScriptBudgetExceeded and the step counter with its
  CPU-time deadline;
- engine/script_rewrite.py: the AST rewrite, once at compile time (engine/scripting.py caches the result), and the
  compile-time refusals (constants that obviously explode, `return`/`break`/`continue` leaving a `finally`, `yield`
  inside one);
- engine/script_sizes.py: the size guards and estimates;
- engine/script_collections.py: set and dict operations that take a step per item;
- engine/script_iterables.py: `map`, `filter`, `zip`, `enumerate`, `reversed`, `list`, `tuple`, `sorted`, `min`,
  `max`, `any`, `all`, `sum` that take a step per item;
- engine/script_builtins.py: the stand-ins for builtins (`set`, `dict`, `str`, `repr`, `sum`) and the guard globals.

What the budget does:
- every `while`/`for` body, comprehension iteration, function or lambda entry and except handler takes a step;
  every `CHECK_EVERY` steps the thread's CPU time is compared with the evaluation's deadline;
- `**`, `*`, `<<`, `+` and `%` (augmented forms too) call guards that estimate the result's size first; operations
  that cannot grow (a float operand, a small constant format) are left as they are;
- f-string format specs, `%` widths and the padding/repeating str methods (ljust, replace, join, translate, ...) are
  checked, also when taken from the type (`str.ljust(s, n)`); a join consumes its items one by one;
- `str(x)`, `repr(x)`, f-string fields and `%` values estimate a container's text before building it;
- `pow(a, b, m)` refuses an exponent or modulus over `modpow_bits` (one C call, no tick could stop it);
- `set`, `frozenset` and `dict`, and what grows a set or dict from an iterable (`update`, `union`, `|`, `|=`, `&`,
  `-`, `^`, `fromkeys`, `{*l}`, `{**d}`), take a step per item (hash-colliding keys make them quadratic in C);
- the builtins that walk an iterable in one C call (`map`, `any`, `list`, `sorted`, ... above) take a step per item,
  and `map`/`filter` one more per 1,024 of an item's length (the function they call may walk it): in plain Python
  `any(map(any, [l] * 400))` walks 400 repeated references to a long list without a tick;
- `str(x)`/`repr(x)` estimate a long flat list (ints, floats, str) with a few C calls, and count an object shared by
  many references once, times its references;
- after a script, the case data it leaves is estimated (`check_state`), shared objects counted at every reference;
  an expression's result (a gateway condition, a timer or due date, a decision cell) gets the same check.
Code without loops, functions or the names above gets no tick and no deadline (a set or dict operation in it gets
a deadline of its own). Going over a limit raises ScriptBudgetExceeded, which names the limit; the engine then parks
the case as an incident (engine/incidents.py). Once a budget is exceeded every later tick raises again, so an
`except` clause in the diagram cannot swallow it, a `finally` cannot leave with `return`, `break` or `continue` nor
`yield` (refused when the code is compiled, so deploy names the element and line), and an evaluation (a script, an
expression, a template render) whose counter went over raises at its end even if the error was dropped on the way
(a generator's `finally` running out of time while Python closes it only prints the error).

What remains unbounded (single C calls the budget cannot step into):
- memory of one allocation within the size limits, and of the items a stepped `map` builds before the deadline
  (`list(map(str.upper, [s] * 300))` with a 10 MB `s` holds as many 10 MB copies as the CPU budget allows);
- `==`, `<`, `in`, `list.count`/`index` and `sorted`'s comparisons on repeated references: `[l] * 400 == [m] * 400`
  with `m` an equal copy of `l` walks l 400 times in C (comparisons skip identical items, not equal ones), and so
  does `m in [l] * 400` with `m` differing from `l` at its end; the stepped builtins step per item of their
  iterable (`min`, `max` weighed by the item's length), not per comparison inside `sorted` or an operator;
- a C method on one long value (`s.upper()`, `sorted(l)` of one list): linear in a value the size limits bound;
- `check_state` after a script walks the case data in Python, unticked (at most `state_bytes / 8` references, about
  a second for a list of 2.5 million);
- instruction templates (api/templating.py) have the same gaps: the `in` test, `==` and `sort`'s comparisons.
"""
from __future__ import annotations

from .script_budget import BUDGET, CHECK_EVERY, Budget, ScriptBudgetExceeded, Steps, configure, steps, ticker
from .script_builtins import (
    COLLECTION_BUILTINS,
    GUARD_GLOBALS,
    TEXT_BUILTINS,
    TEXT_TYPE,
    budget_scope,
    collection_builtins,
    guarded_sum,
)
from .script_collections import STEPPED_NAMES, stepped_method
from .script_iterables import ITERABLE_NAMES, SteppedType, weighed
from .script_rewrite import Limiter, exploding_constant, exploding_placeholder, finally_exit, limit_tree
from .script_sizes import (
    BINOPS,
    check_printf,
    check_size,
    check_spec,
    check_state,
    check_text,
    check_urlencoded,
    guarded_add,
    guarded_format,
    guarded_lshift,
    guarded_mod,
    guarded_mul,
    guarded_pow,
    sized,
    sized_items,
    sized_method,
)

__all__ = [
    "BINOPS", "BUDGET", "CHECK_EVERY", "COLLECTION_BUILTINS", "GUARD_GLOBALS", "ITERABLE_NAMES", "STEPPED_NAMES",
    "TEXT_BUILTINS", "TEXT_TYPE", "Budget", "Limiter", "ScriptBudgetExceeded", "SteppedType", "Steps", "budget_scope",
    "check_printf", "check_size", "check_spec", "check_state", "check_text", "check_urlencoded",
    "collection_builtins", "configure", "exploding_constant", "exploding_placeholder", "finally_exit", "guarded_add",
    "guarded_format", "guarded_lshift", "guarded_mod", "guarded_mul", "guarded_pow", "guarded_sum", "limit_tree",
    "sized", "sized_items", "sized_method", "stepped_method", "steps", "ticker", "weighed"]
