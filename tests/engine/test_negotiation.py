"""Scenario tests of the paid-service negotiation (processes/paid_service_negotiation.bpmn), run on its own.

The facade only starts maintenance requests, so these tests start the deployed process with the project's
runtime directly: same spec library, same restricted script engine, same fake clock as the cases."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.effects import Effects

SH = ZoneInfo("Asia/Shanghai")
PROCESS = "paid_service_negotiation"
SMALL = {"items": [{"description": "上门更换主板", "amount": 1200}, {"description": "备件", "amount": 800.5}],
         "validity_days": 5, "note": ""}
LARGE = {"items": [{"description": "整机更换", "amount": 48000}, {"description": "数据迁移", "amount": 6000}],
         "validity_days": 5}


def at(*args: int) -> datetime:
    """A Shanghai wall-clock time."""
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


class Negotiation:
    """One running negotiation and the effects its scripts asked for."""

    def __init__(self, facade: Aftercare, data: dict[str, Any]) -> None:
        spec_hash = next(p["spec_hash"] for p in facade.list_processes() if p["process_id"] == PROCESS)
        spec, subs = facade.runtime.library.get(spec_hash)
        self.effects = Effects()
        self.wf = BpmnWorkflow(spec, subs, script_engine=facade._script_engine(self.effects))
        self.wf.get_next_task(state=TaskState.READY).data.update(data)
        self.wf.do_engine_steps()

    def open_tasks(self) -> list[str]:
        return [t.task_spec.bpmn_id for t in self.wf.get_tasks(state=TaskState.READY, manual=True)]

    def lane_of(self, name: str) -> str:
        return str(self._ready(name).task_spec.lane)

    def complete(self, name: str, data: dict[str, Any]) -> None:
        task = self._ready(name)
        task.data.update(data)
        task.run()
        self.wf.do_engine_steps()

    def fire_timers(self) -> None:
        self.wf.refresh_timers()
        self.wf.do_engine_steps()

    def events(self, kind: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        return [(k, d) for k, d in self.effects.events if kind is None or k == kind]

    @property
    def data(self) -> dict[str, Any]:
        assert self.wf.is_completed()
        return dict(self.wf.data)

    def _ready(self, name: str) -> Any:
        tasks = [t for t in self.wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == name]
        assert len(tasks) == 1, f"{name} is not open; open: {self.open_tasks()}"
        return tasks[0]


@pytest.fixture
def start(facade: Aftercare) -> Any:
    def _start(**data: Any) -> Negotiation:
        return Negotiation(facade, {"ticket_number": "AC-2026-0001", "title": "服务器主板故障（保外）", **data})
    return _start


def test_deployed_with_both_lanes(facade: Aftercare, start: Any) -> None:
    assert PROCESS in {p["process_id"] for p in facade.list_processes()}
    n = start()
    assert n.open_tasks() == ["prepare_quote"]
    assert n.lane_of("prepare_quote") == "manager"
    assert n.events("quote_requested") == [("quote_requested", {"subject": "服务器主板故障（保外）"})]


def test_accepted_in_the_first_round(start: Any, clock: FakeClock) -> None:
    n = start(quote_subject="更换主板")
    n.complete("prepare_quote", SMALL)
    assert n.open_tasks() == ["quote_decision"]  # below 50,000: no approval
    assert n.lane_of("quote_decision") == "customer"
    props = n._ready("quote_decision").task_spec.extensions["properties"]
    assert props["email_template"] == "quote_request" and props["due"] == "quote_valid_until"
    n.complete("quote_decision", {"decision": "accept"})
    data = n.data
    assert (data["quote_outcome"], data["quote_amount"], data["quote_round"]) == ("accepted", 2000.5, 1)
    assert data["quote_subject"] == "更换主板"
    assert datetime.fromisoformat(data["quote_valid_until"]) == at(2026, 11, 30, 10, 0)  # 5 working days
    assert [k for k, _ in n.events()] == ["quote_requested", "quote_prepared", "quote_accepted"]
    assert n.events("quote_prepared")[0][1] == {"round": 1, "amount": 2000.5}
    assert n.events("quote_accepted")[0][1] == {"amount": 2000.5}


def test_counter_offer_then_accepted_in_round_two(start: Any) -> None:
    n = start()
    n.complete("prepare_quote", SMALL)
    n.complete("quote_decision", {"decision": "counter", "counter_offer": "备件我们自己提供，只付人工 1200 元"})
    assert n.open_tasks() == ["prepare_quote"]
    assert n.events("quote_counter_offer") == [
        ("quote_counter_offer", {"round": 1, "note": "备件我们自己提供，只付人工 1200 元"})]
    n.complete("prepare_quote", {"items": [{"description": "上门更换主板（客户自备备件）", "amount": 1200}],
                                 "validity_days": 5})
    assert n.open_tasks() == ["quote_decision"]
    n.complete("quote_decision", {"decision": "accept"})
    data = n.data
    assert (data["quote_outcome"], data["quote_amount"], data["quote_round"]) == ("accepted", 1200, 2)
    assert [d["round"] for _, d in n.events("quote_prepared")] == [1, 2]


def test_declined(start: Any) -> None:
    n = start()
    n.complete("prepare_quote", SMALL)
    n.complete("quote_decision", {"decision": "decline"})
    data = n.data
    assert (data["quote_outcome"], data["quote_round"]) == ("declined", 1)
    assert n.events("quote_declined") and not n.events("quote_accepted")


def test_expired_without_an_answer(start: Any, clock: FakeClock) -> None:
    n = start()  # Monday 2026-11-23 10:00: valid for 5 working days, until Monday 2026-11-30 10:00
    n.complete("prepare_quote", SMALL)
    clock.set(at(2026, 11, 30, 9, 59))
    n.fire_timers()
    assert n.open_tasks() == ["quote_decision"]
    clock.set(at(2026, 11, 30, 10, 0, 1))
    n.fire_timers()
    assert n.open_tasks() == []
    data = n.data
    assert (data["quote_outcome"], data["quote_round"], data["quote_amount"]) == ("expired", 1, 2000.5)
    assert n.events("quote_expired") == [("quote_expired", {"round": 1})]


def test_above_50000_needs_approval_and_a_rejection_goes_back(start: Any) -> None:
    n = start()
    n.complete("prepare_quote", LARGE)  # 54,000
    assert n.open_tasks() == ["approve_quote"]
    assert n.lane_of("approve_quote") == "manager"
    n.complete("approve_quote", {"approved": False, "comment": "数据迁移费用过高"})
    assert n.open_tasks() == ["prepare_quote"]
    assert n.events("quote_rejected_internally")
    n.complete("prepare_quote", {"items": [{"description": "整机更换", "amount": 48000},
                                           {"description": "数据迁移", "amount": 4000}], "validity_days": 5})
    assert n.open_tasks() == ["approve_quote"]  # 52,000: still above the limit
    n.complete("approve_quote", {"approved": True})
    assert n.open_tasks() == ["quote_decision"]
    n.complete("quote_decision", {"decision": "accept"})
    data = n.data
    assert (data["quote_outcome"], data["quote_amount"], data["quote_round"]) == ("accepted", 52000, 2)


def test_exactly_50000_needs_no_approval(start: Any) -> None:
    n = start()
    n.complete("prepare_quote", {"items": [{"description": "整机更换", "amount": 50000}], "validity_days": 5})
    assert n.open_tasks() == ["quote_decision"]


def test_forms_check_what_the_diagram_reads() -> None:
    import json
    from pathlib import Path

    from engine import forms
    from engine.errors import ValidationFailed

    root = Path(__file__).resolve().parents[2] / "forms"
    prepare = json.loads((root / "prepare_quote.json").read_text(encoding="utf-8"))
    posted = {"items-0-description": "上门更换主板", "items-0-amount": "1200", "items-1-description": "",
              "items-1-amount": "", "items-2-description": "备件", "items-2-amount": "800.5", "validity_days": "14"}
    data = forms.validate(prepare, forms.coerce(prepare, posted))
    assert data["items"] == [{"description": "上门更换主板", "amount": 1200.0},
                             {"description": "备件", "amount": 800.5}]
    with pytest.raises(ValidationFailed):
        forms.validate(prepare, forms.coerce(prepare, {"validity_days": "14"}))  # no item
    with pytest.raises(ValidationFailed):
        forms.validate(prepare, {"items": [{"description": "x", "amount": -1}], "validity_days": 14})
    decision = json.loads((root / "quote_decision.json").read_text(encoding="utf-8"))
    with pytest.raises(ValidationFailed) as info:
        forms.validate(decision, {"decision": "counter"})
    assert info.value.errors[0]["field"] == "counter_offer"
    with pytest.raises(ValidationFailed):
        forms.validate(decision, {"decision": "maybe"})
    forms.validate(decision, {"decision": "counter", "counter_offer": "1200 元"})
