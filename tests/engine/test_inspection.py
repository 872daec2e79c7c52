"""Scenario tests of the inspection procedure (processes/inspection.bpmn): started by the scheduler on the
contract's cadence, planned, performed, reported, signed by the customer from a link, risks opening tickets."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.models import Contract, Inspection, Ticket
from tests.conftest import SHANGHAI
from tests.support import Desk, complete_as_customer

PLAN = {"engineer": "engineer", "visit_date": "2026-11-25", "visit_notes": "上午 9 点到机房"}
CHECKLIST = {
    "server_status": "warning", "cpu_usage": 35, "memory_usage": 71, "disk_usage": 92, "backup_ok": True,
    "last_restore_test": "2026-10-12", "function_stability": "stable", "security_patches": "pending",
    "patch_notes": "操作系统 2 个安全补丁待装",
    "risks": [
        {"description": "数据盘使用率 92%", "severity": "high", "recommendation": "扩容或清理归档日志",
         "action_needed": True},
        {"description": "备份保留期只有 7 天", "severity": "low", "recommendation": "延长到 30 天",
         "action_needed": False},
    ],
    "summary": "系统总体运行正常，磁盘空间需尽快处理。",
}


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def _contract(facade: Aftercare, number: str) -> dict:
    return next(c for c in facade.list_contracts() if c["number"] == number)


def _due_now(facade: Aftercare, clock: FakeClock, number: str = "HT-2025-018") -> datetime:
    """Move the clock to the contract's next inspection and let the scheduler run."""
    due = datetime.fromisoformat(_contract(facade, number)["next_inspection_at"])
    clock.set(due)
    return due


def _inspection_tickets(facade: Aftercare) -> list[Ticket]:
    return list(facade.run_in_unit(
        lambda s: s.query(Ticket).filter_by(category="inspection").order_by(Ticket.id).all()))


def test_the_first_inspection_is_one_cadence_after_the_start_on_a_working_day(facade: Aftercare) -> None:
    # HT-2025-018 starts 2025-07-01, quarterly: after 2026-11-23 the next date is 2027-01-01, New Year's Day,
    # so the next working day, Monday 2027-01-04
    due = datetime.fromisoformat(_contract(facade, "HT-2025-018")["next_inspection_at"]).astimezone(SHANGHAI)
    assert (due.date(), due.hour) == (date(2027, 1, 4), 9)
    # HT-2023-007 every six months from 2023-01-01: 2027-01-01 as well; HT-2026-003 from 2026-03-01: 2026-12-01
    due = datetime.fromisoformat(_contract(facade, "HT-2026-003")["next_inspection_at"]).astimezone(SHANGHAI)
    assert (due.date(), due.hour) == (date(2026, 12, 1), 9)


def test_nothing_starts_before_it_is_due(facade: Aftercare, clock: FakeClock) -> None:
    clock.set(datetime(2026, 11, 30, 18, tzinfo=SHANGHAI))
    assert facade.start_due_inspections() == 0
    assert _inspection_tickets(facade) == []


def test_a_due_inspection_starts_once_and_moves_the_contract_on(facade: Aftercare, clock: FakeClock,
                                                                 desk: Desk) -> None:
    due = _due_now(facade, clock, "HT-2026-003")
    assert facade.start_due_inspections() == 1
    assert facade.start_due_inspections() == 0
    [ticket] = _inspection_tickets(facade)
    assert ticket.number.startswith("XJ-2026-")
    assert desk.names(ticket.id) == ["plan_inspection"]
    assert desk.task(ticket.id, "plan_inspection")["role"] == "manager"
    nxt = datetime.fromisoformat(_contract(facade, "HT-2026-003")["next_inspection_at"]).astimezone(SHANGHAI)
    assert nxt.date() == date(2027, 3, 1) and nxt > due
    assert [e["contract"] for e in desk.events(ticket.id, "inspection_due")] == ["HT-2026-003"]


