"""The script budget's core: its limits (`Budget`), the exception that names the limit gone over, and the step
counter with a CPU-time deadline that the rewritten code ticks (engine/script_rewrite.py adds the ticks).

A step costs C calls only: the counter is a chain of `repeat(True, CHECK_EVERY)` runs, and only between two runs
does Python code look at the clock (`time.thread_time()`, reached only once the cheap wall clock says the deadline
could have passed). Once over, the chain keeps an iterator that raises on every step, so an `except` in the diagram
cannot swallow the budget, and the counter remembers it (`Steps.exceeded`), so that the evaluation raises at its end
even if the error was dropped on the way. The deadline counts from the counter's creation (the evaluation's start),
not from its first step.
"""
from __future__ import annotations

import collections
import functools
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

CHECK_EVERY = 256  # ticks between two looks at the clock


class ScriptBudgetExceeded(Exception):
    """Diagram code went over its budget; `what` says which limit (CPU time, the size of a result)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"over budget: {what}")
        self.what = what


@dataclass
class Budget:
    """The limits every evaluation gets; `cpu_seconds` comes from AFTERCARE_SCRIPT_CPU_SECONDS."""

    cpu_seconds: float = 1.0
    int_bits: int = 100_000  # an integer result larger than this is refused
    size_bytes: int = 10_000_000  # a str/bytes/list result (or format width) larger than this is refused
    modpow_bits: int = 4096  # pow(a, b, m): an exponent or modulus longer than this is refused (one C call)
    state_bytes: int = 20_000_000  # the case data a script leaves behind, estimated (room for one largest str)


BUDGET = Budget()


def configure(*, cpu_seconds: float) -> None:
    """Set the CPU time each evaluation may take (process-wide, like the business calendar)."""
    if not 0 < cpu_seconds <= 600:
        raise ValueError("the script CPU budget must be between 0 and 600 seconds")
    BUDGET.cpu_seconds = cpu_seconds


class Steps(NamedTuple):
    """One evaluation's step counter: `tick()` takes a step, `getiter(iterable)` steps per item, `take(n)` takes n
    steps at once (C speed), and `exceeded()` names the limit once the deadline has passed (None before): checked
    after the evaluation, so that an exception swallowed on the way out (a generator closed with the budget's error
    pending) still ends it."""

    tick: Callable[[], bool]
    getiter: Callable[[Any], Any]
    take: Callable[[int], Any]
    exceeded: Callable[[], str | None]


def steps(seconds: float | None = None) -> Steps:
    """A fresh `_tick_` and `_getiter_` sharing one step counter with a CPU deadline `seconds` from now.

    `_tick_()` takes one step (while loops, function entries); `_getiter_`, which RestrictedPython already wraps
    around the iterable of every for loop and comprehension, becomes `compress(iterable, counter)`: a step per
    item, without a Python call."""
    limit = BUDGET.cpu_seconds if seconds is None else seconds
    over: list[str | None] = [None]
    started = time.thread_time(), time.perf_counter()  # the evaluation's start, not its first step

    def runs() -> Iterator[Iterator[bool]]:
        cpu_deadline, wall_deadline = started[0] + limit, started[1] + limit
        while True:
            yield itertools.repeat(True, CHECK_EVERY)
            if time.perf_counter() < wall_deadline:  # a thread's CPU time never runs ahead of the wall clock
                continue
            cpu_left = cpu_deadline - time.thread_time()
            if cpu_left > 0:
                wall_deadline = time.perf_counter() + cpu_left
                continue
            what = over[0] = f"CPU time over {limit:g} s"
            yield _Exceeded(what)

    counter = itertools.chain.from_iterable(runs())
    return Steps(functools.partial(next, counter), functools.partial(itertools.compress, selectors=counter),
                 functools.partial(_take, counter), functools.partial(_first, over))


def _first(over: list[str | None]) -> str | None:
    return over[0]


def _take(counter: Iterator[bool], count: int) -> None:
    """`count` steps of `counter` at once, in C (a deque of length 0 drops them)."""
    collections.deque(itertools.islice(counter, count), maxlen=0)


def ticker(seconds: float | None = None) -> Callable[[], bool]:
    """A fresh step counter with a CPU deadline: calling it takes a step, returning True or raising."""
    return steps(seconds).tick


def fresh_getiter(iterable: Any) -> Any:
    """For stepped code reached outside an evaluation's scope: `iterable` stepped against a fresh deadline."""
    return steps().getiter(iterable)


class _Exceeded:
    """An iterator that raises ScriptBudgetExceeded every time it is asked for its next item."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __iter__(self) -> _Exceeded:
        return self

    def __next__(self) -> bool:
        raise ScriptBudgetExceeded(self.what)
