"""What the script budget costs: diagram code compiled with the budget's ticks and guards (engine/script_limits.py)
against the same code compiled by RestrictedPython alone, evaluated through the same globals (but the real `str` and
`repr`) in the same process.

Run: .venv/bin/python -m bench.script_limits. Printed as ratios (limited / unlimited) per kind of code, the fastest
of interleaved rounds each; a plain gateway condition should cost the same (no tick, no guard is compiled into it).
Then the size estimate of the case data that every script execution ends with (`check_state`): its share of a whole
`RestrictedEnvironment.execute` of a small script on case data of a typical size.
"""
from __future__ import annotations

import timeit
from typing import Any

from RestrictedPython import compile_restricted

from engine.script_limits import budget_scope, check_state
from engine.scripting import _BASE, RestrictedEnvironment, _compiled

CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("gateway condition", "eval", "severity == 1 or (escalated and tier == 'premium')",
     {"severity": 2, "escalated": True, "tier": "premium"}),
    ("arithmetic with float", "eval", "hours * 0.8 + base / 2", {"hours": 8, "base": 4}),
    ("arithmetic, guarded ops", "eval", "hours * factor + base ** 2", {"hours": 8, "factor": 3, "base": 4}),
    ("DMN-style cell", "eval", "severity in (1, 2) and onsite", {"severity": 1, "onsite": True}),
    ("comprehension, 100 items", "eval", "sum(i * 2 for i in items)", {"items": list(range(100))}),
    ("loop script, 100 items", "exec", "total = 0\nfor i in items:\n    total = total + i",
     {"items": list(range(100))}),
    ("subtraction and bit ops", "eval", "deadline - elapsed > 4 and flags & mask", {"deadline": 8, "elapsed": 3,
                                                                                  "flags": 6, "mask": 2}),
    ("f-string and str()", "eval", "f'T-{number}' + str(number)", {"number": 123}),
    ("sum(map(...)), 100 items", "eval", "sum(map(abs, items)) > 10 and any(items)", {"items": list(range(100))}),
]


_PLAIN = {**_BASE, "__builtins__": {**_BASE["__builtins__"], "str": str, "repr": repr}}  # the real builtins


def _runner(code: Any, ticks: bool | None, mode: str, context: dict[str, Any],
            iterables: frozenset[str] = frozenset()) -> Any:
    """One evaluation; `ticks` None: RestrictedPython alone, with the real builtins."""
    run = eval if mode == "eval" else exec
    base = _BASE if ticks is not None else _PLAIN

    def once() -> None:
        scope = {**base, **context}
        if ticks:
            scope.update(budget_scope(iterables=iterables))
        run(code, scope)
    return once


def main(rounds: int = 11) -> None:
    """Print one line per kind of code: nanoseconds per evaluation without and with the budget, and the ratio."""
    print(f"{'code':28} {'unlimited ns':>13} {'limited ns':>11} {'ratio':>6}")
    for label, mode, source, context in CASES:
        plain = compile_restricted(source, "<diagram>", mode)  # type: ignore[arg-type]
        limited, ticks, iterables = _compiled(source, mode)
        runs = (_runner(plain, None, mode, context), _runner(limited, ticks, mode, context, iterables))
        number = 20000 if "100" not in label else 2000
        samples: tuple[list[float], list[float]] = ([], [])
        for _ in range(rounds):  # interleaved, so machine noise falls on both alike
            for index, run in enumerate(runs):
                samples[index].append(timeit.timeit(run, number=number) / number * 1e9)
        before, after = min(samples[0]), min(samples[1])  # the least disturbed round of each
        print(f"{label:28} {before:13.0f} {after:11.0f} {after / before:6.2f}")
    state_walk(rounds)


def _case_data() -> dict[str, Any]:
    """Task data the size of a maintenance request's: some fields, a short history, a nested form answer."""
    return {"ticket_number": "T-2026-000123", "severity": 2, "tier": "premium", "escalated": False,
            "title": "Lift stops between floors", "description": "The lift stops between the 3rd and 4th floor. " * 5,
            "contacts": [{"name": f"Contact {i}", "phone": "+86 10 1234 5678", "role": "tenant"} for i in range(3)],
            "history": [{"at": "2026-12-01T08:00:00+00:00", "by": "desk", "note": f"call {i}"} for i in range(10)],
            "answer": {"parts": ["door sensor", "cable"], "hours": 3.5, "approved": True}, "due": None}


def state_walk(rounds: int) -> None:
    """Print the walk's nanoseconds against a whole execute of a one-line script on the same data, and the share."""
    environment, script = RestrictedEnvironment({}), "total = severity * 2 + len(contacts)"
    data = _case_data()

    def execute() -> None:
        environment.execute(script, dict(data))

    def walk() -> None:
        check_state(data)
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for index, run in enumerate((execute, walk)):
            samples[index].append(timeit.timeit(run, number=5000) / 5000 * 1e9)
    whole, part = min(samples[0]), min(samples[1])
    print(f"\n{'case data walk':28} {'execute ns':>13} {'walk ns':>11} {'share':>6}")
    print(f"{'typical case data':28} {whole:13.0f} {part:11.0f} {part / whole:6.2f}")


if __name__ == "__main__":
    main()
