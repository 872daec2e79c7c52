"""Timers fired by several threads, and by two workers at once, still fire each due case exactly once."""
from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select

from api.worker import Worker
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.kernel import CaseCache
from engine.models import TimelineEvent
from engine.settings import Settings
from tests.support import Desk

CASES = 50


def fired_per_ticket(facade: Aftercare) -> Counter[int]:
    """timer_fired events per ticket."""
    query = select(TimelineEvent.ticket_id).where(TimelineEvent.kind == "timer_fired")
    return Counter(facade.run_in_unit(lambda s: s.scalars(query).all()))


def open_due_cases(facade: Aftercare, clock: FakeClock) -> list[int]:
    """CASES tickets opened at one moment; the clock moved past their triage timers; the case cache emptied."""
    desk = Desk(facade, clock)
    ids = [desk.create(title=f"第 {n} 单") for n in range(CASES)]
    facade.kernel._cases = CaseCache()
    clock.advance(minutes=15, seconds=1)
    return ids


def test_four_firing_threads_fire_each_due_case_once(facade: Aftercare, clock: FakeClock) -> None:
    ids = open_due_cases(facade, clock)
    assert facade.fire_due_timers(limit=CASES, threads=4) == CASES
    assert facade.fire_due_timers(limit=CASES, threads=4) == 0
    assert fired_per_ticket(facade) == Counter({tid: 1 for tid in ids})
    breaches = Desk(facade, clock).events(ids[-1], "sla_breach")
    assert [e["breach"] for e in breaches] == ["triage"]


def test_two_workers_with_four_threads_each_fire_each_due_case_once(facade: Aftercare, clock: FakeClock,
                                                                      settings: Settings) -> None:
    ids = open_due_cases(facade, clock)
    other = Aftercare(settings, clock)  # a second worker process: its own engine, connections and case cache
    try:
        workers = [Worker(facade, 1, timer_threads=4), Worker(other, 1, timer_threads=4)]
        start = threading.Barrier(len(workers))

        def run(worker: Worker) -> None:
            start.wait()
            worker.fire_timers()

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        other.close()
    assert fired_per_ticket(facade) == Counter({tid: 1 for tid in ids})
    assert facade.fire_due_timers(limit=CASES) == 0
