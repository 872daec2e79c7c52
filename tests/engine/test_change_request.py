"""Scenario tests of the change-request procedure (processes/change_request.bpmn), called from the maintenance
request: entitlement by contract (entitlement.dmn), the price negotiation for paid changes, then scheduling,
implementation and the customer's acceptance; a change not pursued is archived without an acceptance request."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.support import Desk, complete_as_customer

HOSPITAL = {"customer": "青山医院", "contact_name": "李工", "contact_email": "it@qingshan-hospital.example"}
SH = ZoneInfo("Asia/Shanghai")
QUOTE = {"quote_items": [{"description": "报表开发", "quantity": 4, "unit_price": 2000}], "quote_validity_days": 10}
SCHEDULE = {"planned_start": "2026-12-01", "planned_end": "2026-12-04", "change_engineer": "engineer"}
IMPLEMENTED = {"resolution": "已按要求调整并上线", "release_version": "3.4.1", "implementation_notes": "灰度一天"}


def assessment(kind: str, effort: float = 2, decision: str = "implement") -> dict:
    """A complete change_assessment form for a change of `kind`."""
    return {"change_kind": kind, "change_scope": "新增科室月度统计报表", "effort_days": effort,
            "change_impact": "仅报表模块", "affected_modules": "报表, 统计", "assessment_decision": decision,
            "assessment_answer": "我们将按评估结果处理您的需求"}


def outbox(facade: Aftercare) -> list[tuple[str, str, dict]]:
    """(template, recipient, context) of every queued e-mail, oldest first."""
    from engine.models import OutboxMessage

    return facade.run_in_unit(lambda s: [(m.template, m.to_addr, dict(m.context)) for m in s.query(
        OutboxMessage).order_by(OutboxMessage.id)])




def task_variables(facade: Aftercare, task_id: str) -> dict:
    """The case variables as the open task `task_id` sees them (what its instructions are rendered with)."""
    from engine.effects import Effects
    from engine.models import HumanTask, Instance

    def read(session):
        row = session.get(HumanTask, task_id)
        wf = facade.kernel.load_case(session, session.get(Instance, row.instance_id), Effects())
        return dict(facade.runtime.ready_task(wf, task_id).data)

    return facade.run_in_unit(read)


def task_instructions(desk: Desk, ticket_id: int, name: str, language: str = "zh-CN") -> str:
    """The open task's instructions as its page shows them in `language`: its diagram's text rendered with the case
    variables (api.templating.instructions), as HTML."""
    from api import i18n
    from api.templating import instructions

    task = desk.task(ticket_id, name)
    ticket = desk.ticket(ticket_id)
    before = i18n.current()
    i18n.activate(language)
    try:
        return str(instructions(task["instructions"], {**ticket, **task_variables(desk.facade, task["id"])}))
    finally:
        i18n.activate(before)


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def _change(desk: Desk, **overrides: str) -> int:
    tid = desk.create(**{"title": "新增科室月度报表", "description": "希望增加按科室统计的月度报表", **overrides})
    desk.triage(tid, category="change")
    return tid


def _kinds(desk: Desk, tid: int) -> list[str]:
    return [e["kind"] for e in desk.ticket(tid)["timeline"]]


def _schedule_and_implement(desk: Desk, tid: int) -> None:
    assert desk.names(tid) == ["schedule_change"]
    assert desk.task(tid, "schedule_change")["role"] == "manager"
    desk.complete(tid, "schedule_change", SCHEDULE)
    assert desk.names(tid) == ["implement_change"]
    assert desk.task(tid, "implement_change")["role"] == "engineer"
    desk.complete(tid, "implement_change", IMPLEMENTED)


def test_a_change_goes_to_the_product_team(desk: Desk) -> None:
    tid = _change(desk)
    assert desk.names(tid) == ["change_assessment"]
    task = desk.task(tid, "change_assessment")
    assert task["role"] == "product"
    assert desk.ticket(tid)["status"] == "in_progress"


def test_the_assessment_needs_the_kind_of_change_and_the_effort(desk: Desk) -> None:
    from engine.errors import ValidationFailed

    tid = _change(desk)
    incomplete = {k: v for k, v in assessment("report").items() if k not in ("change_kind", "effort_days")}
    with pytest.raises(ValidationFailed) as info:
        desk.complete(tid, "change_assessment", incomplete)
    assert {e["field"] for e in info.value.errors} >= {"change_kind", "effort_days"}
    with pytest.raises(ValidationFailed):
        desk.complete(tid, "change_assessment", assessment("rewrite"))
    with pytest.raises(ValidationFailed):  # the old generic names are no longer accepted
        desk.complete(tid, "change_assessment", {**assessment("report"), "decision": "implement"})
    assert desk.names(tid) == ["change_assessment"]


def test_free_configuration_change_in_warranty_to_archive(desk: Desk, facade: Aftercare) -> None:
    tid = _change(desk)  # Demo Customer: in warranty, free scope [bugfix, configuration]
    desk.complete(tid, "change_assessment", assessment("configuration"))
    [entitlement] = desk.events(tid, "entitlement")
    assert entitlement["charge"] == "free"
    assert entitlement["reason"] == "质保期内且属于免费维护范围 In warranty and within the free-maintenance scope"
    assert "quote_requested" not in _kinds(desk, tid)
    _schedule_and_implement(desk, tid)
    assert desk.names(tid) == ["customer_acceptance"]
    ticket = desk.ticket(tid)
    assert ticket["status"] == "awaiting_acceptance"
    assert ticket["sla"]["responded_at"] and ticket["sla"]["resolved_at"]
    complete_as_customer(facade, tid, {"accepted": True})
    assert desk.names(tid) == ["callback", "satisfaction_survey"]
    complete_as_customer(facade, tid, {"score": 5})
    desk.complete(tid, "callback", {"recurred": False, "satisfaction": 5})
    ticket = desk.ticket(tid)
    assert ticket["status"] == "archived" and ticket["archived"] and ticket["accepted_at"]
    kinds = _kinds(desk, tid)
    assert kinds.index("entitlement") < kinds.index("archived")


@pytest.mark.parametrize(("customer", "kind", "charge", "reason"), [
    ({}, "bugfix", "free", "缺陷修复属于维护范围 Defect fixes are covered"),
    (HOSPITAL, "bugfix", "free", "缺陷修复属于维护范围 Defect fixes are covered"),
    ({}, "new_module", "paid", "新模块开发为扩展开发 A new module is extension development"),
    (HOSPITAL, "configuration", "paid", "已过质保期 Warranty has ended"),
    ({}, "report", "paid", "超出免费维护范围 Outside the free-maintenance scope"),
])
def test_entitlement_by_contract_and_kind(desk: Desk, customer: dict, kind: str, charge: str, reason: str) -> None:
    tid = _change(desk, **customer)
    desk.complete(tid, "change_assessment", assessment(kind))
    [entitlement] = desk.events(tid, "entitlement")
    assert (entitlement["charge"], entitlement["reason"]) == (charge, reason)
    assert desk.names(tid) == (["schedule_change"] if charge == "free" else ["prepare_quote"])


def test_paid_enhancement_is_quoted_accepted_then_made(desk: Desk, facade: Aftercare) -> None:
    tid = _change(desk, **HOSPITAL)  # 青山医院: warranty ended, free scope [bugfix]
    desk.complete(tid, "change_assessment", assessment("enhancement", effort=5))
    [entitlement] = desk.events(tid, "entitlement")
    assert entitlement["charge"] == "paid" and entitlement["reason"] == "已过质保期 Warranty has ended"
    assert desk.names(tid) == ["prepare_quote"]
    assert desk.task(tid, "prepare_quote")["role"] == "manager"
    desk.complete(tid, "prepare_quote", QUOTE)
    assert desk.names(tid) == ["quote_decision"]
    complete_as_customer(facade, tid, {"quote_decision": "accept"})
    _schedule_and_implement(desk, tid)
    assert desk.names(tid) == ["customer_acceptance"]
    complete_as_customer(facade, tid, {"accepted": True})
    desk.complete(tid, "callback", {"recurred": False, "satisfaction": 4})
    assert desk.ticket(tid)["status"] == "archived"
    kinds = _kinds(desk, tid)
    assert kinds.index("entitlement") < kinds.index("quote_accepted") < kinds.index("archived")
    assert "change_not_pursued" not in kinds


def _assert_archived_not_pursued(desk: Desk, facade: Aftercare, tid: int, outcome: str, reason_part: str) -> None:
    """No acceptance request for work never done: the customer is told why, the ticket is archived."""
    [event] = desk.events(tid, "change_not_pursued")
    assert event["outcome"] == outcome and reason_part in event["reason"]
    assert not [e for e in desk.events(tid, "task_opened") if e.get("task") in (
        "schedule_change", "implement_change", "customer_acceptance", "callback")]
    assert desk.names(tid) == []
    ticket = desk.ticket(tid)
    assert ticket["status"] == "archived" and ticket["archived"] and ticket["closed_at"]
    assert ticket["sla"]["resolved_at"] and ticket["accepted_at"] is None
    [archived] = desk.events(tid, "archived")
    assert archived["outcome"] == "not_pursued"
    to_customer = [(t, c) for t, to, c in outbox(facade) if to == HOSPITAL["contact_email"]]
    templates = [t for t, _ in to_customer]
    assert "acceptance_request" not in templates and "ticket_closed" not in templates
    [(_, context)] = [(t, c) for t, c in to_customer if t == "service_not_pursued"]
    assert reason_part in context["reason"]


def test_paid_change_declined_is_not_pursued_and_archived(desk: Desk, facade: Aftercare) -> None:
    tid = _change(desk, **HOSPITAL)
    desk.complete(tid, "change_assessment", assessment("enhancement"))
    desk.complete(tid, "prepare_quote", QUOTE)
    complete_as_customer(facade, tid, {"quote_decision": "decline"})
    kinds = _kinds(desk, tid)
    assert kinds.index("entitlement") < kinds.index("quote_declined") < kinds.index("change_not_pursued")
    _assert_archived_not_pursued(desk, facade, tid, "declined", "拒绝了报价")


def test_paid_change_with_an_expired_quote_is_archived(desk: Desk, facade: Aftercare) -> None:
    tid = _change(desk, **HOSPITAL)  # Monday 2026-11-23 10:00
    desk.complete(tid, "change_assessment", assessment("enhancement"))
    desk.complete(tid, "prepare_quote", {**QUOTE, "quote_validity_days": 3})
    task = desk.task(tid, "quote_decision")
    assert datetime.fromisoformat(task["due_at"]) == datetime(2026, 11, 26, 10, 0, tzinfo=SH)  # 3 working days
    desk.travel_to(datetime(2026, 11, 26, 9, 59, tzinfo=SH))
    assert desk.names(tid) == ["quote_decision"]
    desk.travel_to(datetime(2026, 11, 26, 10, 0, 1, tzinfo=SH))
    assert [e["round"] for e in desk.events(tid, "quote_expired")] == [1]
    assert "报价到期 Quote expires" in [e["timer"] for e in desk.events(tid, "timer_fired")]
    _assert_archived_not_pursued(desk, facade, tid, "expired", "报价已过有效期")


def test_change_declined_by_the_product_team_is_archived_with_their_answer(desk: Desk, facade: Aftercare) -> None:
    tid = _change(desk, **HOSPITAL)
    answer = {**assessment("new_module", effort=40, decision="decline"),
              "assessment_answer": "该需求与产品路线不符，建议使用第三方报表工具"}
    desk.complete(tid, "change_assessment", answer)
    assert not desk.events(tid, "entitlement") and not desk.events(tid, "quote_requested")
    _assert_archived_not_pursued(desk, facade, tid, "assessment_declined", "建议使用第三方报表工具")


def test_paid_change_accepted_after_a_counter_offer(desk: Desk, facade: Aftercare) -> None:
    tid = _change(desk, **HOSPITAL)
    desk.complete(tid, "change_assessment", assessment("enhancement", effort=5))
    desk.complete(tid, "prepare_quote", {"quote_items": [{"description": "报表开发", "quantity": 5, "unit_price": 2000},
                                                         {"description": "上线支持", "unit_price": 1500}],
                                         "quote_validity_days": 10, "quote_note": "含税"})
    complete_as_customer(facade, tid, {"quote_decision": "counter",
                                       "counter_offer": "上线支持我们自己做，开发按 4 人天"})
    assert desk.names(tid) == ["prepare_quote"]
    task = facade.get_task(task_id=desk.task(tid, "prepare_quote")["id"], actor=desk.actor("manager"))
    previous = task["form"]["properties"]["quote_items"]["default"]  # round 2 starts from round 1's items
    assert [(i["description"], i.get("quantity", 1), i["unit_price"]) for i in previous] == [
        ("报表开发", 5, 2000), ("上线支持", 1, 1500)]
    desk.complete(tid, "prepare_quote", {"quote_items": [{"description": "报表开发", "quantity": 4,
                                                          "unit_price": 2000}], "quote_validity_days": 10})
    complete_as_customer(facade, tid, {"quote_decision": "accept"})
    rounds = desk.events(tid, "quote_prepared")
    assert [(r["round"], r["amount"], r["currency"]) for r in rounds] == [(1, 11500, "CNY"), (2, 8000, "CNY")]
    assert rounds[0]["reason"] == rounds[1]["reason"] == "已过质保期 Warranty has ended"
    assert rounds[1]["counter_offer"] == "上线支持我们自己做，开发按 4 人天"
    assert [e["note"] for e in desk.events(tid, "quote_counter_offer")] == ["上线支持我们自己做，开发按 4 人天"]
    assert [t for t, to, _ in outbox(facade) if to == HOSPITAL["contact_email"]].count("quote_request") == 2
    _schedule_and_implement(desk, tid)
    assert desk.task(tid, "customer_acceptance")
    complete_as_customer(facade, tid, {"accepted": True})
    desk.complete(tid, "callback", {"recurred": False, "satisfaction": 5})
    assert desk.ticket(tid)["status"] == "archived"
    kinds = _kinds(desk, tid)
    assert kinds.index("quote_counter_offer") < kinds.index("quote_accepted") < kinds.index("change_implemented")


def test_the_named_engineer_gets_the_implementation(desk: Desk) -> None:
    tid = _change(desk)
    desk.complete(tid, "change_assessment", assessment("configuration"))
    desk.complete(tid, "schedule_change", SCHEDULE)
    assert desk.task(tid, "implement_change")["assignee"] == "engineer"


def test_a_rejected_change_goes_back_to_the_engineer_not_to_a_new_quote(desk: Desk, facade: Aftercare) -> None:
    tid = _change(desk, **HOSPITAL)
    desk.complete(tid, "change_assessment", assessment("enhancement"))
    desk.complete(tid, "prepare_quote", QUOTE)
    complete_as_customer(facade, tid, {"quote_decision": "accept"})
    _schedule_and_implement(desk, tid)
    complete_as_customer(facade, tid, {"accepted": False, "reason": "报表缺少合计行"})
    assert desk.names(tid) == ["implement_change"]
    assert len(desk.events(tid, "quote_prepared")) == 1 and len(desk.events(tid, "entitlement")) == 1
    desk.complete(tid, "implement_change", {"resolution": "已增加合计行"})
    assert desk.names(tid) == ["customer_acceptance"]
    complete_as_customer(facade, tid, {"accepted": True})
    assert "callback" in desk.names(tid)


def test_the_change_resolve_deadline_fires_and_escalates(desk: Desk, facade: Aftercare) -> None:
    tid = _change(desk)  # Monday 2026-11-23 10:00; a change is due in 10 working days (sla.dmn)
    resolve_due = datetime.fromisoformat(desk.ticket(tid)["sla"]["resolve_due"]).astimezone(SH)
    assert resolve_due == datetime(2026, 12, 7, 10, 0, tzinfo=SH)
    desk.complete(tid, "change_assessment", assessment("configuration"))
    desk.travel_to(datetime(2026, 12, 7, 9, 59, tzinfo=SH))
    assert desk.ticket(tid)["sla"]["breaches"] == []
    desk.travel_to(datetime(2026, 12, 7, 10, 0, 1, tzinfo=SH))
    ticket = desk.ticket(tid)
    assert [b["kind"] for b in ticket["sla"]["breaches"]] == ["resolve"]
    assert "解决超时 Resolve due" in [e["timer"] for e in desk.events(tid, "timer_fired")]
    [escalation] = desk.events(tid, "escalation")
    assert (escalation["level"], escalation["roles"]) == (2, ["manager"])
    assert ("escalation", "manager@aftercare.example") in [(t, to) for t, to, _ in outbox(facade)]
    assert desk.names(tid) == ["schedule_change"]  # non-interrupting: the change carries on


def test_schedule_and_implementation_show_the_assessment_and_have_deadlines(desk: Desk, facade: Aftercare,
                                                                           clock: FakeClock) -> None:
    tid = _change(desk, **HOSPITAL)  # Monday 2026-11-23 10:00
    desk.complete(tid, "change_assessment", assessment("enhancement", effort=5))
    desk.complete(tid, "prepare_quote", QUOTE)
    clock.set(datetime(2026, 11, 24, 15, 0, tzinfo=SH))  # the customer accepts on Tuesday afternoon
    complete_as_customer(facade, tid, {"quote_decision": "accept"})
    task = desk.task(tid, "schedule_change")
    assert datetime.fromisoformat(task["due_at"]) == datetime(2026, 11, 26, 15, 0, tzinfo=SH)  # 2 working days
    page = task_instructions(desk, tid, "schedule_change")
    for shown in ("功能增强", "新增科室月度统计报表", "5 人天", "报表, 统计", "收费", "已过质保期 Warranty has ended",
                  "CNY 8,000.00"):
        assert shown in page, shown
    english = task_instructions(desk, tid, "schedule_change", "en")
    assert "enhancement" in english and "5 person-days" in english and "Warranty has ended" in english

    desk.complete(tid, "schedule_change", SCHEDULE)
    task = desk.task(tid, "implement_change")
    assert datetime.fromisoformat(task["due_at"]) == datetime(2026, 12, 4, 18, 0, tzinfo=SH)  # the planned end
    page = task_instructions(desk, tid, "implement_change")
    for shown in ("功能增强", "5 人天", "已过质保期", "2026-12-01", "2026-12-04", "实施工程师 engineer"):
        assert shown in page, shown
    assert "驳回" not in page.split("</h3>", 1)[1].split("请按排期实施")[0]

    desk.complete(tid, "implement_change", IMPLEMENTED)
    complete_as_customer(facade, tid, {"accepted": False, "reason": "报表缺少合计行"})
    task = desk.task(tid, "implement_change")  # rework: the planned end has passed, the ticket's deadline counts
    assert task["due_at"] == desk.ticket(tid)["sla"]["resolve_due"]
    page = task_instructions(desk, tid, "implement_change")
    assert "客户驳回了验收" in page and "报表缺少合计行" in page and "2026-12-04" in page


def test_a_free_change_says_why_it_is_free(desk: Desk) -> None:
    tid = _change(desk)
    desk.complete(tid, "change_assessment", assessment("configuration"))
    page = task_instructions(desk, tid, "schedule_change")
    assert "免费" in page and "质保期内且属于免费维护范围" in page and "CNY" not in page
