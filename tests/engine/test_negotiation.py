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
from tests.support import complete_as_customer

SH = ZoneInfo("Asia/Shanghai")
PROCESS = "paid_service_negotiation"
SMALL = {"quote_items": [{"description": "上门更换主板", "unit_price": 1200},
                         {"description": "备件", "quantity": 2, "unit_price": 400.25}],
         "quote_validity_days": 5, "quote_note": "含税价"}
LARGE = {"quote_items": [{"description": "整机更换", "quantity": 1, "unit_price": 48000},
                         {"description": "数据迁移", "quantity": 3, "unit_price": 2000}],
         "quote_validity_days": 5}


def items(*rows: tuple[str, float]) -> list[dict[str, Any]]:
    """quote_items with one unit each."""
    return [{"description": d, "quantity": 1, "unit_price": p} for d, p in rows]


def at(*args: int) -> datetime:
    """A Shanghai wall-clock time."""
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


class Negotiation:
    """One running negotiation and the effects its scripts asked for."""

    def __init__(self, facade: Aftercare, data: dict[str, Any]) -> None:
        spec_hash = next(p["spec_hash"] for p in facade.list_processes() if p["process_id"] == PROCESS)
        spec, subs = facade.runtime.library.get(spec_hash)
        self.effects = Effects()
        self.wf = BpmnWorkflow(spec, subs, script_engine=facade.kernel.script_engine(self.effects))
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
    assert n.events("quote_requested") == [("quote_requested", {"subject": "服务器主板故障（保外）", "reason": ""})]


def test_accepted_in_the_first_round(start: Any, clock: FakeClock) -> None:
    n = start(quote_subject="更换主板", quote_reason="已过质保期 Warranty has ended")
    n.complete("prepare_quote", SMALL)
    assert n.open_tasks() == ["quote_decision"]  # below 50,000: no approval
    assert n.lane_of("quote_decision") == "customer"
    props = n._ready("quote_decision").task_spec.extensions["properties"]
    assert props["email_template"] == "quote_request" and props["due"] == "quote_valid_until"
    n.complete("quote_decision", {"quote_decision": "accept"})
    data = n.data
    assert (data["quote_outcome"], data["quote_amount"], data["quote_round"]) == ("accepted", 2000.5, 1)
    assert (data["quote_subject"], data["quote_currency"]) == ("更换主板", "CNY")
    assert datetime.fromisoformat(data["quote_valid_until"]) == at(2026, 11, 30, 10, 0)  # 5 working days
    assert [k for k, _ in n.events()] == ["quote_requested", "quote_prepared", "quote_accepted"]
    assert n.events("quote_prepared")[0][1] == {
        "round": 1, "amount": 2000.5, "currency": "CNY", "subject": "更换主板",
        "reason": "已过质保期 Warranty has ended", "note": "含税价", "counter_offer": "",
        "valid_until": data["quote_valid_until"],
        "items": [{"description": "上门更换主板", "quantity": 1, "unit_price": 1200, "amount": 1200},
                  {"description": "备件", "quantity": 2, "unit_price": 400.25, "amount": 800.5}]}
    assert n.events("quote_accepted")[0][1] == {"round": 1, "amount": 2000.5, "currency": "CNY"}


def test_counter_offer_then_accepted_in_round_two(start: Any) -> None:
    n = start()
    n.complete("prepare_quote", SMALL)
    n.complete("quote_decision", {"quote_decision": "counter",
                                  "counter_offer": "备件我们自己提供，只付人工 1200 元"})
    assert n.open_tasks() == ["prepare_quote"]
    assert n.events("quote_counter_offer") == [
        ("quote_counter_offer", {"round": 1, "note": "备件我们自己提供，只付人工 1200 元"})]
    n.complete("prepare_quote", {"quote_items": items(("上门更换主板（客户自备备件）", 1200)),
                                 "quote_validity_days": 5})
    assert n.open_tasks() == ["quote_decision"]
    n.complete("quote_decision", {"quote_decision": "accept"})
    data = n.data
    assert (data["quote_outcome"], data["quote_amount"], data["quote_round"]) == ("accepted", 1200, 2)
    rounds = [d for _, d in n.events("quote_prepared")]
    assert [(d["round"], d["amount"]) for d in rounds] == [(1, 2000.5), (2, 1200)]
    assert [d["counter_offer"] for d in rounds] == ["", "备件我们自己提供，只付人工 1200 元"]  # what round 2 answers
    assert data["counter_offer"] == ""  # the old note does not ride along into the accepted quote
    assert [d["note"] for d in rounds] == ["含税价", ""]  # nor does round 1's note to the customer


