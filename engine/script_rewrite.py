"""The budget's compile-time part: the AST rewrite that adds ticks and size guards to restricted code (`Limiter`,
`limit_tree`), and the deploy-time check for constant expressions that obviously explode (`exploding_constant`,
`exploding_placeholder`), folded with the same guards the running code gets.

- every `while`/`for` body, comprehension iteration, function or lambda entry and except handler calls `_tick_()`
  (for loops and comprehensions step through `_getiter_` instead, see engine/script_budget.py);
- `**`, `*`, `<<`, `+` and `%` (augmented forms too) call the guards of engine/script_sizes.py; operations that
  cannot grow (a float operand, a small constant format) are left as they are;
- f-string fields with a format spec go through `_format_`, f-strings with two fields or more through `_sized_`.
Code without loops or functions gets no tick and no deadline at all.
"""
from __future__ import annotations

import ast
import copy
import operator
import re
from collections.abc import Callable
from typing import Any

from .script_budget import ScriptBudgetExceeded
from .script_collections import STEPPED_NAMES
from .script_sizes import _PRINTF, check_printf, guarded_add, guarded_lshift, guarded_mod, guarded_mul, guarded_pow

_GUARDED_OPS: dict[type[ast.operator], str] = {
    ast.Pow: "_pow_", ast.Mult: "_mul_", ast.LShift: "_lshift_", ast.Add: "_add_", ast.Mod: "_mod_"}
# on two sets or two dicts these insert or look up every item of one operand: the guard steps through `_stepiter_`
_TABLE_OPS: dict[type[ast.operator], str] = {ast.BitOr: "_or_", ast.BitAnd: "_and_", ast.BitXor: "_xor_",
                                              ast.Sub: "_sub_"}
_STEPPED_INPLACE = frozenset({"|=", "&=", "-=", "^="})


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
    if type(op) in _TABLE_OPS:  # `x - 1`, `flags & 4`: a constant is no set or dict
        return not (isinstance(left, ast.Constant) or isinstance(right, ast.Constant))
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
    if type(node.op) in _TABLE_OPS and isinstance(left, ast.Name):
        return left.id  # `a - b` of numbers: no set, no dict
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
        name: str | None = _GUARDED_OPS.get(type(node.op))
        extra: list[ast.expr] = []
        if type(node.op) in _TABLE_OPS:
            name, extra = _TABLE_OPS[type(node.op)], [ast.Name("_stepiter_", ast.Load())]
        if not self._operators or name is None or not _needs_guard(node):
            return node
        guarded = ast.copy_location(_call(name, copy.deepcopy(node.left), copy.deepcopy(node.right), *extra), node)
        subject = _fast_subject(node)
        if subject is None:
            return guarded
        # `i * 2` in a loop: a number times a small constant cannot grow much, so look at the class inline and
        # call the guard only for anything else (a str or list repeated); the name is read twice, which is free.
        def subject_class() -> ast.expr:
            return ast.Attribute(ast.Name(subject, ast.Load()), "__class__", ast.Load())
        test: ast.expr = ast.BoolOp(op=ast.Or(), values=[
            ast.Compare(left=subject_class(), ops=[ast.Is()], comparators=[ast.Name(kind, ast.Load())])
            for kind in ("int", "float")])
        if extra:  # `a - b`, `flags & mask`: one lookup in a frozenset of the number classes
            test = ast.Compare(left=subject_class(), ops=[ast.In()], comparators=[ast.Name("_numbers_", ast.Load())])
        return ast.copy_location(ast.IfExp(test=test, body=node, orelse=guarded), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if not self._operators or not isinstance(node.func, ast.Name) or len(node.args) < 2:
            return node
        first, getiter = node.args[1 if node.func.id == "_getattr_" else 0], ast.Name("_stepiter_", ast.Load())
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            return node
        if node.func.id == "_getattr_" and first.value in STEPPED_NAMES:  # s.update, d.update, set.union, ...
            return ast.copy_location(_call("_stepped_", node, getiter), node)
        if node.func.id == "_inplacevar_" and first.value in _STEPPED_INPLACE:  # s |= t
            node.args.append(getiter)
        return node

    def visit_Set(self, node: ast.Set) -> ast.AST:
        self.generic_visit(node)
        if self._operators:  # {*l}: the items of l a step each
            node.elts = [ast.Starred(_call("_stepiter_", e.value), ast.Load()) if isinstance(e, ast.Starred) else e
                         for e in node.elts]
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        self.generic_visit(node)
        if not self._operators or all(key is not None for key in node.keys):
            return node
        parts: list[ast.expr] = []  # {'a': 1, **d, 'b': 2}: _merged_(_stepiter_, {'a': 1}, d, {'b': 2}), in order
        literal: ast.Dict | None = None
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                parts.append(value)
                literal = None
            elif literal is None:
                literal = ast.Dict(keys=[key], values=[value])
                parts.append(literal)
            else:
                literal.keys.append(key)
                literal.values.append(value)
        return ast.copy_location(_call("_merged_", ast.Name("_stepiter_", ast.Load()), *parts), node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        self.generic_visit(node)
        if not self._operators or sum(isinstance(v, ast.FormattedValue) for v in node.values) < 2:
            return node
        return ast.copy_location(_call("_sized_", node), node)  # f"{s}{s}" doubles s

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        if not self._operators:
            return node
        if node.format_spec is None:  # f"{l}": the text of a container, estimated first
            value = node.value
            if isinstance(value, ast.Name) and node.conversion in (-1, 115):
                # f"T-{number}": a str or number's text is no larger than itself; look at the class inline
                test = ast.Compare(left=ast.Attribute(ast.Name(value.id, ast.Load()), "__class__", ast.Load()),
                                   ops=[ast.In()], comparators=[ast.Name("_own_text_", ast.Load())])
                checked = _call("_text_", ast.Name(value.id, ast.Load()), ast.Constant(node.conversion))
                node.value = ast.IfExp(test=test, body=value, orelse=checked)
            elif not isinstance(value, ast.Constant):
                node.value = _call("_text_", value, ast.Constant(node.conversion))
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


# --- compile time: a `finally` that would swallow the budget ---------------------------------------------------------

def finally_exit(tree: ast.AST) -> tuple[int, str] | None:
    """The line and keyword of the first `return`, `break` or `continue` that leaves a `finally` block, or `yield`
    or `yield from` inside one (it would swallow the exception under way, the budget's too: a generator closed while
    its `finally` yields drops it); None when there is none. Loops and functions defined inside
    the block may use them for themselves."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Try | ast.TryStar):
            for statement in node.finalbody:
                found = _leaving(statement, in_loop=False)
                if found is not None:
                    return found
    return None


def _leaving(node: ast.AST, *, in_loop: bool) -> tuple[int, str] | None:
    if isinstance(node, ast.Return) or (isinstance(node, ast.Break | ast.Continue) and not in_loop):
        return node.lineno, type(node).__name__.lower()
    if isinstance(node, ast.Yield | ast.YieldFrom):
        return node.lineno, "yield" if isinstance(node, ast.Yield) else "yield from"
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
        return None  # its own return
    for child in ast.iter_child_nodes(node):
        loop_body = isinstance(node, ast.For | ast.AsyncFor | ast.While) and child not in node.orelse
        found = _leaving(child, in_loop=in_loop or loop_body)
        if found is not None:
            return found
    return None
