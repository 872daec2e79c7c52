"""The scheduler: due timers fire on time, exactly once, even after downtime; idle ticks stay cheap;
two completions of one task give one success."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import insert, select

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Conflict
from engine.models import Instance
from engine.settings import Settings
from tests.support import Desk


def test_timer_due_while_down_fires_once_after_restart(settings: Settings, clock: FakeClock) -> None:
    from api.app import prepare
    from api.demo import load_demo

    first = Aftercare(settings, clock)
    prepare(first)
    load_demo(first)
    tid = Desk(first, clock).create()
    first.close()  # the server goes down with a triage timer 15 minutes out

    clock.advance(hours=3)
    second = Aftercare(settings, clock)
    prepare(second)
    desk = Desk(second, clock)
    assert second.fire_due_timers() == 1
    assert second.fire_due_timers() == 0
    assert len(desk.events(tid, "sla_breach")) == 1
    assert len([e for e in desk.events(tid, "timer_fired")]) == 1
    second.close()


def test_next_timer_at_is_the_earliest_waiting_timer(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    instance_id = desk.ticket(tid)
    stored = facade.run_in_unit(lambda s: s.scalars(select(Instance.next_timer_at)).all())
    assert stored == [clock.now() + timedelta(minutes=15)]
    assert instance_id


def test_idle_tick_with_10000_waiting_cases_loads_only_the_due_ones(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    due_ids = [desk.create(title=f"due {n}") for n in range(3)]
    template = facade.run_in_unit(lambda s: s.scalars(select(Instance)).first())
    later = clock.now() + timedelta(days=30)
    rows = [{"process_id": template.process_id, "version_id": template.version_id, "state": template.state,
             "serializer_version": template.serializer_version, "status": "running", "next_timer_at": later,
             "lock_version": 1, "created_at": clock.now(), "updated_at": clock.now()} for _ in range(10_000)]
    facade.run_in_unit(lambda s: s.execute(insert(Instance), rows), write=True)

    loads_before = facade.runtime.loads
    clock.advance(minutes=14)
    assert facade.fire_due_timers() == 0
    assert facade.runtime.loads == loads_before  # an idle tick deserializes nothing
    clock.advance(minutes=2)
    assert facade.fire_due_timers() == 3
    assert facade.runtime.loads - loads_before == 3
    assert all(desk.ticket(t)["sla"]["breaches"] for t in due_ids)


def test_two_concurrent_completions_of_one_task_give_one_success(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    task = desk.task(tid, "triage")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def complete(category: str) -> None:
        barrier.wait()
        try:
            facade.complete_task(task_id=task["id"], data={"category": category}, actor=desk.actor("service_desk"))
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=complete, args=(c,)) for c in ("question", "complaint")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert len(desk.events(tid, "task_completed")) == 1
    assert len(desk.names(tid)) == 1


def test_a_broken_case_is_parked_and_the_others_still_fire(facade: Aftercare, clock: FakeClock) -> None:
    from sqlalchemy import update

    desk = Desk(facade, clock)
    broken = desk.create(title="broken")
    clock.advance(minutes=1)
    good = desk.create(title="good")
    broken_instance = desk.ticket(broken)
    facade.run_in_unit(lambda s: s.execute(update(Instance).where(
        Instance.id == s.scalar(select(Instance.id).order_by(Instance.id).limit(1))).values(state="{}")), write=True)
    desk.travel(minutes=20)
    assert desk.ticket(good)["sla"]["breaches"]  # fired despite the broken case due before it
    errors = desk.events(broken, "incident")  # parked as an incident until a person retries it (issue 11)
    assert broken_instance and len(errors) == 1
    parked = facade.run_in_unit(lambda s: s.scalar(select(Instance).order_by(Instance.id).limit(1)))
    assert parked.error and parked.status == "incident" and parked.incident_at == clock.now()


def test_a_database_error_while_firing_is_retried_not_parked(facade: Aftercare, clock: FakeClock) -> None:
    """A dropped connection, a failover or a deadlock is the database's, not the case's: the timer fires at the next
    tick and the case is never parked as an incident (which would wait for a person)."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    desk = Desk(facade, clock)
    tid = desk.create(title="flaky database")
    failures: list[str] = []

    def drop_first_save(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE INSTANCE") and not failures:
            failures.append(statement)
            raise OperationalError(statement, None, Exception("server closed the connection unexpectedly"))

    event.listen(facade.kernel.db, "before_cursor_execute", drop_first_save)
    try:
        clock.advance(minutes=20)  # the triage deadline (15 min) is due
        facade.fire_due_timers()
    finally:
        event.remove(facade.kernel.db, "before_cursor_execute", drop_first_save)
    assert failures, "the injected database error never happened"
    assert not desk.events(tid, "incident")
    assert not desk.ticket(tid)["sla"]["breaches"]  # nothing of the failed firing was saved
    facade.fire_due_timers()  # the next tick
    assert desk.ticket(tid)["sla"]["breaches"]
    assert not desk.events(tid, "incident")
    status = facade.run_in_unit(lambda s: s.scalar(select(Instance.status).order_by(Instance.id.desc()).limit(1)))
    assert status == "running"


def test_two_concurrent_claims_of_one_task_give_one_holder(facade: Aftercare, clock: FakeClock) -> None:
    from engine.users import Actor

    desk = Desk(facade, clock)
    tid = desk.create()
    task = desk.task(tid, "triage")
    facade.add_user(username="amy", role="service_desk", password="x")
    facade.add_user(username="ben", role="service_desk", password="x")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def claim(name: str) -> None:
        barrier.wait()
        try:
            facade.claim_task(task_id=task["id"], actor=Actor(name, "service_desk"))
            outcomes.append(name)
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=claim, args=(n,)) for n in ("amy", "ben")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("conflict") == 1 and len(desk.events(tid, "task_claimed")) == 1
    assert desk.task(tid, "triage")["assignee"] in ("amy", "ben")
