"""Scenario tests of the change-request procedure (processes/change_request.bpmn), called from the maintenance
request: entitlement by contract (entitlement.dmn), the price negotiation for paid changes, then scheduling,
implementation and the customer's acceptance."""
from __future__ import annotations

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.support import Desk

HOSPITAL = {"customer": "青山医院", "contact_name": "李工", "contact_email": "it@qingshan-hospital.example"}
QUOTE = {"items": [{"description": "报表开发", "amount": 8000}], "validity_days": 10}
SCHEDULE = {"planned_start": "2026-12-01", "planned_end": "2026-12-04", "engineer": "engineer"}
IMPLEMENTED = {"resolution": "已按要求调整并上线", "version": "3.4.1", "notes": "灰度一天"}


def assessment(kind: str, effort: float = 2) -> dict:
    """A complete change_assessment form for a change of `kind`."""
    return {"change_kind": kind, "scope": "新增科室月度统计报表", "effort_days": effort, "impact": "仅报表模块",
            "decision": "implement", "answer": "我们将按评估结果处理您的需求"}


def through_link(facade: Aftercare, ticket_id: int, data: dict) -> None:
    """Complete the customer's open step with the token the latest e-mail carries."""
    from engine import links
    from engine.models import CustomerLink

    def token(session):  # the token as the e-mail carries it
        link = session.query(CustomerLink).filter_by(ticket_id=ticket_id, used_at=None).order_by(
            CustomerLink.created_at.desc()).first()
        return links.token_for(facade.settings.secret_key, link)

    facade.complete_by_link(token=facade.run_in_unit(token), data=data)


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
    through_link(facade, tid, {"accepted": True})
    assert desk.names(tid) == ["callback", "satisfaction_survey"]
    through_link(facade, tid, {"score": 5})
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
    through_link(facade, tid, {"decision": "accept"})
    _schedule_and_implement(desk, tid)
    assert desk.names(tid) == ["customer_acceptance"]
    through_link(facade, tid, {"accepted": True})
    desk.complete(tid, "callback", {"recurred": False, "satisfaction": 4})
    assert desk.ticket(tid)["status"] == "archived"
    kinds = _kinds(desk, tid)
    assert kinds.index("entitlement") < kinds.index("quote_accepted") < kinds.index("archived")
    assert "change_not_pursued" not in kinds


def test_paid_change_declined_is_not_pursued_and_goes_to_acceptance(desk: Desk, facade: Aftercare) -> None:
    tid = _change(desk, **HOSPITAL)
    desk.complete(tid, "change_assessment", assessment("enhancement"))
    desk.complete(tid, "prepare_quote", QUOTE)
    through_link(facade, tid, {"decision": "decline"})
    assert [e["outcome"] for e in desk.events(tid, "change_not_pursued")] == ["declined"]
    kinds = _kinds(desk, tid)
    assert kinds.index("entitlement") < kinds.index("quote_declined") < kinds.index("change_not_pursued")
    assert not [e for e in desk.events(tid, "task_opened") if e.get("task") in ("schedule_change",
                                                                                "implement_change")]
    assert desk.names(tid) == ["customer_acceptance"]
    assert desk.ticket(tid)["sla"]["resolved_at"]
