"""Diagram code that fails where there is no case to park, told to the overseers: a case that could not start
(scheduler, inbound mail, portal, staff) becomes one counted notice per version, element and error, mailed at most
once an hour and cleared by a person; a due expression that fails leaves the case running and is a notice while its
task has no due time (a migration to a fixed version clears it)."""
from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import incident_notices
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Forbidden
from engine.incidents import StartFailed
from engine.models import OutboxMessage
from engine.users import Actor
from tests.fixtures.incidents.diagrams import broken_start, limited, start

pytestmark = pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second

OWNER = Actor("process_owner", "process_owner")
DESK = Actor("service_desk", "service_desk")
BAD_DUE = "1 // 0"
GOOD_DUE = "'2026-11-30T10:00:00+08:00'"


def notices(facade: Aftercare, kind: str) -> list[dict[str, Any]]:
    return [i for i in facade.list_incidents(actor=OWNER) if i["kind"] == kind]


def mail_of(facade: Aftercare, template: str) -> list[OutboxMessage]:
    return list(facade.run_in_unit(lambda s: s.scalars(select(OutboxMessage).where(
        OutboxMessage.template == template).order_by(OutboxMessage.id)).all()))


def broken_inspection(script: str = "x = 1 // 0") -> dict[str, str]:
    """The project's inspection procedure, failing in its first step (a script before any wait)."""
    path = Path(__file__).resolve().parents[2] / "processes" / "inspection.bpmn"
    text = path.read_text(encoding="utf-8")
    first = "<bpmn:script>category = 'inspection'"
    assert text.count(first) == 1, "the first step changed: update this test"
    return {path.name: text.replace(first, f"<bpmn:script>{script}\ncategory = 'inspection'")}