def test_declined(start: Any) -> None:
    n = start()
    n.complete("prepare_quote", SMALL)
    n.complete("quote_decision", {"quote_decision": "decline"})
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
    n.complete("approve_quote", {"quote_approved": False, "quote_approval_note": "数据迁移费用过高"})
    assert n.open_tasks() == ["prepare_quote"]
    assert n.events("quote_rejected_internally") == [
        ("quote_rejected_internally", {"round": 1, "note": "数据迁移费用过高"})]
    n.complete("prepare_quote", {"quote_items": items(("整机更换", 48000), ("数据迁移", 4000)),
                                 "quote_validity_days": 5})
    assert n.open_tasks() == ["approve_quote"]  # 52,000: still above the limit
    n.complete("approve_quote", {"quote_approved": True})
    assert n.open_tasks() == ["quote_decision"]
    n.complete("quote_decision", {"quote_decision": "accept"})
    data = n.data
    assert (data["quote_outcome"], data["quote_amount"], data["quote_round"]) == ("accepted", 52000, 2)


def test_exactly_50000_needs_no_approval(start: Any) -> None:
    n = start()
    n.complete("prepare_quote", {"quote_items": items(("整机更换", 50000)), "quote_validity_days": 5})
    assert n.open_tasks() == ["quote_decision"]


def test_forms_check_what_the_diagram_reads() -> None:
    import json
    from pathlib import Path

    from engine import forms
    from engine.errors import ValidationFailed

    root = Path(__file__).resolve().parents[2] / "forms"
    prepare = json.loads((root / "prepare_quote.json").read_text(encoding="utf-8"))
    posted = {"quote_items-0-description": "上门更换主板", "quote_items-0-quantity": "",
              "quote_items-0-unit_price": "1200",
              "quote_items-1-description": "", "quote_items-1-quantity": "", "quote_items-1-unit_price": "",
              "quote_items-2-description": "备件", "quote_items-2-quantity": "2", "quote_items-2-unit_price": "400.25",
              "quote_validity_days": "14"}
    data = forms.validate(prepare, forms.coerce(prepare, {k: v for k, v in posted.items() if v}))
    assert data["quote_items"] == [{"description": "上门更换主板", "unit_price": 1200.0},
                                   {"description": "备件", "quantity": 2.0, "unit_price": 400.25}]
    with pytest.raises(ValidationFailed):
        forms.validate(prepare, forms.coerce(prepare, {"quote_validity_days": "14"}))  # no item
    with pytest.raises(ValidationFailed):
        forms.validate(prepare, {"quote_items": [{"description": "x", "unit_price": -1}], "quote_validity_days": 14})
    with pytest.raises(ValidationFailed):
        forms.validate(prepare, {"quote_items": [{"description": "x", "quantity": 0, "unit_price": 1}],
                                 "quote_validity_days": 14})
    decision = json.loads((root / "quote_decision.json").read_text(encoding="utf-8"))
    with pytest.raises(ValidationFailed) as info:
        forms.validate(decision, {"quote_decision": "counter"})
    assert info.value.errors[0]["field"] == "counter_offer"
    with pytest.raises(ValidationFailed):
        forms.validate(decision, {"quote_decision": "maybe"})
    forms.validate(decision, {"quote_decision": "counter", "counter_offer": "1200 元"})
    approve = json.loads((root / "approve_quote.json").read_text(encoding="utf-8"))
    with pytest.raises(ValidationFailed) as info:
        forms.validate(approve, {"quote_approved": False})  # sending it back needs a reason
    assert info.value.errors[0]["field"] == "quote_approval_note"
    forms.validate(approve, {"quote_approved": True})


# -- called from a fault the engineer finds outside the contract (maintenance_request.bpmn, fault_handling) --------

