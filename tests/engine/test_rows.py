"""The save path's plain-statement writes (engine/rows.py): the row holds the values at once, the object reads as the
row does, changes made through the ORM in the same unit still reach the row, and the instance's optimistic version
check still refuses a save over someone else's."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from engine import rows
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Conflict
from engine.models import HumanTask, Instance, Ticket, TicketSearch
from tests.support import Desk


def ticket_row(facade: Aftercare, ticket_id: int) -> Ticket:
    return facade.run_in_unit(lambda s: s.get(Ticket, ticket_id))


def test_an_update_is_in_the_row_at_once_and_leaves_nothing_for_the_flush(facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    with facade.kernel.uow() as session:
        ticket = session.get(Ticket, tid)
        rows.update(session, ticket, {"status": "in_progress", "severity": 1, "title": ticket.title})
        seen = session.connection().execute(select(Ticket.status, Ticket.severity).where(Ticket.id == tid)).one()
        assert tuple(seen) == ("in_progress", 1)  # written now, not at the flush
        assert (ticket.status, ticket.severity) == ("in_progress", 1) and not session.dirty
    stored = ticket_row(facade, tid)
    assert (stored.status, stored.severity) == ("in_progress", 1)


def test_an_orm_change_to_the_same_object_is_still_written(facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    with facade.kernel.uow() as session:
        ticket = session.get(Ticket, tid)
        ticket.status = "set through the orm"  # pending, then overtaken by the plain write below
        ticket.contact_name = "王工"  # pending, and only through the ORM
        rows.update(session, ticket, {"status": "closed"})
    stored = ticket_row(facade, tid)
    assert (stored.status, stored.contact_name) == ("closed", "王工")


def test_a_new_task_row_is_there_for_the_next_read(facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    now = clock.now()
    with facade.kernel.uow() as session:
        ticket = session.get(Ticket, tid)
        rows.insert_row(session, HumanTask, {
            "id": "00000000-0000-4000-8000-000000000001", "instance_id": ticket.instance_id, "ticket_id": tid,
            "bpmn_id": "extra", "title": "补充步骤", "role": "engineer", "form_key": None, "instructions": None,
            "ticket_status": None, "state": "open", "assignee": None, "due_at": now + timedelta(hours=2),
            "created_at": now})
        found = session.get(HumanTask, "00000000-0000-4000-8000-000000000001")
        assert found is not None and found.due_at == now + timedelta(hours=2) and found.title == "补充步骤"


def test_a_save_over_a_row_someone_else_saved_is_refused(facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    instance_id = ticket_row(facade, tid).instance_id
    with pytest.raises(Conflict), facade.kernel.uow() as session:
        instance = session.get(Instance, instance_id)
        read_at = instance.lock_version
        session.connection().execute(update(Instance.__table__).where(Instance.id == instance_id)  # another writer,
                                     .values(lock_version=read_at + 1, error="theirs"))  # behind the ORM's back
        rows.update_versioned(session, instance, {"error": "ours"})
    stored = facade.run_in_unit(lambda s: s.get(Instance, instance_id))
    assert stored.error is None  # the unit rolled back: neither write is there


def test_a_versioned_update_moves_the_version_once(facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    instance_id = ticket_row(facade, tid).instance_id
    with facade.kernel.uow() as session:
        instance = session.get(Instance, instance_id)
        read_at = instance.lock_version
        rows.update_versioned(session, instance, {"error": "ours"})
        instance.incident_element = "Task_1"  # and an ORM change on top: checked against the new version
    stored = facade.run_in_unit(lambda s: s.get(Instance, instance_id))
    assert (stored.error, stored.incident_element, stored.lock_version) == ("ours", "Task_1", read_at + 2)


def test_a_change_inside_a_savepoint_that_rolls_back_leaves_the_object_as_the_row_is(
        facade: Aftercare, clock: FakeClock) -> None:
    """A step run inside a savepoint (a customer's e-mailed answer) that fails after saving: the row keeps its old
    values, and so must the object the rest of the unit reads."""
    tid = Desk(facade, clock).create()
    with facade.kernel.uow() as session:
        ticket = session.get(Ticket, tid)
        instance = session.get(Instance, ticket.instance_id)
        before = (ticket.status, instance.lock_version)
        with pytest.raises(RuntimeError), session.begin_nested():
            rows.update(session, ticket, {"status": "resolved"})
            rows.update_versioned(session, instance, {"error": "half-way"})
            session.flush()
            raise RuntimeError("the step failed after saving")
        assert (ticket.status, instance.lock_version) == before and instance.error is None
    stored = ticket_row(facade, tid)
    assert stored.status == before[0]


def test_an_update_of_a_row_deleted_behind_the_objects_back_is_refused(facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    with pytest.raises(Conflict), facade.kernel.uow() as session:
        search = session.get(TicketSearch, tid)
        session.connection().execute(delete(TicketSearch.__table__).where(TicketSearch.ticket_id == tid))
        rows.update(session, search, {"document": "新 文档"})
    assert facade.run_in_unit(lambda s: s.get(TicketSearch, tid)) is not None  # the unit rolled back


def test_a_column_is_read_from_the_object_the_session_holds_else_from_the_row(
        facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create(title="打印机卡纸")
    with facade.kernel.uow() as session:
        assert rows.value(session, Ticket.title, tid) == "打印机卡纸"  # no object held: read from the row
        assert rows.value(session, Ticket.title, 10**9) is None  # no such row
        ticket = session.get(Ticket, tid)
        ticket.title = "扫描仪卡纸"  # an unflushed change of the object the session holds
        assert rows.value(session, Ticket.title, tid) == "扫描仪卡纸"


def test_an_update_by_key_reaches_the_row_and_the_object_held_for_it(facade: Aftercare, clock: FakeClock) -> None:
    first, second = Desk(facade, clock).create(), Desk(facade, clock).create()
    with facade.kernel.uow() as session:
        rows.update_key(session, TicketSearch, first, {"document": "甲 乙"})  # no object held
        held = session.get(TicketSearch, second)
        rows.update_key(session, TicketSearch, second, {"document": "丙 丁"})
        assert held.document == "丙 丁" and not session.dirty  # the object reads as the row now is
    documents = facade.run_in_unit(lambda s: [s.get(TicketSearch, t).document for t in (first, second)])
    assert documents == ["甲 乙", "丙 丁"]


def test_an_update_by_key_inside_a_savepoint_that_rolls_back_leaves_the_row(
        facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    before = facade.run_in_unit(lambda s: s.get(TicketSearch, tid).document)
    with facade.kernel.uow() as session:
        with pytest.raises(RuntimeError), session.begin_nested():
            rows.update_key(session, TicketSearch, tid, {"document": "回滚"})
            assert rows.value(session, TicketSearch.document, tid) == "回滚"
            raise RuntimeError("the step failed")
        assert rows.value(session, TicketSearch.document, tid) == before
    assert facade.run_in_unit(lambda s: s.get(TicketSearch, tid).document) == before


# -- objects built from plain rows (rows.load: a case's lock, its open tasks) --------------------------------------

def _orm_view(obj: object) -> dict[str, object]:
    from sqlalchemy import inspect as sa_inspect
    return {attr.key: getattr(obj, attr.key) for attr in sa_inspect(type(obj)).column_attrs}


@pytest.mark.parametrize("way", ["as the ORM loads", "through session.add"])
def test_a_locked_case_is_the_objects_the_orm_would_load(facade: Aftercare, clock: FakeClock, way: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import inspect as sa_inspect

    from engine import repository
    if way == "through session.add":  # a SQLAlchemy without the identity map's private method
        with facade.kernel.uow(write=False) as session:
            kind = type(session.identity_map)
        monkeypatch.delattr(next(c for c in kind.__mro__ if "_add_unpresent" in vars(c)), "_add_unpresent")
    tid = Desk(facade, clock).create()
    instance_id = facade.run_in_unit(lambda s: s.get(Ticket, tid).instance_id)
    with facade.kernel.uow() as session:
        instance, ticket = repository.lock_case(session, instance_id)
        tasks = repository.open_tasks_of_instance(session, instance_id, fresh=True)
        assert instance is not None and ticket is not None and tasks
        for obj in (instance, ticket, *tasks):
            assert sa_inspect(obj).persistent and not sa_inspect(obj).unloaded  # nothing left to load
            assert session.get(type(obj), sa_inspect(obj).identity[0]) is obj  # the session's own
        plain = [_orm_view(o) for o in (instance, ticket, *tasks)]
    with facade.kernel.uow(write=False) as session:
        loaded = [session.get(Instance, instance_id), session.get(Ticket, tid)]
        loaded += list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                               HumanTask.state == "open")))
        assert plain == [_orm_view(o) for o in loaded]


def test_an_object_built_from_a_row_is_written_by_the_flush_under_its_version(
        facade: Aftercare, clock: FakeClock) -> None:
    from engine import repository
    tid = Desk(facade, clock).create()
    instance_id = facade.run_in_unit(lambda s: s.get(Ticket, tid).instance_id)
    version = facade.run_in_unit(lambda s: s.get(Instance, instance_id).lock_version)
    with facade.kernel.uow() as session:
        instance, ticket = repository.lock_case(session, instance_id)
        assert instance is not None and ticket is not None
        instance.error, ticket.title = "写回了", "也写回了"
    stored = facade.run_in_unit(lambda s: (s.get(Instance, instance_id).error, s.get(Instance, instance_id)
                                           .lock_version, s.get(Ticket, tid).title))
    assert stored == ("写回了", version + 1, "也写回了")
    with pytest.raises(Conflict), facade.kernel.uow() as session:  # saved behind its back: refused as before
        instance, _ = repository.lock_case(session, instance_id)
        session.execute(update(Instance).where(Instance.id == instance_id)
                        .values(lock_version=Instance.lock_version + 1).execution_options(synchronize_session=False))
        instance.error = "lost update"


def test_a_lock_refreshes_what_the_session_already_holds_and_finds_a_case_without_ticket(
        facade: Aftercare, clock: FakeClock) -> None:
    from sqlalchemy.orm.attributes import set_committed_value

    from engine import repository
    tid = Desk(facade, clock).create()
    instance_id = facade.run_in_unit(lambda s: s.get(Ticket, tid).instance_id)
    with facade.kernel.uow() as session:
        held = session.get(Ticket, tid)
        set_committed_value(held, "title", "an old reading")
        instance, ticket = repository.lock_case(session, instance_id)
        assert ticket is held and ticket.title != "an old reading"
        session.execute(update(Ticket).where(Ticket.id == tid).values(instance_id=None))
    with facade.kernel.uow() as session:
        instance, ticket = repository.lock_case(session, instance_id)
        assert instance is not None and instance.id == instance_id and ticket is None
        assert repository.lock_case(session, instance_id + 10_000) == (None, None)


def test_changes_made_through_the_orm_are_written_at_once_and_leave_the_flush_nothing(
        facade: Aftercare, clock: FakeClock) -> None:
    from sqlalchemy import inspect as sa_inspect
    tid = Desk(facade, clock).create()
    with facade.kernel.uow() as session:
        ticket = session.get(Ticket, tid)
        ticket.breaches = [*ticket.breaches, {"kind": "response", "at": clock.now().isoformat()}]
        ticket.escalation_level = 2
        rows.write_changes(session, ticket)
        assert not sa_inspect(ticket).committed_state and ticket not in session.dirty  # nothing for the flush
        stored = session.connection().execute(select(Ticket.breaches, Ticket.escalation_level)
                                              .where(Ticket.id == tid)).one()
        assert stored.escalation_level == 2 and [b["kind"] for b in stored.breaches] == ["response"]
    assert facade.run_in_unit(lambda s: s.get(Ticket, tid).escalation_level) == 2


def test_a_row_a_join_repeats_is_one_object(facade: Aftercare, clock: FakeClock) -> None:
    from sqlalchemy import bindparam

    from engine.models import TimelineEvent
    tid = Desk(facade, clock).create()
    by_event = (select(Ticket, TimelineEvent).join(TimelineEvent, TimelineEvent.ticket_id == Ticket.id)
                .where(Ticket.id == bindparam("tid")))
    with facade.kernel.uow(write=False) as session:
        found = rows.load(session, by_event, {"tid": tid})
        assert len(found) >= 2 and len({id(ticket) for ticket, _ in found}) == 1
        assert found[0][0] is session.get(Ticket, tid)
        assert len({event.id for _, event in found}) == len(found)
