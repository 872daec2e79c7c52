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


def test_a_waiting_step_that_fails_in_its_savepoint_is_not_served_from_memory(
        facade: Aftercare, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The customer's answer runs the waiting step inside a savepoint; when the step fails after the case ran, the
    savepoint rolls back and the message stays. The next answer must run from the stored case, not from the
    advanced workflow of the failed attempt."""
    from engine import waiting
    from engine.errors import Conflict, ValidationFailed

    desk = Desk(facade, clock)
    tid = desk.create()
    desk.triage(tid, severity=3)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    desk.complete(tid, "engineer_resolution", {"outcome": "ask_customer", "question": "哪个用户？"})
    token = facade.status_token(ticket_id=tid)
    real_post = waiting.post_questions

    for failure in (ValidationFailed("the step failed after running", errors=[]), Conflict("a conflict part-way")):
        def post_then_fail(*args: Any, failure: Exception = failure, **kwargs: Any) -> None:
            raise failure

        monkeypatch.setattr(waiting, "post_questions", post_then_fail)
        facade.customer_message(token=token, body=f"用户 zhangsan ({type(failure).__name__})")
        monkeypatch.setattr(waiting, "post_questions", real_post)
        assert desk.names(tid) == ["customer_answer"]  # the step is still open: its run was rolled back
    facade.customer_message(token=token, body="补充：用户 zhangsan 的截图见附件")
    assert desk.names(tid) == ["engineer_resolution"]
    answered = [e for e in desk.ticket(tid)["timeline"] if e["kind"] == "task_completed"
                and e.get("task") == "customer_answer"]
    assert len(answered) <= 1 and desk.ticket(tid)["status"] == "in_progress"
