"""Diagram scripts run restricted, at deploy time and again at run time."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine.effects import Effects
from engine.scripting import RestrictedEnvironment, ScriptRejected, calendar_functions, compile_checked

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # Friday 16:00 in Shanghai


def env() -> BasePythonScriptEngineEnvironment:
    return RestrictedEnvironment({**calendar_functions(lambda: NOW), **Effects().functions()})


@pytest.mark.parametrize("script", [
    "__import__('os').system('touch /tmp/pwned')",
    "x = ().__class__.__base__.__subclasses__()",
    "import os",
    "from os import path",
    "open('/etc/passwd').read()",
    "x = getattr(1, '__class__')",
])
def test_escapes_are_refused_at_run_time(script: str) -> None:
    data: dict[str, object] = {}
    with pytest.raises((PermissionError, NameError, AttributeError, TypeError, ImportError)):
        env().execute(script, data)
    assert data == {}


def test_imports_are_refused_at_compile_time() -> None:
    with pytest.raises(ScriptRejected, match="imports are not allowed"):
        compile_checked("import os", "exec")
    with pytest.raises(ScriptRejected, match="_"):
        compile_checked("__import__('os')", "eval")


def test_ordinary_scripts_work_and_only_data_comes_back() -> None:
    data = {"severity": 3, "items": [1, 2, 3]}
    env().execute("total = sum(i * 2 for i in items)\nlabel = 'L%d' % severity\n"
                  "due = add_working_hours(now(), 4, 'working')", data)
    assert data["total"] == 12 and data["label"] == "L3"
    assert data["due"] == "2026-11-30T03:00:00+00:00"  # Friday 16:00 + 4 working h = Monday 11:00 Shanghai
    assert not any(callable(v) for v in data.values())


def test_expressions_see_task_data_and_functions() -> None:
    assert env().evaluate("severity == 1 or escalated", {"severity": 2, "escalated": True}) is True
    assert env().evaluate("add_working_duration(start, 'P3D', 'working')",
                          {"start": "2026-11-27T08:00:00+00:00"}) == "2026-12-02T08:00:00+00:00"


def test_effect_functions_check_their_arguments() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        env().execute("notify_role('wizards', 'x')", {})
    with pytest.raises(ValueError, match="unknown breach kind"):
        env().execute("record_breach('lunch')", {})