OUTSIDE = {"needs_paid_service": True, "paid_service_description": "更换客户自购的存储阵列硬盘（不在维保合同内）"}


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Any:
    from tests.support import Desk

    return Desk(facade, clock)




def _customer_mail(facade: Aftercare) -> list[tuple[str, dict[str, Any]]]:
    from engine.models import OutboxMessage

    return facade.run_in_unit(lambda s: [(m.template, dict(m.context)) for m in s.query(OutboxMessage).filter_by(
        to_addr="wang@demo-customer.example").order_by(OutboxMessage.id)])


def _fault_outside_the_contract(desk: Any) -> int:
    tid = desk.create(title="存储阵列报警", description="阵列两块硬盘亮红灯")
    desk.triage(tid, severity=2)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "两块硬盘损坏"})
    desk.complete(tid, "engineer_resolution", OUTSIDE)
    return int(tid)


def test_the_engineer_must_describe_the_paid_service(desk: Any) -> None:
    from engine.errors import ValidationFailed

    tid = desk.create()
    desk.triage(tid, severity=2)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    with pytest.raises(ValidationFailed) as info:
        desk.complete(tid, "engineer_resolution", {"needs_paid_service": True})
    assert [e["field"] for e in info.value.errors] == ["paid_service_description"]
    with pytest.raises(ValidationFailed) as info:  # within the contract: the resolution is needed as before
        desk.complete(tid, "engineer_resolution", {"needs_paid_service": False})
    assert {e["field"] for e in info.value.errors} == {"resolution", "outcome"}
    assert desk.names(tid) == ["engineer_resolution"]


def test_fault_outside_the_contract_is_quoted_and_then_handled(desk: Any, facade: Aftercare) -> None:
    tid = _fault_outside_the_contract(desk)
    [requested] = desk.events(tid, "paid_service_requested")
    assert requested["description"] == OUTSIDE["paid_service_description"]
    assert desk.names(tid) == ["prepare_quote"]
    assert desk.task(tid, "prepare_quote")["role"] == "manager"
    desk.complete(tid, "prepare_quote", {"quote_items": [{"description": "硬盘", "quantity": 2, "unit_price": 1800},
                                                         {"description": "上门更换", "unit_price": 600}],
                                         "quote_validity_days": 5})
    [prepared] = desk.events(tid, "quote_prepared")
    assert prepared["amount"] == 4200 and "超出合同服务范围" in prepared["reason"]
    assert prepared["subject"] == OUTSIDE["paid_service_description"]
    complete_as_customer(facade, tid, {"quote_decision": "accept"})
    assert desk.names(tid) == ["engineer_resolution"]  # accepted: the engineer carries on
    desk.complete(tid, "engineer_resolution", {"resolution": "已更换两块硬盘并重建阵列", "outcome": "resolved"})
    assert desk.names(tid) == ["customer_acceptance"]
    kinds = [e["kind"] for e in desk.ticket(tid)["timeline"]]
    assert kinds.index("paid_service_requested") < kinds.index("quote_accepted") < kinds.index("paid_service_agreed")
    [agreed] = desk.events(tid, "paid_service_agreed")
    assert (agreed["amount"], agreed["currency"]) == (4200, "CNY")


@pytest.mark.parametrize("how", ["declined", "expired"])
def test_fault_outside_the_contract_not_agreed_is_archived(desk: Any, facade: Aftercare, how: str) -> None:
    tid = _fault_outside_the_contract(desk)  # Monday 2026-11-23 10:00
    desk.complete(tid, "prepare_quote", {"quote_items": [{"description": "硬盘", "unit_price": 1800}],
                                         "quote_validity_days": 2})
    if how == "declined":
        complete_as_customer(facade, tid, {"quote_decision": "decline"})
    else:
        desk.travel_to(at(2026, 11, 25, 10, 0, 1))  # two working days later
    assert [e["outcome"] for e in desk.events(tid, "paid_service_not_pursued")] == [how]
    assert desk.names(tid) == []
    ticket = desk.ticket(tid)
    assert ticket["status"] == "archived" and ticket["archived"] and ticket["sla"]["resolved_at"]
    assert [e["outcome"] for e in desk.events(tid, "archived")] == ["not_pursued"]
    mail = _customer_mail(facade)
    assert "acceptance_request" not in [t for t, _ in mail]
    [(_, context)] = [(t, c) for t, c in mail if t == "service_not_pursued"]
    assert "有偿服务" in context["reason"]
    before = desk.ticket(tid)["timeline"]
    desk.travel(days=30)  # the fault's timers (escalations, progress e-mails) ended with the case
    assert desk.ticket(tid)["timeline"] == before


