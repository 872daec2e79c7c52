"""The ticket page's diagrams: the top process and every called process the case has entered, each drawn from
the deployment the case runs on, with done steps, the current task and fired timers marked."""
from __future__ import annotations

from typing import Any

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.support import Desk, complete_as_customer

HOSPITAL = {"customer": "青山医院", "contact_name": "李工", "contact_email": "it@qingshan-hospital.example"}
ANSWER = {"findings": "工程师未按约定时间到场", "answer": "非常抱歉，我们已调整排班",
          "corrective_action": "排班系统增加到场提醒"}
# An enhancement for a customer out of warranty is paid: the change request calls the price negotiation.
PAID_ASSESSMENT = {"change_kind": "enhancement", "change_scope": "新增科室月度统计报表", "effort_days": 5,
                   "assessment_decision": "implement", "assessment_answer": "我们将先为您报价"}
QUOTE = {"quote_items": [{"description": "报表开发", "unit_price": 8000}], "quote_validity_days": 10}


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def diagram(desk: Desk, tid: int) -> dict[str, Any]:
    """The diagram JSON of a ticket, as the ticket page fetches it."""
    return dict(desk.facade.ticket_diagram(ticket_id=tid, actor=desk.actor("engineer")))


def called(desk: Desk, tid: int) -> dict[str, dict[str, Any]]:
    """The called-process diagrams by process id."""
    return {c["process_id"]: c for c in diagram(desk, tid)["called"]}




def deployed(facade: Aftercare, name: str) -> str:
    """The newest deployed text of a process file."""
    from engine import repository

    def read(session: Any) -> str:
        file = repository.deployment_file(session, repository.latest_deployment_id(session), name)
        return str(file.content)

    return str(facade.run_in_unit(read))


