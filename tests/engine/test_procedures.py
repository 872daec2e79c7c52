"""Procedures staff start by hand (engine/services/procedures.py) and the example that declares it,
processes/major_event_standby.bpmn: planned by the service manager, the customer told, the engineer on duty until the
event ends, the summary written (late: the managers told), archived."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine import repository
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Forbidden, NotFound, ValidationFailed
from engine.startable import start_options
from tests.engine.test_complaint import outbox_templates
from tests.support import Desk, body

SH = ZoneInfo("Asia/Shanghai")
STANDBY = "major_event_standby"
CONTACT = {"customer": "Demo Customer", "contact_name": "王工", "contact_email": "wang@demo-customer.example"}
# The clock stands at Monday 2026-11-23 10:00; the go-live runs Wednesday 09:00-18:00 (Beijing time, as typed).
PLAN = {"event_name": "财务系统上线", "event_start": "2026-11-25T09:00", "event_end": "2026-11-25T18:00",
        "duty_engineer": "engineer", "site_contact": "李经理 13800000000", "risk_notes": "数据迁移可能超时"}
SUMMARY = {"what_happened": "上线顺利完成", "follow_ups": "下周复查报表性能",
           "incidents": [{"description": "报表导出慢", "severity": "low", "handling": "已调整索引"}]}


def at(*args: int) -> datetime:
    """A Shanghai wall-clock time."""
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def start(desk: Desk, role: str = "service_desk", process_id: str = STANDBY, **fields: Any) -> dict[str, Any]:
    """Start a procedure as `role` (from intake unless `origin_ticket_id` is given)."""
    values = {**CONTACT, "title": "财务系统上线保障", "description": "周三上线，请安排值守", **fields}
    return dict(desk.facade.start_procedure(process_id=process_id, actor=desk.actor(role), **values))


def startable(desk: Desk, role: str, where: str) -> list[str]:
    return [p["process_id"] for p in desk.facade.startable(actor=desk.actor(role), where=where)]


def test_the_example_deploys_with_its_declaration(facade: Aftercare) -> None:
    [version] = [p for p in facade.list_processes() if p["process_id"] == STANDBY]
    assert version["name"] == "重要事件保障 Major-event standby"

    def text(session: Any) -> str:
        file = repository.deployment_file(session, version["deployment_id"], version["source_file"])
        return str(file.content)

    options = start_options(facade.run_in_unit(text), STANDBY)
    assert options.start_from == {"intake", "ticket"} and options.roles == {"service_desk", "manager"}


def test_startable_lists_it_where_declared_for_the_roles_named(desk: Desk) -> None:
    intake = desk.facade.startable(actor=desk.actor("service_desk"), where="intake")
    assert intake == [{"process_id": "maintenance_request", "name": "维护请求 Maintenance request", "version": 1},
                      {"process_id": STANDBY, "name": "重要事件保障 Major-event standby", "version": 1}]
    assert startable(desk, "manager", "ticket") == [STANDBY]
    assert startable(desk, "admin", "ticket") == [STANDBY]  # an admin always may
    assert startable(desk, "engineer", "intake") == ["maintenance_request"]  # not a role the diagram names
    assert startable(desk, "engineer", "ticket") == []
    with pytest.raises(ValidationFailed) as refused:
        desk.facade.startable(actor=desk.actor("manager"), where="portal")
    assert refused.value.errors[0]["field"] == "where"


def test_a_standby_from_intake_runs_from_plan_to_archive(desk: Desk, facade: Aftercare) -> None:
    created = start(desk)
    tid = created["id"]
    assert created["number"].startswith("AC-2026-") and created["status"] == "planning"
    assert desk.names(tid) == ["plan_standby"]
    plan_task = desk.task(tid, "plan_standby")
    assert plan_task["role"] == "manager" and datetime.fromisoformat(plan_task["due_at"]) == at(2026, 11, 24, 10)
    assert [t["name"] for t in facade.list_tasks(actor=desk.actor("manager"), role="manager")] == ["plan_standby"]
    [started] = desk.events(tid, "procedure_started")
    assert (started["actor"], started["process_id"], started["version"]) == ("service_desk", STANDBY, 1)
    assert desk.ticket(tid)["process"] == {"process_id": STANDBY, "version": 1}

    desk.complete(tid, "plan_standby", PLAN)
    assert ("standby_confirmation", "wang@demo-customer.example") in outbox_templates(facade)
    duty = desk.task(tid, "on_duty")
    assert (duty["role"], duty["assignee"]) == ("engineer", "engineer")
    assert datetime.fromisoformat(duty["due_at"]) == at(2026, 11, 25, 18)
    assert desk.ticket(tid)["status"] == "on_duty" and desk.ticket(tid)["category"] == "standby"
    [planned] = desk.events(tid, "standby_planned")
    assert planned["event_start"] == "2026-11-25T09:00:00+08:00" and planned["duty_engineer"] == "engineer"

    desk.travel_to(at(2026, 11, 25, 17, 59))
    assert desk.names(tid) == ["on_duty"]  # still on duty a minute before the end
    desk.travel_to(at(2026, 11, 25, 18, 0, 1))
    assert desk.names(tid) == ["standby_summary"]  # the event is over: the duty closed by itself
    assert [e["timer"] for e in desk.events(tid, "timer_fired")] == ["事件结束 Event ends"]
    assert desk.events(tid, "standby_event_ended")
    summary = desk.task(tid, "standby_summary")
    assert summary["assignee"] == "engineer" and desk.ticket(tid)["status"] == "summarizing"
    assert datetime.fromisoformat(summary["due_at"]) == at(2026, 11, 26, 18)  # one working day after the end

    desk.complete(tid, "standby_summary", SUMMARY)
    ticket = desk.ticket(tid)
    assert ticket["status"] == "archived" and ticket["archived"] and desk.names(tid) == []
    assert [e["kind"] for e in ticket["timeline"]][-2:] == ["standby_summarized", "archived"]
    assert ticket["sla"]["resolved_at"] is not None


def test_a_late_summary_is_reported_to_the_managers(desk: Desk, facade: Aftercare) -> None:
    tid = start(desk)["id"]
    desk.complete(tid, "plan_standby", PLAN)
    desk.travel_to(at(2026, 11, 25, 18, 0, 1))
    desk.travel_to(at(2026, 11, 26, 17, 59))
    assert not desk.events(tid, "standby_summary_late")
    desk.travel_to(at(2026, 11, 26, 18, 0, 1))
    assert desk.events(tid, "standby_summary_late")
    assert ("standby_summary_late", "manager@aftercare.example") in outbox_templates(facade)
    assert desk.names(tid) == ["standby_summary"]  # still the engineer's to write
    desk.complete(tid, "standby_summary", {"what_happened": "活动结束，无异常"})
    assert desk.ticket(tid)["status"] == "archived"


def test_a_standby_from_a_ticket_is_linked_both_ways(desk: Desk, facade: Aftercare) -> None:
    origin = desk.create(title="上线前咨询", contact_name="赵工", contact_email="zhao@demo-customer.example")
    created = start(desk, "manager", customer="", contact_name="", contact_email="", origin_ticket_id=origin)
    ticket = desk.ticket(created["id"])
    assert ticket["origin"]["id"] == origin and ticket["customer"] == "Demo Customer"
    assert (ticket["contact_name"], ticket["contact_email"]) == ("赵工", "zhao@demo-customer.example")
    assert desk.names(created["id"]) == ["plan_standby"]
    [started] = desk.events(created["id"], "procedure_started")
    assert started["actor"] == "manager" and started["procedure"] == "重要事件保障 Major-event standby"
    [linked] = desk.events(origin, "linked_procedure_started")
    assert (linked["actor"], linked["number"], linked["ticket_id"]) == ("manager", created["number"], created["id"])
    assert linked["process_id"] == STANDBY
    assert [t["number"] for t in desk.ticket(origin)["linked"]] == [created["number"]]
    assert desk.names(origin) == ["triage"]  # the origin's own case goes on untouched


def test_the_engineer_may_end_the_duty_early(desk: Desk, facade: Aftercare) -> None:
    tid = start(desk)["id"]
    desk.complete(tid, "plan_standby", {**PLAN, "backup_engineer": "manager"})  # a manager may stand in too
    desk.travel_to(at(2026, 11, 25, 15, 0))
    desk.complete(tid, "on_duty", {"duty_log": "上线提前完成"})
    assert desk.names(tid) == ["standby_summary"] and not desk.events(tid, "standby_event_ended")
    desk.travel_to(at(2026, 11, 25, 18, 0, 1))  # the event-end timer went with the duty
    assert not desk.events(tid, "timer_fired")


def test_a_role_the_diagram_does_not_name_is_forbidden(desk: Desk) -> None:
    with pytest.raises(Forbidden):
        start(desk, "engineer")
    origin = desk.create()
    with pytest.raises(Forbidden):
        start(desk, "product", origin_ticket_id=origin)
    assert start(desk, "admin")["status"] == "planning"


def test_a_procedure_not_declared_startable_is_refused(desk: Desk) -> None:
    origin = desk.create()
    for process_id, origin_ticket_id in (("complaint", None), ("complaint", origin), ("inspection", None),
                                         ("maintenance_request", origin)):
        with pytest.raises(ValidationFailed) as refused:
            start(desk, "manager", process_id=process_id, origin_ticket_id=origin_ticket_id)
        assert refused.value.errors[0]["field"] == "process_id"
    with pytest.raises(NotFound):
        start(desk, process_id="no_such_procedure")


def test_the_maintenance_request_starts_from_intake_as_always(desk: Desk) -> None:
    tid = start(desk, "engineer", process_id="maintenance_request", title="系统无法登录")["id"]
    assert desk.names(tid) == ["triage"] and desk.ticket(tid)["status"] == "triage"


def test_wrong_input_is_refused_field_by_field(desk: Desk) -> None:
    with pytest.raises(ValidationFailed) as refused:
        start(desk, customer="Nobody Ltd", contact_email="not an address", title=" ", channel="fax")
    assert {e["field"] for e in refused.value.errors} == {"customer", "contact_email", "title", "channel"}
    assert all(any("\u4e00" <= c <= "\u9fff" for c in e["message"]) for e in refused.value.errors)
    origin = desk.create()
    with pytest.raises(ValidationFailed) as other:
        start(desk, customer="青山医院", origin_ticket_id=origin)
    assert other.value.errors[0]["field"] == "customer"
    with pytest.raises(NotFound):
        start(desk, origin_ticket_id=987654)


def test_the_customer_and_the_managers_get_readable_mails(desk: Desk, facade: Aftercare, smtp: Any) -> None:
    from api.mail import Mailer

    facade.add_user(username="liu", role="engineer", password="pw", email="liu@aftercare.example")
    tid = start(desk)["id"]
    desk.complete(tid, "plan_standby", {**PLAN, "backup_engineer": "liu"})
    desk.travel_to(at(2026, 11, 26, 18, 0, 1))  # past the end and the summary's deadline
    mailer = Mailer(facade)
    while mailer.send_pending():
        pass
    [confirmation] = [m for m in smtp.to("wang@demo-customer.example") if "保障值守" in body(m)]
    number = desk.ticket(tid)["number"]
    assert smtp.subjects("wang@demo-customer.example") == [f"[{number}] 重要事件保障安排：财务系统上线"]
    text = body(confirmation)
    assert "财务系统上线" in text and "2026-11-25 09:00（北京时间）" in text
    assert "Standby arranged" not in text and "Engineer on duty" not in text  # the customer's language only
    assert "2026-11-25 18:00" in text and "值守工程师：engineer（备岗：liu）" in text and "李经理" in text
    [late] = [m for m in smtp.to("manager@aftercare.example") if "尚未提交保障总结" in body(m)]
    assert "2026-11-26 18:00" in body(late) and f"/tickets/{tid}" in body(late)


def test_an_english_customer_reads_the_arrangements_in_english_only(desk: Desk, facade: Aftercare, smtp: Any) -> None:
    from api.mail import Mailer
    from engine.models import Contact

    def english(session: Any) -> None:  # the contact's language is the one the customer is written to in
        session.query(Contact).filter_by(email="wang@demo-customer.example").one().language = "en"

    facade.run_in_unit(english, write=True)
    tid = start(desk)["id"]
    desk.complete(tid, "plan_standby", PLAN)
    mailer = Mailer(facade)
    while mailer.send_pending():
        pass
    number = desk.ticket(tid)["number"]
    assert smtp.subjects("wang@demo-customer.example") == [f"[{number}] Standby arranged for 财务系统上线"]
    [confirmation] = smtp.to("wang@demo-customer.example")
    text = body(confirmation)
    assert "Hello 王工," in text and "Starts: 2026-11-25 09:00 (Beijing time, UTC+8)" in text
    assert "Engineer on duty: engineer" in text and "Your contact on site: 李经理 13800000000" in text
    # no Chinese apart from the names and data the customer gave us
    for data in ("财务系统上线保障", "王工", "财务系统上线", "李经理"):
        text = text.replace(data, "")
    assert not any("\u4e00" <= c <= "\u9fff" for c in text), text


def test_the_plan_refuses_an_end_before_the_start_and_a_time_that_is_no_time(desk: Desk) -> None:
    tid = start(desk)["id"]
    with pytest.raises(ValidationFailed) as refused:
        desk.complete(tid, "plan_standby", {**PLAN, "event_start": "明天上午", "event_end": "2026-11-24T18:00"})
    assert [e["field"] for e in refused.value.errors] == ["event_start"]
    with pytest.raises(ValidationFailed) as refused:
        desk.complete(tid, "plan_standby", {**PLAN, "event_end": "2026-11-25T08:00"})
    assert [e["field"] for e in refused.value.errors] == ["event_end"]
    desk.complete(tid, "plan_standby", {**PLAN, "event_end": "2026-11-25T10:00:00Z"})  # an offset is kept
    assert datetime.fromisoformat(desk.task(tid, "on_duty")["due_at"]) == at(2026, 11, 25, 18)