# -- what the manager's tasks show, and when they are due ---------------------------------------------------------

def _instructions(n: Negotiation, name: str, language: str = "zh-CN") -> str:
    """The task's instructions rendered with the variables it sees, as its page shows them."""
    from api import i18n
    from api.templating import instructions

    task = n._ready(name)
    i18n.activate(language)
    try:
        return str(instructions(task.task_spec.extensions["instructionsForEndUser"],
                                {**task.data, "number": task.data["ticket_number"]}))
    finally:
        i18n.activate("zh-CN")


def _due(facade: Aftercare, n: Negotiation, name: str) -> datetime | None:
    [task] = [t for t in facade.runtime.ready_tasks(n.wf) if t.bpmn_id == name]
    return task.due_at


def test_each_round_is_due_one_working_day_after_it_opens(facade: Aftercare, start: Any, clock: FakeClock) -> None:
    clock.set(at(2026, 11, 27, 16, 0))  # Friday afternoon
    n = start(quote_reason="已过质保期 Warranty has ended")
    assert _due(facade, n, "prepare_quote") == at(2026, 11, 30, 16, 0)  # Monday: one working day, weekend skipped
    clock.set(at(2026, 11, 30, 11, 0))
    assert _due(facade, n, "prepare_quote") == at(2026, 11, 30, 16, 0)  # fixed when the task opened
    n.complete("prepare_quote", LARGE)
    assert _due(facade, n, "approve_quote") == at(2026, 12, 1, 11, 0)
    n.complete("approve_quote", {"quote_approved": False, "quote_approval_note": "数据迁移费用过高"})
    assert _due(facade, n, "prepare_quote") == at(2026, 12, 1, 11, 0)  # a new round, a new deadline


def test_round_two_shows_the_counter_offer_and_the_last_amount(start: Any) -> None:
    n = start(quote_reason="已过质保期 Warranty has ended")
    first = _instructions(n, "prepare_quote")
    assert "已过质保期" in first and "上一轮（" not in first and "客户的还价：" not in first
    n.complete("prepare_quote", SMALL)
    n.complete("quote_decision", {"quote_decision": "counter", "counter_offer": "备件我们自己提供，只付人工 1200 元"})
    page = _instructions(n, "prepare_quote")
    assert "第 1 轮" in page and "CNY 2,000.50" in page and "客户未接受并还价" in page
    assert "备件我们自己提供，只付人工 1200 元" in page and "已过质保期 Warranty has ended" in page
    english = _instructions(n, "prepare_quote", "en")
    assert "round 1" in english and "CNY 2,000.50" in english and "只付人工 1200 元" in english


def test_the_approver_sees_the_items_the_reason_and_a_rejection_comes_back(start: Any) -> None:
    n = start(quote_reason="新模块开发为扩展开发 A new module is extension development")
    n.complete("prepare_quote", LARGE)
    page = _instructions(n, "approve_quote")
    assert "CNY 54,000.00" in page and "整机更换 1 × 48,000.00 = 48,000.00" in page
    assert "数据迁移 3 × 2,000.00 = 6,000.00" in page and "新模块开发为扩展开发" in page
    n.complete("approve_quote", {"quote_approved": False, "quote_approval_note": "数据迁移费用过高"})
    page = _instructions(n, "prepare_quote")
    assert "审批未通过" in page and "数据迁移费用过高" in page and "CNY 54,000.00" in page
    assert "客户的还价：" not in page


def test_a_fault_quote_says_why_the_work_is_paid(desk: Any) -> None:
    from tests.engine.test_change_request import task_instructions

    tid = _fault_outside_the_contract(desk)
    page = task_instructions(desk, tid, "prepare_quote")
    assert "超出合同服务范围" in page and OUTSIDE["paid_service_description"] in page
