"""Scenario tests of the maintenance-request procedure, driven through the facade with a fake clock."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Conflict
from tests.support import Desk, complete_as_customer

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    """A Shanghai wall-clock time."""
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


def due(ticket: dict, key: str) -> datetime:
    return datetime.fromisoformat(ticket["sla"][key]).astimezone(SH)


def outbox_templates(facade: Aftercare) -> list[tuple[str, str]]:
    from engine.models import OutboxMessage

    return facade.run_in_unit(lambda s: [(m.template, m.to_addr) for m in s.query(OutboxMessage).order_by(
        OutboxMessage.id)])


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)




def test_question_path_to_archive(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create(title="如何导出月报", channel="wechat")
    assert desk.ticket(tid)["status"] == "triage"
    desk.triage(tid, category="question")
    assert desk.names(tid) == ["answer_question"]
    desk.complete(tid, "answer_question", {"answer": "在报表菜单中选择导出"})
    assert desk.names(tid) == ["customer_acceptance"]
    assert desk.ticket(tid)["status"] == "awaiting_acceptance"
    complete_as_customer(facade, tid, {"accepted": True})
    assert desk.names(tid) == ["callback", "satisfaction_survey"]
    complete_as_customer(facade, tid, {"score": 5})
    desk.complete(tid, "callback", {"recurred": False, "satisfaction": 5, "comment": "满意"})
    ticket = desk.ticket(tid)
    assert ticket["status"] == "archived" and ticket["closed_at"] and ticket["archived"]
    assert ticket["satisfaction"] == 5 and ticket["survey_score"] == 5
    assert ticket["sla"]["responded_at"] and ticket["sla"]["resolved_at"] and ticket["sla"]["breaches"] == []
    kinds = [e["kind"] for e in ticket["timeline"]]
    assert kinds[0] == "ticket_created" and "sla_deadline_set" in kinds and "archived" in kinds
    templates = [t for t, _ in outbox_templates(facade)]
    assert templates[0] == "ticket_received"
    assert {"acceptance_request", "survey_request", "ticket_closed"} <= set(templates)


def test_l1_onsite_fault_deadlines_run_around_the_clock(desk: Desk, clock: FakeClock) -> None:
    clock.set(at(2026, 11, 27, 20, 0))  # Friday evening
    tid = desk.create()
    desk.triage(tid, severity=1, onsite=True)
    ticket = desk.ticket(tid)
    assert ticket["sla"]["calendar"] == "24x7"
    assert due(ticket, "response_due") == at(2026, 11, 27, 21, 0)
    assert due(ticket, "resolve_due") == at(2026, 11, 28, 0, 0)
    assert desk.names(tid) == ["expert_response"]


def test_l1_remote_fault_resolves_in_eight_hours(desk: Desk, clock: FakeClock) -> None:
    clock.set(at(2026, 11, 28, 22, 30))  # Saturday night
    tid = desk.create()
    desk.triage(tid, severity=1, onsite=False)
    assert due(desk.ticket(tid), "resolve_due") == at(2026, 11, 29, 6, 30)


def test_l3_fault_deadlines_fall_in_working_hours_across_a_weekend(desk: Desk, clock: FakeClock) -> None:
    clock.set(at(2026, 11, 27, 16, 0))  # Friday 16:00
    tid = desk.create()
    desk.triage(tid, severity=3)
    ticket = desk.ticket(tid)
    assert ticket["sla"]["calendar"] == "working"
    assert due(ticket, "response_due") == at(2026, 11, 30, 11, 0)  # 2 h Friday + 2 h Monday
    assert due(ticket, "resolve_due") == at(2026, 12, 2, 16, 0)  # three working days later
    assert desk.names(tid) == ["engineer_response"]


def test_l3_deadline_skips_national_day_and_counts_the_make_up_saturday(desk: Desk, clock: FakeClock) -> None:
    clock.set(at(2026, 9, 30, 17, 0))  # the eve of the 国庆 holiday (Oct 1-7 off, Sat Oct 10 a workday)
    tid = desk.create()
    desk.triage(tid, severity=3)
    ticket = desk.ticket(tid)
    assert due(ticket, "response_due") == at(2026, 10, 8, 12, 0)
    assert due(ticket, "resolve_due") == at(2026, 10, 10, 17, 0)


def test_triage_is_escalated_after_fifteen_minutes(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    desk.travel(minutes=14)
    assert desk.ticket(tid)["sla"]["breaches"] == []
    desk.travel(minutes=1, seconds=1)
    ticket = desk.ticket(tid)
    assert [b["kind"] for b in ticket["sla"]["breaches"]] == ["triage"]
    assert any(e.get("level") == "triage" for e in desk.events(tid, "escalation"))
    assert ("triage_overdue", "manager@aftercare.example") in outbox_templates(facade)
    desk.travel(hours=2)
    assert len(desk.events(tid, "sla_breach")) == 1
    assert desk.names(tid) == ["triage"]


def test_escalation_ladder_at_80_100_150_percent(desk: Desk, facade: Aftercare, clock: FakeClock) -> None:
    start = clock.now()
    tid = desk.create()
    desk.triage(tid, severity=2)  # 24 h around the clock
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "数据库连接池耗尽"})
    desk.travel_to(start + timedelta(hours=19))
    assert desk.ticket(tid)["escalation_level"] == 0
    desk.travel_to(start + timedelta(hours=19, minutes=13))
    assert desk.ticket(tid)["escalation_level"] == 1
    desk.travel_to(start + timedelta(hours=24, seconds=1))
    ticket = desk.ticket(tid)
    assert ticket["escalation_level"] == 2 and [b["kind"] for b in ticket["sla"]["breaches"]] == ["resolve"]
    desk.travel_to(start + timedelta(hours=36, seconds=1))
    assert [e["level"] for e in desk.events(tid, "escalation")] == [1, 2, 3]
    mails = outbox_templates(facade)
    assert ("escalation", "engineer@aftercare.example") in mails
    assert {("escalation", "expert@aftercare.example"), ("escalation", "manager@aftercare.example"),
            ("escalation", "admin@aftercare.example")} <= set(mails)
    assert desk.names(tid) == ["engineer_resolution"]


def test_progress_update_every_four_hours_while_the_fault_is_open(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    desk.triage(tid, severity=2)
    for _ in range(3):
        desk.travel(hours=4, seconds=1)
    assert len(desk.events(tid, "progress_update")) == 3
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    desk.complete(tid, "engineer_resolution", {"resolution": "已修复", "outcome": "resolved"})
    desk.travel(hours=8)
    assert len(desk.events(tid, "progress_update")) == 3
    assert [t for t, _ in outbox_templates(facade)].count("progress_update") == 3


def test_the_response_time_stays_when_timers_armed_before_it_fire(desk: Desk, clock: FakeClock) -> None:
    tid = desk.create()
    desk.triage(tid, severity=2)
    desk.travel(minutes=30)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "连接池耗尽"})
    responded = desk.ticket(tid)["sla"]["responded_at"]
    assert responded == "2026-11-23T02:30:00+00:00"
    for _ in range(5):  # progress updates, the 80 % warning and the resolve breach fire meanwhile
        desk.travel(hours=5)
    assert len(desk.events(tid, "progress_update")) == 5 and desk.events(tid, "escalation")
    assert desk.ticket(tid)["sla"]["responded_at"] == responded


def test_manual_escalation_moves_the_fault_to_the_experts(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    desk.triage(tid, severity=3)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    desk.complete(tid, "engineer_resolution", {"resolution": "无法复现", "outcome": "escalate",
                                               "escalation_reason": "需要内核专家"})
    assert desk.names(tid) == ["expert_resolution"]
    assert ("manual_escalation", "expert@aftercare.example") in outbox_templates(facade)


def _resolve_fault(desk: Desk, tid: int) -> None:
    desk.triage(tid, severity=2)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    desk.complete(tid, "engineer_resolution", {"resolution": "已修复", "outcome": "resolved"})


def test_rejection_sends_the_fault_back_to_handling(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    _resolve_fault(desk, tid)
    complete_as_customer(facade, tid, {"accepted": False, "reason": "问题仍然存在"})
    assert desk.names(tid) == ["engineer_resolution"]  # responded already: straight to resolution
    assert desk.events(tid, "rejected")[0]["reason"] == "问题仍然存在"
    desk.complete(tid, "engineer_resolution", {"resolution": "更换驱动后修复", "outcome": "resolved"})
    complete_as_customer(facade, tid, {"accepted": True})
    assert "callback" in desk.names(tid)
    assert [t for t, _ in outbox_templates(facade)].count("acceptance_request") == 2


def test_rejection_needs_a_reason(desk: Desk, facade: Aftercare) -> None:
    from engine.errors import ValidationFailed

    tid = desk.create()
    _resolve_fault(desk, tid)
    with pytest.raises(ValidationFailed) as info:
        complete_as_customer(facade, tid, {"accepted": False})
    assert info.value.errors[0]["field"] == "reason"
    assert desk.names(tid) == ["customer_acceptance"]


def test_acceptance_reminder_after_3_and_auto_accept_after_7_working_days(desk: Desk, facade: Aftercare,
                                                                          clock: FakeClock) -> None:
    tid = desk.create()
    _resolve_fault(desk, tid)  # Monday 2026-11-23 10:00
    desk.travel_to(at(2026, 11, 26, 9, 59))
    assert [t for t, _ in outbox_templates(facade)].count("acceptance_reminder") == 0
    desk.travel_to(at(2026, 11, 26, 10, 0, 1))
    assert [t for t, _ in outbox_templates(facade)].count("acceptance_reminder") == 1
    desk.travel_to(at(2026, 12, 2, 10, 0, 1))
    ticket = desk.ticket(tid)
    assert ticket["auto_accepted"] is True and ticket["accepted_at"]
    assert desk.events(tid, "auto_accepted")
    assert "callback" in desk.names(tid) and "customer_acceptance" not in desk.names(tid)


def test_callback_recurrence_reopens_the_ticket(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    _resolve_fault(desk, tid)
    complete_as_customer(facade, tid, {"accepted": True})
    desk.complete(tid, "callback", {"recurred": True, "satisfaction": 2, "comment": "又出现了"})
    assert desk.events(tid, "reopened")  # at once: the open survey does not hold the rework up
    assert "engineer_resolution" in desk.names(tid)
    desk.travel(hours=24, seconds=1)  # the survey window closes unanswered
    assert desk.names(tid) == ["engineer_resolution"]


def test_callback_overdue_after_24_hours(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    _resolve_fault(desk, tid)
    complete_as_customer(facade, tid, {"accepted": True})
    desk.travel(hours=24, seconds=1)
    assert "callback" in [b["kind"] for b in desk.ticket(tid)["sla"]["breaches"]]
    assert ("callback_overdue", "manager@aftercare.example") in outbox_templates(facade)


def test_completing_a_task_twice_conflicts(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    task = desk.task(tid, "triage")
    data = {"category": "question"}
    desk.complete(tid, "triage", data)
    with pytest.raises(Conflict):
        facade.complete_task(task_id=task["id"], data=data, actor=desk.actor("service_desk"))


def test_resolve_clock_pauses_while_the_customer_decides(desk: Desk, facade: Aftercare, clock: FakeClock) -> None:
    tid = desk.create()  # Monday 10:00, L3: resolve due Thursday 10:00 (3 working days)
    desk.triage(tid, severity=3)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    desk.complete(tid, "engineer_resolution", {"resolution": "已修复", "outcome": "resolved"})
    assert due(desk.ticket(tid), "resolve_due") == at(2026, 11, 26, 10, 0)
    clock.set(at(2026, 11, 24, 10, 0))  # the customer rejects a working day later
    complete_as_customer(facade, tid, {"accepted": False, "reason": "仍然报错"})
    ticket = desk.ticket(tid)
    assert due(ticket, "resolve_due") == at(2026, 11, 27, 10, 0)  # moved by the 9 working hours of waiting
    assert desk.events(tid, "sla_paused") and desk.events(tid, "sla_resumed")[0]["paused_hours"] == 9


def test_after_a_long_scheduler_outage_one_progress_update_not_a_burst(desk: Desk, facade: Aftercare,
                                                                         clock: FakeClock) -> None:
    tid = desk.create()
    desk.triage(tid, severity=3)  # 3 working days to resolve: no escalation within the next day
    clock.advance(hours=20, seconds=1)  # five 4-hour periods pass while the scheduler is down
    facade.fire_due_timers()
    assert len(desk.events(tid, "progress_update")) == 1
    desk.travel(hours=4)
    assert len(desk.events(tid, "progress_update")) == 2


def test_archived_once_the_callback_is_done_even_while_the_survey_is_open(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    _resolve_fault(desk, tid)
    complete_as_customer(facade, tid, {"accepted": True})
    desk.complete(tid, "callback", {"recurred": False, "satisfaction": 4})
    assert desk.ticket(tid)["status"] == "archived" and desk.names(tid) == ["satisfaction_survey"]
    desk.travel(hours=24, seconds=1)
    ticket = desk.ticket(tid)
    assert ticket["status"] == "archived" and ticket["archived"] and desk.names(tid) == []
