"""What the script budget costs: diagram code compiled with the budget's ticks and guards (engine/script_limits.py)
against the same code compiled by RestrictedPython alone, evaluated through the same globals in the same process.

Run: .venv/bin/python -m bench.script_limits. Printed as ratios (limited / unlimited) per kind of code, the fastest
of interleaved rounds each; a plain gateway condition should cost the same (no tick, no guard is compiled into it).
"""
from __future__ import annotations

import timeit
from typing import Any

from RestrictedPython import compile_restricted

from engine.script_limits import budget_scope
from engine.scripting import _BASE, _compiled

CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("gateway condition", "eval", "severity == 1 or (escalated and tier == 'premium')",
     {"severity": 2, "escalated": True, "tier": "premium"}),
    ("arithmetic with float", "eval", "hours * 0.8 + base / 2", {"hours": 8, "base": 4}),
    ("arithmetic, guarded ops", "eval", "hours * factor + base ** 2", {"hours": 8, "factor": 3, "base": 4}),
    ("DMN-style cell", "eval", "severity in (1, 2) and onsite", {"severity": 1, "onsite": True}),
    ("comprehension, 100 items", "eval", "sum(i * 2 for i in items)", {"items": list(range(100))}),
    ("loop script, 100 items", "exec", "total = 0\nfor i in items:\n    total = total + i",
     {"items": list(range(100))}),
]


def _runner(code: Any, ticks: bool, mode: str, context: dict[str, Any]) -> Any:
    run = eval if mode == "eval" else exec

    def once() -> None:
        scope = {**_BASE, **context}
        if ticks:
            scope.update(budget_scope())
        run(code, scope)
    return once


def main(rounds: int = 11) -> None:
    """Print one line per kind of code: nanoseconds per evaluation without and with the budget, and the ratio."""
    print(f"{'code':28} {'unlimited ns':>13} {'limited ns':>11} {'ratio':>6}")
    for label, mode, source, context in CASES:
        plain = compile_restricted(source, "<diagram>", mode)  # type: ignore[arg-type]
        limited, ticks = _compiled(source, mode)
        runs = (_runner(plain, False, mode, context), _runner(limited, ticks, mode, context))
        number = 20000 if "100" not in label else 2000
        samples: tuple[list[float], list[float]] = ([], [])
        for _ in range(rounds):  # interleaved, so machine noise falls on both alike
            for index, run in enumerate(runs):
                samples[index].append(timeit.timeit(run, number=number) / number * 1e9)
        before, after = min(samples[0]), min(samples[1])  # the least disturbed round of each
        print(f"{label:28} {before:13.0f} {after:11.0f} {after / before:6.2f}")


if __name__ == "__main__":
    main()
