"""The benchmark's lifecycles still run to the end with today's procedures (no timing here: see bench/)."""
from __future__ import annotations

from bench.baselines import InMemory, ThroughFacade
from engine.commands import Aftercare


def test_the_benchmark_lifecycles_complete(facade: Aftercare) -> None:
    InMemory().lifecycle()  # asserts the in-memory workflow completed
    ThroughFacade(facade).lifecycle()  # asserts the ticket ended archived
