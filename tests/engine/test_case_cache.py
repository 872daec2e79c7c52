"""The workflows kept in memory between units of work: a step never continues from a half-run workflow."""
from __future__ import annotations

from typing import Any

import pytest

from engine import kernel as commands
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.kernel import CaseCache
from tests.support import Desk


def test_a_step_that_fails_after_running_the_case_leaves_no_trace(facade: Aftercare, clock: FakeClock,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    real_save = commands.save_case

    def save_then_crash(*args: Any, **kwargs: Any) -> None:
        real_save(*args, **kwargs)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(commands, "save_case", save_then_crash)
    with pytest.raises(RuntimeError):
        desk.triage(tid, category="question")
    monkeypatch.setattr(commands, "save_case", real_save)
    assert desk.names(tid) == ["triage"] and desk.ticket(tid)["category"] is None  # as before the request
    desk.triage(tid, category="question")  # the same step again runs from the stored state, once
    assert desk.names(tid) == ["answer_question"]
    assert len([e for e in desk.ticket(tid)["timeline"] if e["kind"] == "task_completed"]) == 1


def test_an_entry_serves_only_the_version_and_state_it_was_committed_as() -> None:
    cache = CaseCache(size=2)
    wf = object()
    cache.put(1, 3, "state", wf)
    assert cache.take(1, 4, "state") is None  # someone else committed version 4
    cache.put(1, 3, "state", wf)
    assert cache.take(1, 3, "other state") is None  # the state was changed behind the ORM's back
    cache.put(1, 3, "state", wf)
    assert cache.take(1, 3, "state") is wf
    assert cache.take(1, 3, "state") is None  # taken: in use by one unit of work at a time
    for n in range(3):
        cache.put(n, 1, "s", wf)
    assert cache.take(0, 1, "s") is None and cache.take(2, 1, "s") is wf  # the oldest went beyond the size
