"""Diagram code under limits: a CPU-time budget per evaluation and size checks before anything big is built.

The public name of the budget (other modules import from here); its parts:
- engine/script_budget.py: the limits (`Budget`, `configure`), ScriptBudgetExceeded and the step counter with its
  CPU-time deadline;
- engine/script_rewrite.py: the AST rewrite, once at compile time (engine/scripting.py caches the result), and the
  compile-time refusals (constants that obviously explode, `return`/`break`/`continue` leaving a `finally`);
- engine/script_sizes.py: the size guards and estimates;
- engine/script_collections.py: set and dict operations that take a step per item;
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
- after a script, the case data it leaves is estimated (`check_state`), shared objects counted at every reference;
  an expression's result (a gateway condition, a timer or due date, a decision cell) gets the same check.
Code without loops or functions gets no tick and no deadline (a set or dict operation in it gets a deadline of its
own). Going over a limit raises ScriptBudgetExceeded, which names the limit; the engine then parks the case as an
incident (engine/incidents.py). Once a budget is exceeded every later tick raises again, so an `except` clause in
the diagram cannot swallow it, and a `finally` cannot leave with `return`, `break` or `continue` (refused when the
code is compiled, so deploy names the element and line).
"""
from __future__ import annotations

from .script_budget import BUDGET, CHECK_EVERY, Budget, ScriptBudgetExceeded, configure, steps, ticker
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
    "BINOPS", "BUDGET", "CHECK_EVERY", "COLLECTION_BUILTINS", "GUARD_GLOBALS", "STEPPED_NAMES", "TEXT_BUILTINS",
    "TEXT_TYPE", "Budget", "Limiter", "ScriptBudgetExceeded", "budget_scope", "check_printf", "check_size",
    "check_spec", "check_state", "check_text", "check_urlencoded",
    "collection_builtins", "configure", "exploding_constant", "exploding_placeholder", "finally_exit", "guarded_add",
    "guarded_format", "guarded_lshift", "guarded_mod", "guarded_mul", "guarded_pow", "guarded_sum", "limit_tree",
    "sized", "sized_items", "sized_method", "stepped_method", "steps", "ticker"]
