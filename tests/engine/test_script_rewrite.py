"""Compile-time rules of the budget's rewrite: `return`, `break` or `continue` inside a `finally` would swallow
the budget's exception, so such code is refused, naming the line (deploy names the element too); and an
expression's result (a gateway condition, a timer or due expression, a decision cell) is size-checked like
the case data a script leaves."""
from __future__ import annotations

import pytest

from engine.commands import Aftercare
from engine.errors import InvalidProcess
from engine.script_limits import ScriptBudgetExceeded
from engine.scripting import RestrictedEnvironment, ScriptRejected, compile_checked
from engine.users import Actor
from tests.fixtures.incidents.diagrams import limited

pytestmark = pytest.mark.script_budget(0.1)  # a looping script costs a fraction of a second

OWNER = Actor("process_owner", "process_owner")
SWALLOW = "def f():\n    try:\n        while True:\n            pass\n    finally:\n        return 1\nx = f()"


@pytest.mark.parametrize(("script", "line", "word"), [
    (SWALLOW, 6, "return"),
    ("for i in [1]:\n    try:\n        x = 1\n    finally:\n        if i:\n            continue", 6, "continue"),
    ("while True:\n    try:\n        pass\n    finally:\n        break", 5, "break"),
    ("try:\n    pass\nfinally:\n    try:\n        pass\n    finally:\n        x = [1 for i in []]\n"
     "def g():\n    try:\n        pass\n    finally:\n        for i in [1]:\n            return i", 13, "return"),
])
def test_leaving_a_finally_block_is_refused_naming_the_line(script: str, line: int, word: str) -> None:
    with pytest.raises(ScriptRejected, match=f"line {line}: '{word}' inside 'finally'"):
        compile_checked(script, "exec")


def test_loops_and_functions_inside_a_finally_block_stay_allowed() -> None:
    data: dict[str, object] = {}
    RestrictedEnvironment({}).execute(
        "x = []\ntry:\n    pass\nfinally:\n    for i in [1, 2]:\n        if i == 2:\n            break\n"
        "        x.append(i)\n    while True:\n        break\n    def f():\n        return 3\n    y = f()", data)
    assert data["x"] == [1] and data["y"] == 3


def test_the_budget_cannot_be_swallowed_any_more() -> None:
    with pytest.raises(ScriptRejected):
        compile_checked(SWALLOW, "exec")


def test_deploy_names_the_element_and_line_of_a_finally_exit(facade: Aftercare) -> None:
    with pytest.raises(InvalidProcess) as refused:
        facade.deploy(files=limited(script=SWALLOW), actor=OWNER)
    [problem] = refused.value.problems
    assert problem["element_id"] == "calc" and "line 6: 'return' inside 'finally'" in problem["message"]


def test_an_expression_result_over_the_case_data_limit_is_refused() -> None:
    big = "s" * 9_000_000
    with pytest.raises(ScriptBudgetExceeded, match="the expression's result of about"):
        RestrictedEnvironment({}).evaluate("[s] * 40", {"s": big})
    assert RestrictedEnvironment({}).evaluate("[s] * 2", {"s": big}) == [big, big]
    assert RestrictedEnvironment({}).evaluate("severity == 1", {"severity": 1}) is True
