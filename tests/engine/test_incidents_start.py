"""A case whose diagram fails as it starts (a script before the first wait) answers StartFailed naming the element,
and leaves nothing behind: no ticket without a case, no idempotency key taken, no mail. A due expression that loops
costs its budget once per task, not on every save of its case."""
from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.effects import Effects
from engine.incidents import StartFailed
from engine.models import HumanTask, Instance, OutboxMessage, Ticket
from engine.users import Actor
from tests.fixtures.incidents.diagrams import broken_start, limited, start

pytestmark = pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second

OWNER = Actor("process_owner", "process_owner")
LOOP = "while True:\n    pass"
DUE_LOOP = "[_ for _ in range(999) for _ in range(999) for _ in range(999)] and '2026-11-30T10:00:00+08:00'"


def counts(facade: Aftercare) -> tuple[int, ...]:
    """Tickets, cases, open tasks and customer mail: what a failed start must not add to (the process owners and
    managers are told, engine/incident_notices.py)."""
    return facade.run_in_unit(lambda s: (*(int(s.scalar(select(func.count()).select_from(m)) or 0)
                                           for m in (Ticket, Instance, HumanTask)),
                                         int(s.scalar(select(func.count(OutboxMessage.id)).where(
                                             OutboxMessage.recipient.is_(None))) or 0)))


def test_a_procedure_whose_start_script_fails_creates_nothing(facade: Aftercare) -> None:
    facade.deploy(files=limited(LOOP, first="script"), actor=OWNER)
    before = counts(facade)
    with pytest.raises(StartFailed) as failed:
        start(facade)
    assert failed.value.status == 409
    [error] = failed.value.errors
    assert error["element_id"] == "calc" and "CPU time over 0.2 s" in error["message"]
    assert counts(facade) == before, "no ticket without a case, no task, no mail"
    assert [i["kind"] for i in facade.list_incidents(actor=OWNER)] == ["start_failed"], "no case to park: a notice"


@pytest.mark.parametrize("script", ["x = 1 // 0", "n = 10\nx = n**n**n"], ids=["error", "too-large"])
def test_a_maintenance_request_that_cannot_start_leaves_no_ticket(facade: Aftercare, script: str) -> None:
    facade.deploy(files=broken_start(script), actor=OWNER)
    before = counts(facade)
    fields: dict[str, Any] = {"customer": "Demo Customer", "contact_name": "王工", "channel": "phone",
                              "contact_email": "wang@demo-customer.example", "title": "无法开机", "description": "x"}
    with pytest.raises(StartFailed) as staff:
        facade.create_ticket(**fields, actor=Actor("service_desk", "service_desk"), idempotency_key="k-1")
    with pytest.raises(StartFailed):
        facade.submit_from_portal(contact_name="王工", contact_email="wang@demo-customer.example", title="无法开机",
                                  description="x", idempotency_key="k-2")
    assert staff.value.errors[0]["element_id"] == "acknowledge"
    assert counts(facade) == before

    facade.deploy(files=broken_start("x = 1"), actor=OWNER)
    again = facade.create_ticket(**fields, actor=Actor("service_desk", "service_desk"), idempotency_key="k-1")
    assert not again.get("replayed"), "the failed request took no idempotency key: the retry opens the ticket"


def due_warnings(caplog: pytest.LogCaptureFixture) -> int:
    return sum("due expression" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_a_looping_due_expression_costs_its_budget_once_per_task(
        facade: Aftercare, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="aftercare.engine")
    facade.deploy(files=limited(first="task", due=DUE_LOOP), actor=OWNER)
    ticket_id = start(facade)
    [task] = facade.list_tasks(actor=Actor("admin", "admin"), ticket_id=ticket_id)
    assert task["due_at"] is None and due_warnings(caplog) == 1

    def instance_of(session: Any) -> Instance:
        return session.scalar(select(Instance).join(Ticket, Ticket.instance_id == Instance.id)
                              .where(Ticket.id == ticket_id))

    def save_again(session: Any) -> None:  # what every later step of the case does: load, save
        instance = instance_of(session)
        effects = Effects()
        wf = facade.kernel.load_case(session, instance, effects)
        ticket = session.get(Ticket, ticket_id)
        facade.kernel.save(session, facade.kernel.ctx(Actor("system", "system")), instance, ticket, wf, effects, [])
    for _ in range(3):
        facade.run_in_unit(save_again, write=True)
    assert due_warnings(caplog) == 1, "not evaluated again on later saves"

    restarted = Aftercare(facade.settings.model_copy(update={"script_cpu_seconds": 0.2}), clock)
    try:
        def reload(session: Any) -> Any:
            wf = restarted.kernel.load_case(session, instance_of(session), Effects(), for_update=False)
            return restarted.runtime.ready_tasks(wf)
        [ready] = restarted.run_in_unit(reload)
        assert ready.due_at is None and due_warnings(caplog) == 1, "the saved case remembers it after a restart"
    finally:
        restarted.close()
    [task] = facade.list_tasks(actor=Actor("admin", "admin"), ticket_id=ticket_id)
    assert task["due_at"] is None


def test_a_due_expression_that_works_still_gives_the_due_time(facade: Aftercare) -> None:
    facade.deploy(files=limited(first="task", due="'2026-11-30T10:00:00+08:00'"), actor=OWNER)
    ticket_id = start(facade)
    [task] = facade.list_tasks(actor=Actor("admin", "admin"), ticket_id=ticket_id)
    assert task["due_at"].startswith("2026-11-30T02:00:00")