def inbound(sender: str, subject: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "support@vendor.example", subject
    message["Message-ID"] = f"<{subject.encode().hex()[:16]}@demo-customer.example>"
    message.set_content("屏幕一片空白")
    return message.as_bytes(policy=policy.SMTP)


def test_a_start_that_fails_from_every_source_is_a_notice_for_the_overseers(facade: Aftercare) -> None:
    facade.deploy(files=broken_start("x = 1 // 0"), actor=OWNER)
    with pytest.raises(StartFailed):
        facade.submit_from_portal(contact_name="王工", contact_email="wang@demo-customer.example", title="无法开机",
                                  description="x", idempotency_key="k-1")
    with pytest.raises(StartFailed):
        facade.receive_mail(inbound("王工 <wang@demo-customer.example>", "报表导出报错"))
    with pytest.raises(StartFailed):
        facade.create_ticket(customer="Demo Customer", contact_name="王工", contact_email="wang@demo-customer.example",
                             channel="phone", title="电话报修", description="x", actor=DESK)

    [notice] = notices(facade, "start_failed")
    assert (notice["process_id"], notice["element_id"], notice["count"]) == ("maintenance_request", "acknowledge", 3)
    assert "ZeroDivisionError" in notice["error"] and notice["ticket_id"] is None and notice["instance_id"] is None
    assert notice["sources"] == ["mail", "portal", "staff"]
    assert [a["title"] for a in notice["attempts"]] == ["电话报修", "报表导出报错", "无法开机"], "newest first"
    assert notice["version"] == notice["newest_version"]
    rows = mail_of(facade, "start_failed")
    assert sorted(r.recipient for r in rows) == ["manager", "process_owner"], "told once, not per attempt"
    assert all(r.ticket_id is None and r.context["attempt"]["source"] == "portal" for r in rows)
    assert notices(facade, "parked") == [], "there is no case to park"


def test_a_scheduler_retrying_every_minute_mails_once_an_hour(facade: Aftercare, clock: FakeClock) -> None:
    facade.deploy(files=broken_inspection(), actor=OWNER)
    contract = next(c for c in facade.list_contracts() if c["number"] == "HT-2026-003")
    clock.set(datetime.fromisoformat(contract["next_inspection_at"]))
    for _ in range(30):  # the worker's tick, every minute for half an hour: the inspection never starts
        assert facade.start_due_inspections() == 0
        clock.advance(minutes=1)
    [notice] = notices(facade, "start_failed")
    assert (notice["process_id"], notice["element_id"], notice["count"]) == ("inspection", "register_inspection", 3)
    assert notice["sources"] == ["scheduler"] and notice["attempts"][0]["customer"], "tried every ten minutes"
    assert len(mail_of(facade, "start_failed")) == 2, "one e-mail to each overseer, not three"

    clock.advance(minutes=31)
    assert facade.start_due_inspections() == 0
    assert len(mail_of(facade, "start_failed")) == 4, "an hour later they are reminded once"
    assert next(c for c in facade.list_contracts() if c["number"] == "HT-2026-003")["next_inspection_at"] == \
        contract["next_inspection_at"], "still due: it starts within ten minutes of a fix"


def test_an_inspection_that_cannot_start_holds_back_no_other(facade: Aftercare, clock: FakeClock) -> None:
    due = sorted((c for c in facade.list_contracts() if c["next_inspection_at"]),
                 key=lambda c: c["next_inspection_at"])
    assert len(due) >= 2, "the demo data has two contracts with inspections"
    broken, other = due[0], due[1]  # the broken one comes first in the scheduler's order
    facade.deploy(files=broken_inspection(f"x = 1 // 0 if contract_number == {broken['number']!r} else 0"),
                  actor=OWNER)
    clock.set(datetime.fromisoformat(other["next_inspection_at"]))

    assert facade.start_due_inspections() >= 1
    after = {c["number"]: c["next_inspection_at"] for c in facade.list_contracts()}
    assert after[broken["number"]] == broken["next_inspection_at"], "the broken one is still due"
    assert after[other["number"]] != other["next_inspection_at"], "the other one started and moved on"
    [notice] = notices(facade, "start_failed")
    assert notice["count"] == 1 and notice["attempts"][0]["title"].endswith(broken["number"])


def test_a_new_error_or_version_is_a_notice_of_its_own_and_a_person_clears_one(facade: Aftercare) -> None:
    facade.deploy(files=limited("x = 1 // 0", first="script"), actor=OWNER)
    with pytest.raises(StartFailed):
        start(facade)
    facade.deploy(files=limited("x = [][1]", first="script"), actor=OWNER)
    with pytest.raises(StartFailed):
        start(facade)
    first, second = notices(facade, "start_failed")
    assert (first["version"] + 1, "IndexError" in second["error"]) == (second["version"], True)
    assert first["newest_version"] == second["version"]

    def clear(actor: Actor, notice_id: int) -> Any:
        return facade.run_in_unit(lambda s: incident_notices.clear_start_failure(
            s, notice_id=notice_id, actor=actor, now=facade.clock.now()), write=True)
    with pytest.raises(Forbidden):
        clear(Actor("engineer", "engineer"), first["notice_id"])
    clear(OWNER, first["notice_id"])
    assert [n["notice_id"] for n in notices(facade, "start_failed")] == [second["notice_id"]]
    again = clear(Actor("manager", "manager"), first["notice_id"])  # a second overseer, in a page still open
    assert again["cleared"] and again["already_cleared_by"] == "process_owner"

    facade.deploy(files=limited("x = 1", first="script"), actor=OWNER)
    assert start(facade) > 0, "the fixed diagram starts; the remaining notice waits to be cleared"


def test_a_failing_due_expression_is_a_notice_and_the_case_goes_on(facade: Aftercare, clock: FakeClock) -> None:
    facade.deploy(files=limited(first="task", due=BAD_DUE), actor=OWNER)
    ticket_id = start(facade)
    other = start(facade, title="another case of the same version")
    [first, second] = notices(facade, "due_failed")
    assert (first["ticket_id"], first["element_id"], first["expression"]) == (ticket_id, "step", BAD_DUE)
    assert "ZeroDivisionError" in first["error"] and first["task"] == "Step" and second["ticket_id"] == other
    rows = mail_of(facade, "due_failed")
    assert sorted(r.recipient for r in rows) == ["manager", "process_owner"], "same step and expression: told once"
    assert {r.ticket_id for r in rows} == {ticket_id}
    assert notices(facade, "parked") == [], "a missing due time does not stop the case"

    [task] = facade.list_tasks(actor=DESK, ticket_id=other)
    facade.complete_task(task_id=task["id"], data={"answer": 1}, actor=DESK)
    [left] = notices(facade, "due_failed")
    assert left["ticket_id"] == ticket_id, "a completed task needs no due time"


def test_a_migration_to_a_fixed_due_expression_clears_the_notice(facade: Aftercare) -> None:
    created = facade.deploy(files=limited(first="task", due=BAD_DUE), actor=OWNER)
    broken = next(c["version"] for c in created if c["process_id"] == "limited")
    ticket_id = start(facade)
    start(facade, title="again")  # the same failure of the same version and step
    assert len(notices(facade, "due_failed")) == 2
    for _ in range(3):  # each later save of the case costs nothing and adds nothing
        facade.claim_task(task_id=facade.list_tasks(actor=DESK, ticket_id=ticket_id)[0]["id"], actor=DESK)
    assert len(notices(facade, "due_failed")) == 2 and len(mail_of(facade, "due_failed")) == 2

    created = facade.deploy(files=limited(first="task", due=GOOD_DUE), actor=OWNER)
    fixed = next(c["version"] for c in created if c["process_id"] == "limited")
    moved = facade.migrate_cases(process_id="limited", from_version=broken, to_version=fixed, dry_run=False,
                                 actor=OWNER, ticket_ids=[ticket_id])
    assert moved["moved"] == 1
    [task] = facade.list_tasks(actor=DESK, ticket_id=ticket_id)
    assert task["due_at"].startswith("2026-11-30T02:00:00")
    assert [n["ticket_id"] for n in notices(facade, "due_failed")] == [ticket_id + 1], "only the unmoved case"
