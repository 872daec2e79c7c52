"""Incident notices kept within bounds: a start error that quotes the request (a customer's text) does not open a
notice and an e-mail per request, a linked ticket that cannot start inside a case's step is one incident (the parked
case), not two, and the due-failure notices of many cases neither break nor flood the incidents list."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import insert, select

from engine import incident_notices
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.incidents import CaseParked, StartFailed
from engine.models import Instance, OutboxMessage, TimelineEvent
from engine.users import Actor
from tests.engine.test_inspection import _performed
from tests.fixtures.incidents.diagrams import broken_start, limited, start
from tests.support import Desk, complete_as_customer

pytestmark = pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second

OWNER = Actor("process_owner", "process_owner")
DESK = Actor("service_desk", "service_desk")


def notices(facade: Aftercare, kind: str) -> list[dict[str, Any]]:
    return [i for i in facade.list_incidents(actor=OWNER) if i["kind"] == kind]


def mail_of(facade: Aftercare, template: str) -> list[OutboxMessage]:
    return list(facade.run_in_unit(lambda s: s.scalars(select(OutboxMessage).where(
        OutboxMessage.template == template).order_by(OutboxMessage.id)).all()))


def create(facade: Aftercare, title: str) -> None:
    facade.create_ticket(customer="Demo Customer", contact_name="王工", contact_email="wang@demo-customer.example",
                         channel="phone", title=title, description="x", actor=DESK)


def test_errors_quoting_each_request_are_one_notice_and_one_mail(facade: Aftercare) -> None:
    facade.deploy(files=broken_start("x = int(title)"), actor=OWNER)  # the error quotes the title
    titles = [f"收银机无法开机 {n}" for n in range(7)]
    for title in titles:
        with pytest.raises(StartFailed):
            create(facade, title)
    [notice] = notices(facade, "start_failed")
    assert notice["count"] == 7 and titles[-1] in notice["error"], "the latest error is shown"
    assert len(notice["errors"]) == 5, "the last five distinct errors are kept"
    assert titles[-1] in notice["errors"][0] and titles[2] in notice["errors"][-1]
    assert len(mail_of(facade, "start_failed")) == 2, "one e-mail to each overseer, not one per request"


def test_a_start_failing_after_its_notice_is_cleared_is_a_new_notice(facade: Aftercare) -> None:
    facade.deploy(files=broken_start("x = 1 // 0"), actor=OWNER)
    with pytest.raises(StartFailed):
        create(facade, "first")
    [first] = notices(facade, "start_failed")
    facade.run_in_unit(lambda s: incident_notices.clear_start_failure(
        s, notice_id=first["notice_id"], actor=OWNER, now=facade.clock.now()), write=True)
    with pytest.raises(StartFailed):
        create(facade, "second")
    [second] = notices(facade, "start_failed")
    assert second["notice_id"] != first["notice_id"] and second["count"] == 1
    assert len(mail_of(facade, "start_failed")) == 4, "the new notice is mailed again"


def test_a_linked_ticket_that_cannot_start_parks_its_case_and_is_told_once(facade: Aftercare,
                                                                          clock: FakeClock) -> None:
    ticket_id = _performed(facade, clock, Desk(facade, clock))  # its checklist has a risk that opens a ticket
    facade.deploy(files=broken_start("x = 1 // 0"), actor=OWNER)
    with pytest.raises(CaseParked):
        complete_as_customer(facade, ticket_id, {"signed_by": "周主任", "signoff_confirmed": True,
                                                 "signoff_comment": "同意"})
    assert [i["ticket_id"] for i in notices(facade, "parked")] == [ticket_id]
    assert notices(facade, "start_failed") == [], "the parked case is the incident"
    assert mail_of(facade, "start_failed") == [] and len(mail_of(facade, "incident")) == 2


def test_many_due_failures_neither_break_nor_flood_the_list(facade: Aftercare,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    facade.deploy(files=limited(first="task", due="1 // 0"), actor=OWNER)
    tickets = [start(facade, title=f"case {n}") for n in range(3)]
    instance_id = facade.run_in_unit(lambda s: s.scalar(select(Instance.id).where(Instance.status == "running")))
    old = [{"ticket_id": None, "instance_id": instance_id, "at": facade.clock.now(), "kind": "due_failed",
            "actor": "system", "data": {"task_id": str(uuid.uuid4()), "expression": "1 // 0"}}
           for _ in range(40_000)]  # of tasks long done: more than SQLite takes as variables of one query
    facade.run_in_unit(lambda s: s.execute(insert(TimelineEvent), old), write=True)
    assert [n["ticket_id"] for n in notices(facade, "due_failed")] == tickets

    monkeypatch.setattr(incident_notices, "DUE_SHOWN", 2)
    assert [n["ticket_id"] for n in notices(facade, "due_failed")] == tickets[1:], "the newest are shown"
