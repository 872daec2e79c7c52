"""Waiting for the customer: the engineer's question pauses the resolve clock on the ticket's SLA calendar, and the
diagram's resolve timers move with the deadline when the customer answers (engine/waiting.py, fault_handling)."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine import calendar
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import LinkError
from tests.support import Desk, complete_as_customer, customer_token

SH = ZoneInfo("Asia/Shanghai")
QUESTION = "请提供报错时的系统版本号和截图。"


def at(*args: int) -> datetime:
    """A Shanghai wall-clock time."""
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


def due(ticket: dict, key: str) -> datetime:
    return datetime.fromisoformat(ticket["sla"][key]).astimezone(SH)


def outbox(facade: Aftercare) -> list[tuple[str, str, dict]]:
    from engine.models import OutboxMessage

    return facade.run_in_unit(lambda s: [(m.template, m.to_addr, dict(m.context or {}))
                                         for m in s.query(OutboxMessage).order_by(OutboxMessage.id)])


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def fault_at_engineer(desk: Desk, clock: FakeClock, when: datetime) -> int:
    """A severity-3 fault (3 working days on the working calendar) logged at `when`, responded, at the engineer."""
    clock.set(when)
    tid = desk.create()
    desk.triage(tid, severity=3)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "登录服务报错"})
    assert desk.names(tid) == ["engineer_resolution"]
    return tid


def ask(desk: Desk, tid: int, question: str = QUESTION) -> None:
    desk.complete(tid, "engineer_resolution", {"outcome": "ask_customer", "question": question})


def test_the_question_pauses_the_clock_and_reaches_the_customer(desk: Desk, clock: FakeClock,
                                                                facade: Aftercare) -> None:
    tid = fault_at_engineer(desk, clock, at(2026, 9, 29, 10, 0))
    clock.set(at(2026, 9, 30, 15, 0))
    ask(desk, tid)
    ticket = desk.ticket(tid)
    assert ticket["status"] == "waiting_customer"
    assert desk.names(tid) == ["customer_answer"]
    assert desk.task(tid, "customer_answer")["role"] == "customer"
    assert datetime.fromisoformat(ticket["sla"]["paused_at"]) == at(2026, 9, 30, 15, 0)
    # the question is in the conversation, e-mailed to the contact with a link to answer
    assert [(m["body"], m["author"]) for m in ticket["messages"]] == [(QUESTION, "engineer")]
    mails = [m for m in outbox(facade) if m[0] == "customer_question"]
    assert len(mails) == 1 and mails[0][1] == "wang@demo-customer.example" and mails[0][2].get("link_id")
    assert facade.ticket_for_mail(ticket_id=tid)["question"] == QUESTION
    # paused time grows on the calendar only: 15:00-18:00 on the 30th, then the National Day holiday
    clock.set(at(2026, 10, 7, 12, 0))
    assert desk.ticket(tid)["sla"]["paused_seconds"] == 3 * 3600
    status = facade.ticket_status(token=facade.status_token(ticket_id=tid))
    assert status["status"] == "waiting_customer" and status["question"] == QUESTION and status["paused_at"]


def test_answer_after_the_holiday_keeps_the_elapsed_working_time(desk: Desk, clock: FakeClock,
                                                                 facade: Aftercare) -> None:
    tid = fault_at_engineer(desk, clock, at(2026, 9, 29, 10, 0))
    before = desk.ticket(tid)
    old_due = due(before, "resolve_due")
    assert old_due == at(2026, 10, 9, 10, 0)  # 27 working hours: 9/29 8 h, 9/30 9 h, 10/8 9 h, 10/9 1 h
    asked = at(2026, 9, 30, 15, 0)
    clock.set(asked)
    ask(desk, tid)
    remaining = calendar.working_hours_between(asked, old_due, "working")
    answered = at(2026, 10, 8, 11, 0)  # the next working day after the holiday
    desk.travel_to(answered)
    facade.customer_message(token=facade.status_token(ticket_id=tid), body="版本 5.2.1，截图见附件")
    ticket = desk.ticket(tid)
    assert ticket["status"] == "in_progress" and desk.names(tid) == ["engineer_resolution"]
    assert ticket["sla"]["paused_at"] is None
    assert ticket["sla"]["paused_seconds"] == 5 * 3600  # 9/30 15-18 and 10/8 9-11: the holiday is not working time
    new_due = due(ticket, "resolve_due")
    assert new_due == old_due + timedelta(hours=5)  # 10/9 10:00 + 5 working hours = 10/9 15:00
    assert calendar.working_hours_between(answered, new_due, "working") == pytest.approx(remaining)
    kinds = [e["kind"] for e in ticket["timeline"]]
    assert "sla_paused" in kinds and "sla_resumed" in kinds and "message_received" in kinds
    # the engineer's task is back, due at the moved deadline
    assert datetime.fromisoformat(desk.task(tid, "engineer_resolution")["due_at"]) == new_due


def test_a_breach_the_pause_prevents_does_not_happen(desk: Desk, clock: FakeClock, facade: Aftercare) -> None:
    tid = fault_at_engineer(desk, clock, at(2026, 9, 29, 10, 0))
    old_due = due(desk.ticket(tid), "resolve_due")
    clock.set(at(2026, 9, 30, 15, 0))
    ask(desk, tid)
    desk.travel_to(old_due + timedelta(hours=3))  # the old deadline passes while the customer has the question
    ticket = desk.ticket(tid)
    assert ticket["sla"]["breaches"] == [] and ticket["escalation_level"] <= 1
    assert not desk.events(tid, "sla_breach")
    desk.travel_to(at(2026, 10, 9, 16, 0))
    complete_as_customer(facade, tid, {"customer_answer": "版本 5.2.1"})
    ticket = desk.ticket(tid)
    # paused 9/30 15-18, 10/8 9-18, 10/9 9-16 = 19 working hours; 10/10 is a make-up workday (调休)
    assert ticket["sla"]["paused_seconds"] == 19 * 3600
    new_due = due(ticket, "resolve_due")
    assert new_due == at(2026, 10, 12, 11, 0)
    desk.travel_to(new_due - timedelta(minutes=5))
    assert desk.ticket(tid)["sla"]["breaches"] == []
    # the diagram's timer really moved: it fires at the new deadline, not before and not never
    desk.travel_to(new_due + timedelta(minutes=1))
    assert [b["kind"] for b in desk.ticket(tid)["sla"]["breaches"]] == ["resolve"]


def test_resolved_in_time_after_the_pause_is_met(desk: Desk, clock: FakeClock, facade: Aftercare) -> None:
    tid = fault_at_engineer(desk, clock, at(2026, 9, 29, 10, 0))
    clock.set(at(2026, 9, 30, 15, 0))
    ask(desk, tid)
    desk.travel_to(at(2026, 10, 9, 16, 0))
    complete_as_customer(facade, tid, {"customer_answer": "版本 5.2.1"})
    desk.travel_to(at(2026, 10, 12, 10, 0))  # after the original deadline, before the moved one
    desk.complete(tid, "engineer_resolution", {"outcome": "resolved", "resolution": "升级到 5.2.2"})
    ticket = desk.ticket(tid)
    assert ticket["status"] == "awaiting_acceptance" and ticket["sla"]["breaches"] == []
    assert due(ticket, "resolve_due") > datetime.fromisoformat(ticket["sla"]["resolved_at"])


def test_reminder_after_two_working_days(desk: Desk, clock: FakeClock, facade: Aftercare) -> None:
    tid = fault_at_engineer(desk, clock, at(2026, 9, 29, 10, 0))
    clock.set(at(2026, 9, 30, 15, 0))
    ask(desk, tid)
    # 18 working hours: 9/30 3 h, 10/8 9 h, 10/9 6 h -> 10/9 15:00 (the holiday does not count)
    desk.travel_to(at(2026, 10, 9, 14, 55))
    assert [m for m in outbox(facade) if m[0] == "customer_question"].__len__() == 1
    desk.travel_to(at(2026, 10, 9, 15, 5))
    mails = [m for m in outbox(facade) if m[0] == "customer_question"]
    assert len(mails) == 2 and mails[1][2].get("reminder") is True and mails[1][2].get("link_id")
    assert desk.names(tid) == ["customer_answer"] and desk.ticket(tid)["status"] == "waiting_customer"
    assert len(desk.events(tid, "reminder")) == 1


def test_no_answer_in_seven_working_days_goes_back_to_the_engineer(desk: Desk, clock: FakeClock,
                                                                    facade: Aftercare) -> None:
    tid = fault_at_engineer(desk, clock, at(2026, 9, 29, 10, 0))
    clock.set(at(2026, 9, 30, 15, 0))
    ask(desk, tid)
    token = customer_token(facade, tid)
    # 63 working hours: 9/30 3 h, 10/8-10/14 (six working days incl. Saturday 10/10) 54 h, 10/15 6 h -> 15:00
    desk.travel_to(at(2026, 10, 15, 14, 55))
    assert desk.names(tid) == ["customer_answer"]
    desk.travel_to(at(2026, 10, 15, 15, 5))
    ticket = desk.ticket(tid)
    assert desk.names(tid) == ["engineer_resolution"] and ticket["status"] == "in_progress"
    # paused until the timeout fired (the scheduler ran five minutes after it fell due)
    assert ticket["sla"]["paused_at"] is None and ticket["sla"]["paused_seconds"] == 63 * 3600 + 5 * 60
    assert desk.events(tid, "customer_no_answer")
    with pytest.raises(LinkError):  # the step the link was for is over
        facade.complete_by_link(token=token, data={"customer_answer": "太晚了"})
    # the engineer closes the ticket: the customer is told why, no acceptance
    desk.complete(tid, "engineer_resolution", {"outcome": "close_unanswered", "resolution": "客户未提供版本信息"})
    ticket = desk.ticket(tid)
    assert ticket["status"] == "archived" and desk.names(tid) == []
    assert "service_not_pursued" in [m[0] for m in outbox(facade)]


def test_answer_by_email_path_and_by_link(desk: Desk, clock: FakeClock, facade: Aftercare) -> None:
    from engine import waiting
    from engine.conversation import add_message
    from engine.models import Ticket

    tid = fault_at_engineer(desk, clock, at(2026, 11, 2, 10, 0))
    clock.set(at(2026, 11, 2, 14, 0))
    ask(desk, tid)
    clock.set(at(2026, 11, 3, 10, 0))

    def by_mail(session: object) -> bool:  # what inbound mail does with a reply from the contact
        ticket = session.get(Ticket, tid)  # type: ignore[attr-defined]
        add_message(facade.kernel, session, ticket, now=clock.now(), author="王工", author_kind="customer",
                    body="是 5.2.1 版本", source="email")
        return waiting.waiting_task(session, tid) is None  # type: ignore[arg-type]

    assert facade.run_in_unit(by_mail, write=True)
    ticket = desk.ticket(tid)
    assert desk.names(tid) == ["engineer_resolution"] and ticket["sla"]["paused_seconds"] == 5 * 3600
    answered = [e for e in ticket["timeline"] if e["kind"] == "task_completed" and e["task"] == "customer_answer"]
    assert answered and answered[0]["data"]["customer_answer"] == "是 5.2.1 版本"
    # a second question, answered from the e-mail's link: the answer joins the conversation too
    clock.set(at(2026, 11, 3, 11, 0))
    ask(desk, tid, "重启后问题是否仍然出现？")
    clock.set(at(2026, 11, 3, 16, 0))
    complete_as_customer(facade, tid, {"customer_answer": "重启后仍然出现"})
    ticket = desk.ticket(tid)
    assert ticket["sla"]["paused_seconds"] == 10 * 3600
    assert [m["body"] for m in ticket["messages"] if m["author_kind"] == "customer"][-1] == "重启后仍然出现"
    # a customer message while nothing waits is just a message
    assert not facade.run_in_unit(
        lambda s: waiting.customer_answered(facade.kernel, s, s.get(Ticket, tid), None), write=True)


def test_expert_can_ask_too(desk: Desk, clock: FakeClock, facade: Aftercare) -> None:
    clock.set(at(2026, 11, 2, 10, 0))
    tid = desk.create()
    desk.triage(tid, severity=1, onsite=False)
    desk.complete(tid, "expert_response", {"contact_made": True, "diagnosis": "数据库宕机"})
    desk.complete(tid, "expert_resolution", {"outcome": "ask_customer", "question": "能否提供数据库日志？"})
    assert desk.ticket(tid)["status"] == "waiting_customer"
    clock.set(at(2026, 11, 2, 12, 0))
    complete_as_customer(facade, tid, {"customer_answer": "日志已上传"})
    assert desk.names(tid) == ["expert_resolution"]
    assert desk.ticket(tid)["sla"]["paused_seconds"] == 2 * 3600  # severity 1 runs on the 24x7 calendar


def test_running_cases_of_the_version_before_move_and_can_ask(desk: Desk, clock: FakeClock,
                                                              facade: Aftercare) -> None:
    """A case started on the diagram without the question step moves to the new version and the engineer can ask."""
    from pathlib import Path

    from engine.users import Actor

    owner = Actor("process_owner", "process_owner")
    current = facade.current_files()
    before = dict(current)
    for name in ("maintenance_request.bpmn", "fault_resolution.json", "expert_resolution.json"):
        before[name] = (Path(__file__).parents[1] / "fixtures" / "waiting" / name).read_text(encoding="utf-8")
    before.pop("customer_answer.json", None)
    old = [v["version"] for v in facade.deploy(files=before, actor=owner) if v["process_id"] == "maintenance_request"]
    tid = fault_at_engineer(desk, clock, at(2026, 11, 2, 10, 0))
    assert desk.ticket(tid)["process"]["version"] == old[0]
    new = [v["version"] for v in facade.deploy(files=current, actor=owner) if v["process_id"] == "maintenance_request"]
    plan = facade.migrate_cases(process_id="maintenance_request", from_version=old[0], to_version=new[0],
                                dry_run=True, actor=owner)
    assert [(c["ticket_id"], c["movable"]) for c in plan["cases"]] == [(tid, True)]
    moved = facade.migrate_cases(process_id="maintenance_request", from_version=old[0], to_version=new[0],
                                 dry_run=False, actor=owner)
    assert moved["moved"] == 1
    clock.set(at(2026, 11, 2, 14, 0))
    ask(desk, tid)
    assert desk.ticket(tid)["status"] == "waiting_customer"
    clock.set(at(2026, 11, 3, 10, 0))
    complete_as_customer(facade, tid, {"customer_answer": "5.2.1"})
    assert desk.names(tid) == ["engineer_resolution"] and desk.ticket(tid)["sla"]["paused_seconds"] == 5 * 3600


def test_figures_count_resolve_time_without_the_pause(desk: Desk, clock: FakeClock, facade: Aftercare) -> None:
    from engine import figures

    tid = fault_at_engineer(desk, clock, at(2026, 9, 29, 10, 0))
    clock.set(at(2026, 9, 30, 15, 0))
    ask(desk, tid)
    desk.travel_to(at(2026, 10, 8, 11, 0))
    complete_as_customer(facade, tid, {"customer_answer": "版本 5.2.1"})
    clock.set(at(2026, 10, 8, 13, 0))
    desk.complete(tid, "engineer_resolution", {"outcome": "resolved", "resolution": "升级到 5.2.2"})
    times = facade.run_in_unit(lambda s: figures.times(s, figures.Period.of("2026-10")))
    # created 9/29 10:00, resolved 10/8 13:00: 8 + 9 + 4 = 21 working hours, 5 of them paused
    assert times["resolve"] == {"count": 1, "mean_hours": 16.0, "p90_hours": 16.0}


def test_sla_replay_moves_a_candidate_deadline_by_the_paused_time() -> None:
    from pathlib import Path

    from engine.sla_replay import TicketFacts, parse_candidate, replay

    candidate = parse_candidate((Path(__file__).parents[2] / "processes" / "sla.dmn").read_text(encoding="utf-8"))
    created = at(2026, 9, 29, 10, 0)  # severity 3 standard: 3 working days, due 10/9 10:00

    def facts(paused: int, resolved: datetime | None, paused_at: datetime | None = None) -> TicketFacts:
        return TicketFacts(id=1, number="AC-2026-000001", created_at=created, category="fault", severity=3,
                           tier="standard", onsite=False, sla_overrides={}, responded_at=created,
                           resolved_at=resolved, actual_response_breached=False, actual_resolve_breached=False,
                           paused_seconds=paused, paused_at=paused_at)

    late = at(2026, 10, 9, 14, 0)
    assert replay(candidate, [facts(0, late)], late)["breached_candidate"] == 1
    assert replay(candidate, [facts(5 * 3600, late)], late)["breached_candidate"] == 0  # due 10/9 15:00
    # still waiting for the customer since before the deadline: not breached, however late it is now
    waiting = facts(0, None, paused_at=at(2026, 9, 30, 15, 0))
    assert replay(candidate, [waiting], at(2026, 10, 20, 9, 0))["breached_candidate"] == 0


def test_ticket_list_counts_a_paused_ticket_as_waiting_not_breached(desk: Desk, clock: FakeClock,
                                                                     facade: Aftercare) -> None:
    tid = fault_at_engineer(desk, clock, at(2026, 9, 29, 10, 0))
    clock.set(at(2026, 9, 30, 15, 0))
    ask(desk, tid)
    desk.travel_to(at(2026, 10, 12, 9, 0))  # long past the original deadline, still waiting
    admin = desk.actor("admin")

    def listed(**params: str) -> list[dict]:
        query, errors = facade.tickets.parse_query(params=params)
        assert errors == []
        return list(facade.list_tickets(query=query, actor=admin).rows)

    [row] = listed(status="waiting")
    assert row["id"] == tid and row["status"] == "waiting_customer" and not row["breached"]
    assert listed(breached="true") == [] and listed(status="open") == []


def test_product_team_asks_during_a_change_assessment(desk: Desk, clock: FakeClock, facade: Aftercare) -> None:
    clock.set(at(2026, 11, 2, 10, 0))
    tid = desk.create(title="报表增加科室筛选")
    desk.triage(tid, category="change")
    old_due = due(desk.ticket(tid), "resolve_due")
    desk.complete(tid, "change_assessment", {"assessment_decision": "ask_customer", "question": "需要按哪些科室筛选？"})
    ticket = desk.ticket(tid)
    assert ticket["status"] == "waiting_customer" and desk.names(tid) == ["customer_answer"]
    assert [m["body"] for m in ticket["messages"]] == ["需要按哪些科室筛选？"]
    clock.set(at(2026, 11, 3, 12, 0))
    facade.customer_message(token=facade.status_token(ticket_id=tid), body="门诊和住院")
    ticket = desk.ticket(tid)
    assert desk.names(tid) == ["change_assessment"] and ticket["status"] == "in_progress"
    assert ticket["sla"]["paused_seconds"] == 11 * 3600  # 11/2 10-18, 11/3 9-12
    # the change's resolve deadline (10 working days) moved by the 11 paused working hours
    assert calendar.working_hours_between(old_due, due(ticket, "resolve_due"), "working") == pytest.approx(11)


def test_service_desk_asks_before_answering_a_usage_question(desk: Desk, clock: FakeClock,
                                                             facade: Aftercare) -> None:
    clock.set(at(2026, 11, 2, 10, 0))
    tid = desk.create(title="如何导出月报")
    desk.triage(tid, category="question")
    old_due = due(desk.ticket(tid), "resolve_due")  # 1 working day: 11/3 10:00
    desk.complete(tid, "answer_question", {"ask_customer": True, "question": "您使用的是哪个版本？"})
    assert desk.ticket(tid)["status"] == "waiting_customer" and desk.names(tid) == ["desk_customer_answer"]
    desk.travel_to(old_due + timedelta(hours=1))  # the old deadline passes while waiting: no breach
    assert desk.ticket(tid)["sla"]["breaches"] == []
    facade.customer_message(token=facade.status_token(ticket_id=tid), body="5.2 版")
    ticket = desk.ticket(tid)
    assert desk.names(tid) == ["answer_question"] and ticket["sla"]["paused_seconds"] == 10 * 3600
    assert calendar.working_hours_between(old_due, due(ticket, "resolve_due"), "working") == pytest.approx(10)
    desk.complete(tid, "answer_question", {"answer": "在报表菜单中选择导出"})
    assert desk.names(tid) == ["customer_acceptance"]


def test_no_progress_e_mail_while_the_customer_is_asked(desk: Desk, clock: FakeClock, facade: Aftercare) -> None:
    """The 4-hourly progress e-mail says the fault is being worked on: while the next move is the customer's
    (the question open, the resolve clock standing) it is not sent, and it starts again after the answer."""
    tid = fault_at_engineer(desk, clock, at(2026, 11, 2, 10, 0))
    desk.travel(hours=4, seconds=1)
    assert len(desk.events(tid, "progress_update")) == 1
    ask(desk, tid)
    for _ in range(3):
        desk.travel(hours=4)
    assert len(desk.events(tid, "progress_update")) == 1
    assert [m[0] for m in outbox(facade)].count("progress_update") == 1
    complete_as_customer(facade, tid, {"customer_answer": "是 5.2.1 版本"})
    desk.travel(hours=4)
    assert len(desk.events(tid, "progress_update")) == 2
    assert [m[0] for m in outbox(facade)].count("progress_update") == 2


def test_the_question_posted_to_the_conversation_comes_after_the_step_that_asked_it(
        desk: Desk, clock: FakeClock, facade: Aftercare) -> None:
    from sqlalchemy import select

    from engine.models import TimelineEvent

    tid = fault_at_engineer(desk, clock, at(2026, 9, 29, 10, 0))
    clock.set(at(2026, 9, 30, 15, 0))
    ask(desk, tid)
    kinds = facade.run_in_unit(lambda s: list(s.scalars(
        select(TimelineEvent.kind).where(TimelineEvent.ticket_id == tid).order_by(TimelineEvent.at, TimelineEvent.id))))
    asked = max(i for i, kind in enumerate(kinds) if kind == "task_completed")  # the step, all at one moment
    assert kinds.index("message_posted") > asked and kinds[-1] == "message_posted", kinds
