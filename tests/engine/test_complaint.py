"""Scenario tests of the complaint procedure (processes/complaint.bpmn), called from the maintenance request."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.engine.test_change_request import task_instructions
from tests.support import Desk, body, complete_as_customer, customer_token

SH = ZoneInfo("Asia/Shanghai")
ANSWER = {"findings": "工程师未按约定时间到场", "answer": "非常抱歉，我们已调整排班并将优先处理您的工单",
          "corrective_action": "排班系统增加到场提醒"}


def at(*args: int) -> datetime:
    """A Shanghai wall-clock time."""
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


def outbox_templates(facade: Aftercare) -> list[tuple[str, str]]:
    from engine.models import OutboxMessage

    return facade.run_in_unit(lambda s: [(m.template, m.to_addr) for m in s.query(OutboxMessage).order_by(
        OutboxMessage.id)])




@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def _complaint(desk: Desk) -> int:
    tid = desk.create(title="工程师未按时到场", description="约定 9 点到场，11 点仍未到")
    desk.triage(tid, category="complaint")
    return tid


def test_complaint_goes_to_the_manager_who_is_told_by_mail(desk: Desk, facade: Aftercare) -> None:
    tid = _complaint(desk)  # Monday 2026-11-23 10:00
    assert desk.names(tid) == ["complaint_investigation"]
    task = desk.task(tid, "complaint_investigation")
    assert task["role"] == "manager"
    assert datetime.fromisoformat(task["due_at"]) == at(2026, 11, 24, 10, 0)  # one working day
    assert desk.ticket(tid)["status"] == "in_progress"
    assert ("complaint_registered", "manager@aftercare.example") in outbox_templates(facade)
    assert desk.events(tid, "complaint_registered")


def test_complaint_filed_as_such_skips_triage(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create(title="客服态度差", category="complaint")
    assert desk.names(tid) == ["complaint_investigation"]  # no triage task, no triage timer
    ticket = desk.ticket(tid)
    assert ticket["category"] == "complaint" and not desk.events(tid, "escalation")
    desk.travel(minutes=20)  # past the 15 minutes triage would have had
    assert not desk.events(tid, "escalation") and "triage" not in desk.ticket(tid)["sla"]["breaches"]
    from engine.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as info:  # other categories are the service desk's call
        desk.create(category="fault")
    assert [e["field"] for e in info.value.errors] == ["category"]


def test_answer_in_time_then_satisfied_archives_without_callback(desk: Desk, facade: Aftercare) -> None:
    tid = _complaint(desk)
    desk.complete(tid, "complaint_investigation", ANSWER)
    assert desk.names(tid) == ["complaint_confirmation"]
    confirmation = desk.task(tid, "complaint_confirmation")
    assert confirmation["role"] == "customer"
    assert datetime.fromisoformat(confirmation["due_at"]) == at(2026, 12, 2, 10, 0)  # auto-confirm time
    assert desk.ticket(tid)["status"] == "awaiting_acceptance"
    assert ("complaint_answer", "wang@demo-customer.example") in outbox_templates(facade)
    assert desk.events(tid, "complaint_answered")
    complete_as_customer(facade, tid, {"satisfied": True})
    ticket = desk.ticket(tid)
    assert ticket["status"] == "archived" and ticket["closed_at"] and ticket["archived"]
    assert desk.names(tid) == []
    assert not [e for e in desk.events(tid, "task_opened") if e.get("task") in ("callback", "customer_acceptance")]
    assert ticket["sla"]["responded_at"] and ticket["sla"]["resolved_at"] and ticket["sla"]["breaches"] == []
    assert ticket["accepted_at"]
    templates = [t for t, _ in outbox_templates(facade)]
    assert "ticket_closed" in templates and "acceptance_request" not in templates


def test_not_satisfied_reopens_the_investigation(desk: Desk, facade: Aftercare) -> None:
    from engine.errors import ValidationFailed

    tid = _complaint(desk)
    desk.complete(tid, "complaint_investigation", ANSWER)
    with pytest.raises(ValidationFailed) as info:
        complete_as_customer(facade, tid, {"satisfied": False})
    assert info.value.errors[0]["field"] == "comment"
    complete_as_customer(facade, tid, {"satisfied": False, "comment": "希望给出赔偿方案"})
    assert desk.names(tid) == ["complaint_investigation"]
    assert desk.events(tid, "reopened")[0]["reason"] == "希望给出赔偿方案"
    assert desk.ticket(tid)["status"] == "in_progress"
    page = task_instructions(desk, tid, "complaint_investigation")
    assert "客户第 1 次重新打开投诉" in page and "希望给出赔偿方案" in page
    assert "我们上次的答复：" + ANSWER["answer"] in page
    assert "希望给出赔偿方案" in task_instructions(desk, tid, "complaint_investigation", "en")
    desk.complete(tid, "complaint_investigation", {**ANSWER, "answer": "我们将减免本月服务费"})
    assert desk.names(tid) == ["complaint_confirmation"]
    assert [t for t, _ in outbox_templates(facade)].count("complaint_answer") == 2
    complete_as_customer(facade, tid, {"satisfied": True, "comment": "接受"})
    assert desk.ticket(tid)["status"] == "archived"
    assert desk.names(tid) == []


def test_late_answer_is_a_resolve_breach_escalated_to_admin(desk: Desk, facade: Aftercare) -> None:
    tid = _complaint(desk)  # Monday 10:00: answer due Tuesday 10:00
    desk.travel_to(at(2026, 11, 24, 9, 59))
    assert desk.ticket(tid)["sla"]["breaches"] == []
    desk.travel_to(at(2026, 11, 24, 10, 0, 1))
    ticket = desk.ticket(tid)
    assert [b["kind"] for b in ticket["sla"]["breaches"]] == ["resolve"]
    assert ticket["escalation_level"] == 2
    escalations = desk.events(tid, "escalation")
    assert [(e["level"], e["roles"]) for e in escalations] == [(2, ["admin"])]
    assert ("escalation", "admin@aftercare.example") in outbox_templates(facade)
    assert desk.names(tid) == ["complaint_investigation"]  # non-interrupting: the manager can still answer
    desk.complete(tid, "complaint_investigation", ANSWER)
    assert desk.names(tid) == ["complaint_confirmation"]


def test_unanswered_confirmation_is_auto_confirmed_after_7_working_days(desk: Desk, facade: Aftercare) -> None:
    tid = _complaint(desk)
    desk.complete(tid, "complaint_investigation", ANSWER)  # Monday 2026-11-23 10:00
    desk.travel_to(at(2026, 12, 2, 9, 59))
    assert desk.names(tid) == ["complaint_confirmation"]
    desk.travel_to(at(2026, 12, 2, 10, 0, 1))
    ticket = desk.ticket(tid)
    assert desk.events(tid, "auto_accepted")
    assert ticket["status"] == "archived" and ticket["auto_accepted"] is True and ticket["accepted_at"]
    assert desk.names(tid) == []


def test_the_first_investigation_shows_no_reopen_reason(desk: Desk) -> None:
    tid = _complaint(desk)
    page = task_instructions(desk, tid, "complaint_investigation")
    assert "约定 9 点到场，11 点仍未到" in page and "重新打开投诉" not in page


def test_the_customer_sees_the_answer_not_the_internal_findings(desk: Desk, facade: Aftercare) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    tid = _complaint(desk)
    desk.complete(tid, "complaint_investigation", ANSWER)

    with TestClient(create_app(facade, run_worker=False)) as client:
        page = client.get(f"/c/{customer_token(facade, tid)}")
    assert page.status_code == 200
    assert ANSWER["answer"] in page.text
    assert ANSWER["findings"] not in page.text and "调查结果" not in page.text
    assert ANSWER["corrective_action"] not in page.text


def _sent(facade: Aftercare) -> None:
    from api.mail import Mailer

    mailer = Mailer(facade)
    while mailer.send_pending():
        pass


def test_a_complaint_filed_as_such_is_acknowledged_as_a_complaint(desk: Desk, facade: Aftercare, smtp) -> None:
    desk.create(title="客服态度差", category="complaint")
    desk.create(title="系统无法登录")
    _sent(facade)
    complaint, request = smtp.to("wang@demo-customer.example")
    text = body(complaint)
    assert "我们已收到您的投诉" in smtp.subjects("wang@demo-customer.example")[0]
    assert "服务经理将在 1 个工作日内调查并答复您" in text and "within one working day" not in text
    assert "15 分钟" not in text and "15 minutes" not in text
    assert "15 分钟内完成分类定级" in body(request)


def test_staff_mails_name_roles_not_role_ids(desk: Desk, facade: Aftercare, smtp) -> None:
    facade.add_user(username="alice", role="manager", password="pw", email="alice@aftercare.example", language="en")
    desk.create(title="客服态度差", category="complaint")
    _sent(facade)
    [arrived] = [m for m, s in zip(smtp.to("manager@aftercare.example"), smtp.subjects("manager@aftercare.example"),
                                   strict=True) if "新任务" in s]
    text = body(arrived)
    assert "等待服务经理处理" in text and "服务经理 manager，您好" in text and "等待manager" not in text
    [english] = [m for m, s in zip(smtp.to("alice@aftercare.example"), smtp.subjects("alice@aftercare.example"),
                                   strict=True) if "New task" in s]
    assert "in the service manager queue" in body(english) and "Hello alice (service manager)" in body(english)
    assert not smtp.to("service_desk@aftercare.example")  # a complaint filed as such skips the service desk


def test_an_escalation_names_the_role_it_goes_to(desk: Desk, facade: Aftercare, smtp) -> None:
    tid = _complaint(desk)
    desk.travel_to(at(2026, 11, 24, 10, 0, 1))  # the answer is late: escalated to the administrators
    assert desk.events(tid, "escalation")
    _sent(facade)
    [mail] = [m for m, s in zip(smtp.to("admin@aftercare.example"), smtp.subjects("admin@aftercare.example"),
                                strict=True) if "升级" in s]
    text = body(mail)
    assert "本升级通知发给管理员" in text and "admin，您好" in text
    assert "goes to the administrator" not in text and "投诉一个工作日内未答复" in text  # the admin's language only
