"""Diagram code under limits: a case whose script loops, explodes or whose timer expression loops is parked as an
incident, alone; the scheduler and every other case carry on, also after a restart; a person's retry (after a fix
and a migration, or once a passing cause is gone) runs it on."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Forbidden, InvalidProcess
from engine.incidents import CaseIsParked, CaseParked
from engine.models import Instance, OutboxMessage, Ticket
from engine.settings import Settings
from engine.users import Actor
from tests.fixtures.incidents.diagrams import limited, start
from tests.support import Desk

OWNER = Actor("process_owner", "process_owner")
LOOP = "while True:\n    pass"
POWER = "n = 10\nx = n**n**n"
TIMER_LOOP = '[_ for _ in range(999) for _ in range(999) for _ in range(999)] and "PT1H"'


def deploy(facade: Aftercare, **kwargs: Any) -> int:
    """Deploy the `limited` procedure; its new version."""
    created = facade.deploy(files=limited(**kwargs), actor=OWNER)
    return int(next(c["version"] for c in created if c["process_id"] == "limited"))


def instance_of(facade: Aftercare, ticket_id: int) -> Instance:
    """The stored case row of a ticket."""
    return facade.run_in_unit(lambda s: s.scalar(select(Instance).join(Ticket, Ticket.instance_id == Instance.id)
                                                 .where(Ticket.id == ticket_id)))


@pytest.mark.parametrize(("kwargs", "element", "words"), [
    ({"script": LOOP}, "calc", "CPU time over 0.2 s"),
    ({"script": POWER}, "calc", "bits"),
    ({"timer": TIMER_LOOP}, "wait2", "CPU time over 0.2 s"),
], ids=["while-true", "power-tower", "timer-expression-loops"])
@pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second
def test_bad_diagram_code_parks_only_its_case(facade: Aftercare, clock: FakeClock, script_budget: float,
                                               kwargs: dict[str, str], element: str, words: str) -> None:
    deploy(facade, **kwargs)
    desk = Desk(facade, clock)
    bad = start(facade)
    good = desk.create(title="normal ticket")

    clock.advance(hours=2)  # the bad case's hour is up; the good ticket's 15-minute triage timer too
    assert facade.fire_due_timers() == 1  # the good case fired; the bad one was parked, not counted
    [incident] = facade.list_incidents(actor=OWNER)
    assert (incident["ticket_id"], incident["element_id"]) == (bad, element)
    assert words in incident["error"] and incident["procedure"] == "Limited procedure"
    assert [e["element"] for e in desk.events(bad, "incident")] == [element]
    assert desk.events(good, "sla_breach"), "the normal ticket's timers ran on the same scheduler"

    desk.triage(good)  # the normal ticket goes on through triage
    assert "triage" not in desk.names(good)
    parked = instance_of(facade, bad)
    clock.advance(hours=1)
    facade.fire_due_timers()
    assert instance_of(facade, bad).lock_version == parked.lock_version, "the scheduler left the parked case alone"
    assert len(facade.list_incidents(actor=OWNER)) == 1 and len(desk.events(bad, "incident")) == 1


@pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second
def test_incident_mail_goes_to_process_owners_and_managers(facade: Aftercare, clock: FakeClock,
                                                           script_budget: float) -> None:
    deploy(facade, script=POWER)
    bad = start(facade)
    clock.advance(hours=2)
    facade.fire_due_timers()
    rows = facade.run_in_unit(lambda s: s.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "incident", OutboxMessage.ticket_id == bad)).all())
    assert sorted(r.recipient for r in rows) == ["manager", "process_owner"]
    assert all(r.context["element"] == "calc" and "bits" in r.context["error"] for r in rows)


@pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second
def test_parked_case_stays_parked_after_a_restart(facade: Aftercare, settings: Settings, clock: FakeClock,
                                                  script_budget: float) -> None:
    deploy(facade, script=LOOP)
    bad = start(facade)
    clock.advance(hours=2)
    facade.fire_due_timers()
    facade.close()

    restarted = Aftercare(settings.model_copy(update={"script_cpu_seconds": 0.2}), clock)
    try:
        clock.advance(hours=5)
        assert restarted.fire_due_timers() == 0
        assert restarted.runtime.loads == 0, "the restarted scheduler does not even load the parked case"
        [incident] = restarted.list_incidents(actor=OWNER)
        assert incident["ticket_id"] == bad
    finally:
        restarted.close()


@pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second
def test_retry_on_the_fixed_version_runs_the_case_on(facade: Aftercare, clock: FakeClock, script_budget: float) -> None:
    deploy(facade, script=LOOP)
    bad = start(facade)
    clock.advance(hours=2)
    facade.fire_due_timers()
    [incident] = facade.list_incidents(actor=OWNER)

    again = facade.retry_incident(instance_id=incident["instance_id"], actor=OWNER)  # not fixed yet
    assert again["status"] == "incident" and "CPU time" in again["error"]
    assert len(facade.list_incidents(actor=OWNER)) == 1

    fixed = deploy(facade, script="x = 41 + 1")
    done = facade.retry_incident(instance_id=incident["instance_id"], actor=Actor("manager", "manager"),
                                 to_version=fixed)
    assert done["status"] == "running"
    assert facade.list_incidents(actor=OWNER) == []
    desk = Desk(facade, clock)
    assert desk.names(bad) == ["step"]
    assert len(desk.events(bad, "incident")) == 2, "the failed retry parked it again, on the timeline too"
    assert [e["actor"] for e in desk.events(bad, "incident_retried")] == ["manager"]
    assert desk.events(bad, "case_migrated")[0]["to_version"] == fixed


@pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second
def test_retry_after_a_passing_cause(facade: Aftercare, clock: FakeClock, script_budget: float) -> None:
    deploy(facade, script="x = 1 if now() >= '2026-11-24' else 1 // 0")  # fails on Monday only
    bad = start(facade)
    clock.advance(hours=2)
    facade.fire_due_timers()
    [incident] = facade.list_incidents(actor=OWNER)
    assert "ZeroDivisionError" in incident["error"]
    with pytest.raises(Forbidden):
        facade.retry_incident(instance_id=incident["instance_id"], actor=Actor("engineer", "engineer"))

    clock.advance(days=1)
    assert facade.retry_incident(instance_id=incident["instance_id"], actor=OWNER)["status"] == "running"
    assert Desk(facade, clock).names(bad) == ["step"]


@pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second
def test_a_completion_that_hits_the_budget_changes_nothing_and_parks_the_case(
        facade: Aftercare, clock: FakeClock, script_budget: float) -> None:
    deploy(facade, script=LOOP, first="task")
    bad = start(facade)
    desk = Desk(facade, clock)
    task = desk.task(bad, "step")
    with pytest.raises(CaseParked) as parked:
        desk.complete(bad, "step", {"answer": 1})
    assert parked.value.status == 409 and parked.value.errors[0]["element_id"] == "calc"
    assert "CPU time" in parked.value.errors[0]["message"]
    assert desk.task(bad, "step")["id"] == task["id"], "the task is still open, as before the request"
    assert desk.events(bad, "task_completed") == []
    with pytest.raises(CaseIsParked):  # until a person retries, nobody completes its tasks
        desk.complete(bad, "step", {"answer": 1})
    assert len(facade.list_incidents(actor=OWNER)) == 1


def test_deploy_refuses_an_exploding_constant(facade: Aftercare) -> None:
    for kwargs in ({"script": "x = 10**10**10"}, {"timer": '10**10**10 and "PT1H"'},
                   {"first": "task", "instructions": "{{ 10 ** (10 ** 10) }}"}):
        with pytest.raises(InvalidProcess) as refused:
            deploy(facade, **kwargs)
        [problem] = refused.value.problems
        assert problem["element_id"] in ("calc", "wait2", "step") and problem["line"]
        assert "budget" in problem["message"] and "bits" in problem["message"]