def test_two_schedulers_at_once_start_it_once(facade: Aftercare, clock: FakeClock, settings) -> None:
    _due_now(facade, clock, "HT-2026-003")
    second = Aftercare(settings, clock)
    try:
        results: list[int] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def run(aftercare: Aftercare) -> None:
            barrier.wait()
            try:
                results.append(aftercare.start_due_inspections())
            except BaseException as exc:  # a lost race may surface as an error: it must not start a second case
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(a,)) for a in (facade, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        second.close()
    assert sum(results) == 1, (results, errors)
    assert len(_inspection_tickets(facade)) == 1
    assert facade.run_in_unit(lambda s: s.query(Inspection).count()) == 1


def test_missed_periods_while_down_give_one_inspection(facade: Aftercare, clock: FakeClock) -> None:
    _due_now(facade, clock, "HT-2026-003")
    clock.advance(days=200)  # the server was down through two more quarters
    facade.start_due_inspections()
    assert facade.start_due_inspections() == 0
    assert _inspections_of(facade, "HT-2026-003") == 1
    nxt = datetime.fromisoformat(_contract(facade, "HT-2026-003")["next_inspection_at"])
    assert nxt > clock.now()


def test_no_inspection_after_the_contract_ends(facade: Aftercare, clock: FakeClock) -> None:
    facade.save_contract(number="HT-2026-099", customer="Demo Customer", starts_on=date(2026, 6, 1),
                         ends_on=date(2026, 12, 15), inspection_months=3)
    clock.set(datetime(2026, 12, 1, 9, tzinfo=SHANGHAI))
    assert facade.start_due_inspections() >= 1
    assert _contract(facade, "HT-2026-099")["next_inspection_at"] is None
    clock.set(datetime(2027, 6, 1, 9, tzinfo=SHANGHAI))
    facade.start_due_inspections()
    assert _inspections_of(facade, "HT-2026-099") == 1


def _inspections_of(facade: Aftercare, number: str) -> int:
    return int(facade.run_in_unit(lambda s: s.query(Inspection).join(
        Contract, Inspection.contract_id == Contract.id).filter(Contract.number == number).count()))


def _performed(facade: Aftercare, clock: FakeClock, desk: Desk) -> int:
    _due_now(facade, clock, "HT-2026-003")
    facade.start_due_inspections()
    [ticket] = _inspection_tickets(facade)
    desk.complete(ticket.id, "plan_inspection", PLAN)
    task = desk.task(ticket.id, "perform_inspection")
    assert task["role"] == "engineer" and task["assignee"] == "engineer"
    desk.complete(ticket.id, "perform_inspection", CHECKLIST)
    return ticket.id


def test_signed_report_opens_a_ticket_for_each_risk_marked_for_action(facade: Aftercare, clock: FakeClock,
                                                                        desk: Desk, smtp) -> None:
    tid = _performed(facade, clock, desk)
    assert desk.names(tid) == ["customer_signoff"]
    report = facade.inspection_report(ticket_id=tid, actor=desk.actor("manager"))
    assert report["customer"] == "华东电网信息中心" and report["contract_number"] == "HT-2026-003"
    assert report["checklist"]["disk_usage"] == 92 and report["checklist"]["backup_ok"] is True
    assert [r["description"] for r in report["risks"]] == ["数据盘使用率 92%", "备份保留期只有 7 天"]
    assert report["signed_by"] is None and report["engineer"] == "engineer"

    complete_as_customer(facade, tid, {"signed_by": "周主任", "signoff_confirmed": True, "signoff_comment": "同意"})

    ticket = desk.ticket(tid)
    assert ticket["status"] == "archived" and ticket["archived"]
    report = facade.inspection_report(ticket_id=tid, actor=desk.actor("manager"))
    assert report["signed_by"] == "周主任" and report["signed_at"]
    [risk_ticket] = [t for t in facade.run_in_unit(lambda s: s.query(Ticket).filter_by(origin_ticket_id=tid).all())]
    assert report["risks"][0]["ticket_number"] == risk_ticket.number
    assert report["risks"][1]["ticket_number"] is None
    assert "数据盘使用率 92%" in risk_ticket.title and risk_ticket.contract_id is not None
    assert desk.names(risk_ticket.id) == ["triage"]  # a maintenance request like any other
    [opened] = desk.events(tid, "linked_ticket_opened")
    assert opened["number"] == risk_ticket.number
    assert desk.events(risk_ticket.id, "ticket_created")[0]["origin"] == ticket["number"]


def test_signing_needs_a_name_and_the_confirmation(facade: Aftercare, clock: FakeClock, desk: Desk) -> None:
    from engine.errors import ValidationFailed

    tid = _performed(facade, clock, desk)
    with pytest.raises(ValidationFailed) as failed:
        complete_as_customer(facade, tid, {"signed_by": "", "signoff_confirmed": False})
    assert {e["field"] for e in failed.value.errors} >= {"signed_by", "signoff_confirmed"}
    assert desk.names(tid) == ["customer_signoff"]


def test_unsigned_report_is_reminded_after_three_working_days(facade: Aftercare, clock: FakeClock,
                                                              desk: Desk) -> None:
    tid = _performed(facade, clock, desk)
    desk.travel(days=2)
    assert desk.events(tid, "signoff_reminder") == []
    desk.travel(days=3)  # 2026-12-01 (Tue) + 5 days: past 3 working days
    assert len(desk.events(tid, "signoff_reminder")) == 1
    assert desk.names(tid) == ["customer_signoff"]


def test_late_plan_and_late_checklist_escalate(facade: Aftercare, clock: FakeClock, desk: Desk) -> None:
    _due_now(facade, clock, "HT-2026-003")
    facade.start_due_inspections()
    [ticket] = _inspection_tickets(facade)
    desk.travel(days=8)  # more than 5 working days without a plan
    assert [(e["level"], e["roles"]) for e in desk.events(ticket.id, "escalation")] == [(1, ["admin"])]
    assert desk.names(ticket.id) == ["plan_inspection"]
    visit = (clock.now().astimezone(SHANGHAI) + timedelta(days=1)).date().isoformat()
    desk.complete(ticket.id, "plan_inspection", {**PLAN, "visit_date": visit})
    desk.travel(days=5)
    escalations = desk.events(ticket.id, "escalation")
    assert [(e["level"], e["roles"], e["reason"]) for e in escalations][1:] == [
        (2, ["manager"], "inspection checklist overdue")]
    assert desk.names(ticket.id) == ["perform_inspection"]  # the task stays open


def test_the_checklist_task_shows_the_planned_visit(facade: Aftercare, clock: FakeClock, desk: Desk) -> None:
    from tests.engine.test_change_request import task_instructions

    _due_now(facade, clock, "HT-2026-003")
    facade.start_due_inspections()
    [ticket] = _inspection_tickets(facade)
    desk.complete(ticket.id, "plan_inspection", PLAN)
    page = task_instructions(desk, ticket.id, "perform_inspection")
    assert "华东电网信息中心" in page and "上门日期 <strong>2026-11-25</strong>" in page
    assert "上午 9 点到机房" in page and "HT-2026-003" in page
    english = task_instructions(desk, ticket.id, "perform_inspection", "en")
    assert "visit on <strong>2026-11-25</strong>" in english


def _mails_to(facade: Aftercare, smtp, address: str) -> list:
    from api.mail import Mailer

    mailer = Mailer(facade)
    while mailer.send_pending():
        pass
    return smtp.to(address)


def test_signoff_mail_puts_each_risk_on_its_own_line(facade: Aftercare, clock: FakeClock, desk: Desk, smtp) -> None:
    from tests.support import body

    _performed(facade, clock, desk)
    [mail] = [m for m in _mails_to(facade, smtp, "ops@east-grid.example") if "系统巡检报告" in body(m)]
    lines = body(mail).splitlines()
    assert "巡检结论：系统总体运行正常，磁盘空间需尽快处理。" in lines
    assert "发现风险 2 项：" in lines
    assert "  - [高] 数据盘使用率 92%（将开维护工单跟进）" in lines
    assert "  - [低] 备份保留期只有 7 天" in lines
    link = lines.index("请点击下面的链接查看完整的《系统巡检报告》并签字确认：")
    assert lines[link - 1] == "" and lines[link - 2] == "  - [低] 备份保留期只有 7 天"
    assert not any("Conclusion" in line or "Risks found" in line for line in lines)  # the customer's language only
    assert smtp.subjects("ops@east-grid.example")[-1].endswith("系统巡检报告待您签字")


def test_an_english_customer_gets_the_signoff_mail_in_english_only(facade: Aftercare, clock: FakeClock, desk: Desk,
                                                                   smtp) -> None:
    from engine.models import Contact
    from tests.support import body

    def english(session) -> None:  # the contact's language is the one the customer is written to in
        session.query(Contact).filter_by(email="ops@east-grid.example").one().language = "en"

    facade.run_in_unit(english, write=True)
    tid = _performed(facade, clock, desk)
    [mail] = [m for m in _mails_to(facade, smtp, "ops@east-grid.example") if "inspection report" in body(m)]
    number = desk.ticket(tid)["number"]
    assert smtp.subjects("ops@east-grid.example")[-1] == f"[{number}] Please sign your system inspection report"
    text = body(mail)
    lines = text.splitlines()
    assert "we have inspected your system on 2026-11-25 (engineer: engineer)." in lines
    assert "Conclusion: 系统总体运行正常，磁盘空间需尽快处理。" in lines
    assert "Risks found: 2" in lines
    assert "  - [High] 数据盘使用率 92% (a maintenance request will follow it up)" in lines
    assert "  - [Low] 备份保留期只有 7 天" in lines
    please = lines.index("Please read the full system inspection report and sign it at this link:")
    assert lines[please - 1] == "" and lines[please - 2] == "  - [Low] 备份保留期只有 7 天"
    # no Chinese label: what is left in Chinese is the names and data the inspection recorded
    ticket = desk.ticket(tid)
    assert ticket["title"] == "System inspection 2026-12 · HT-2026-003"  # the ticket's title is the customer's too
    for data in [ticket["title"], ticket.get("contact_name") or "", CHECKLIST["summary"],
                 *(risk["description"] for risk in CHECKLIST["risks"])]:
        text = text.replace(data, "")
    assert not any("\u4e00" <= c <= "\u9fff" for c in text), text


def test_a_risk_ticket_names_its_severity_and_the_inspection(facade: Aftercare, clock: FakeClock, desk: Desk,
                                                             smtp) -> None:
    import json
    from pathlib import Path

    from tests.support import body

    tid = _performed(facade, clock, desk)
    complete_as_customer(facade, tid, {"signed_by": "周主任", "signoff_confirmed": True})
    inspection = desk.ticket(tid)["number"]
    [risk_ticket] = facade.run_in_unit(lambda s: s.query(Ticket).filter_by(origin_ticket_id=tid).all())
    form = json.loads((Path(__file__).resolve().parents[2] / "forms" / "inspection_checklist.json").read_text())
    high = next(o for o in form["properties"]["risks"]["items"]["properties"]["severity"]["oneOf"]
                if o["const"] == "high")
    assert f"严重程度 Severity: {high['title']} {high['x-title-en']}" in risk_ticket.description
    assert "Severity: high" not in risk_ticket.description
    assert inspection in risk_ticket.description and "扩容或清理归档日志" in risk_ticket.description
    assert risk_ticket.severity is None  # the risk's severity is not the ticket's 1-3 (triage sets that)
    mails = _mails_to(facade, smtp, "ops@east-grid.example")
    [ack] = [m for m, subject in zip(mails, smtp.subjects("ops@east-grid.example"), strict=True)
             if risk_ticket.number in subject]
    text = body(ack)
    assert f"系统巡检 {inspection} 中发现了一项需要处理的风险" in text
    assert f"inspection {inspection} found a risk" not in text  # the customer's language only
    assert "我们已收到您的服务请求" not in text