def test_a_change_in_assessment_is_current_in_its_own_diagram(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create(title="新增科室月度报表", description="希望增加按科室统计的月度报表")
    desk.triage(tid, category="change")
    d = diagram(desk, tid)
    assert d["process_id"] == "maintenance_request" and d["name"] == "维护请求 Maintenance request"
    assert d["current"] == ["handle_change"]  # the call activity waits on its child
    assert "triage" in d["done"] and d["xml"] == deployed(facade, "maintenance_request.bpmn")
    assert "change_assessment" not in d["done"] + d["current"]  # the child's ids stay in the child's diagram
    [change] = d["called"]
    assert (change["process_id"], change["name"], change["runs"]) == ("change_request", "需求变更 Change request", 1)
    assert change["current"] == ["change_assessment"]
    assert {"change_start", "register_change"} <= set(change["done"]) and change["fired"] == []
    assert change["xml"] == deployed(facade, "change_request.bpmn")


def test_a_nested_call_shows_every_level_in_the_order_entered(desk: Desk) -> None:
    tid = desk.create(**HOSPITAL, title="新增科室月度报表", description="希望增加按科室统计的月度报表")
    desk.triage(tid, category="change")
    desk.complete(tid, "change_assessment", PAID_ASSESSMENT)
    d = diagram(desk, tid)
    assert d["current"] == ["handle_change"]
    assert [c["process_id"] for c in d["called"]] == ["change_request", "paid_service_negotiation"]
    change, negotiation = d["called"]
    assert change["current"] == ["negotiate_price"] and "change_assessment" in change["done"]
    assert negotiation["current"] == ["prepare_quote"] and "negotiation_start" in negotiation["done"]
    assert 'id="prepare_quote"' in negotiation["xml"]


def test_a_complaint_shows_its_steps_and_its_fired_timer(desk: Desk) -> None:
    tid = desk.create(title="工程师未按时到场", description="约定 9 点到场，11 点仍未到")  # Monday 10:00
    desk.triage(tid, category="complaint")
    complaint = called(desk, tid)["complaint"]
    assert complaint["name"] == "投诉处理 Complaint" and complaint["current"] == ["complaint_investigation"]
    desk.travel(days=1, minutes=5)  # the answer is due within one working day
    d = diagram(desk, tid)
    complaint = d["called"][0]
    assert complaint["fired"] == ["complaint_answer_timer"] and "complaint_overdue" in complaint["done"]
    assert complaint["current"] == ["complaint_investigation"]  # the timer does not interrupt
    assert "complaint_answer_timer" not in d["fired"]
    desk.complete(tid, "complaint_investigation", ANSWER)
    complaint = called(desk, tid)["complaint"]
    assert complaint["current"] == ["complaint_confirmation"] and "complaint_investigation" in complaint["done"]


def test_a_finished_case_shows_the_called_steps_done(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create(title="工程师未按时到场", description="约定 9 点到场，11 点仍未到")
    desk.triage(tid, category="complaint")
    desk.complete(tid, "complaint_investigation", ANSWER)
    complete_as_customer(facade, tid, {"satisfied": True})
    assert desk.ticket(tid)["status"] == "archived"
    d = diagram(desk, tid)
    assert d["current"] == [] and "handle_complaint" in d["done"]
    # the viewer opens where the case ended: the element done last, the end it reached
    assert d["last"] in d["done"] and f'<bpmn:endEvent id="{d["last"]}"' in d["xml"]
    [complaint] = d["called"]
    assert complaint["current"] == [] and complaint["last"] == "complaint_end"
    assert {"complaint_investigation", "complaint_confirmation", "record_confirmation", "complaint_end"} <= set(
        complaint["done"])


def test_a_declined_quote_finishes_both_called_diagrams(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create(**HOSPITAL, title="新增科室月度报表", description="希望增加按科室统计的月度报表")
    desk.triage(tid, category="change")
    desk.complete(tid, "change_assessment", PAID_ASSESSMENT)
    desk.complete(tid, "prepare_quote", QUOTE)
    complete_as_customer(facade, tid, {"quote_decision": "decline"})
    change, negotiation = diagram(desk, tid)["called"]
    assert negotiation["current"] == [] and {"quote_decision", "quote_declined_end"} <= set(negotiation["done"])
    assert "approve_quote" not in negotiation["done"]  # only the path taken
    assert "negotiate_price" in change["done"] and "change_not_pursued_end" in change["done"]
    assert "schedule_change" not in change["done"] + change["current"]


def test_a_process_entered_twice_shows_once_with_both_runs(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create(title="修复报表缺陷", description="月报合计错误")  # Demo Customer: a bugfix is free
    desk.triage(tid, category="change")
    desk.complete(tid, "change_assessment", {**PAID_ASSESSMENT, "change_kind": "bugfix"})
    desk.complete(tid, "schedule_change", {"planned_start": "2026-12-01"})
    desk.complete(tid, "implement_change", {"resolution": "已修复合计"})
    # rework: the change is called again
    complete_as_customer(facade, tid, {"accepted": False, "reason": "合计仍然错误"})
    assert desk.names(tid) == ["implement_change"]
    d = diagram(desk, tid)
    assert d["current"] == ["handle_change"] and "customer_acceptance" in d["done"]
    [change] = d["called"]
    assert change["runs"] == 2
    assert change["current"] == ["implement_change"]  # current again in the second run, done in the first
    assert "implement_change" not in change["done"]
    assert {"change_assessment", "schedule_change", "change_end"} <= set(change["done"])


def test_a_process_in_the_top_file_is_marked_in_the_main_diagram(desk: Desk) -> None:
    tid = desk.create()
    desk.triage(tid, category="fault", severity=2)
    d = diagram(desk, tid)  # fault_handling is drawn beside maintenance_request in the same file
    assert d["called"] == []
    assert {"handle_fault", "engineer_response"} <= set(d["current"]) and "fault_start" in d["done"]


def test_called_diagrams_come_from_the_version_the_case_runs_on(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create(title="工程师未按时到场", description="约定 9 点到场，11 点仍未到")
    desk.triage(tid, category="complaint")
    old = deployed(facade, "complaint.bpmn")
    new = old.replace('name="投诉调查 Complaint investigation"', 'name="投诉核查 Complaint review"')
    assert new != old
    facade.deploy(files={"complaint.bpmn": new}, actor=desk.actor("process_owner"))
    assert called(desk, tid)["complaint"]["xml"] == old  # the running case keeps its version
    fresh = desk.create(title="又一次投诉", description="仍未到场")
    desk.triage(fresh, category="complaint")
    assert called(desk, fresh)["complaint"]["xml"] == new
