"""The save path's writes on the driver's cursor (engine/plain_sql.py): values stored as SQLAlchemy would store them,
driver errors raised as SQLAlchemy's, listeners on statements still served, defaults still applied."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError

from engine import plain_sql, rows
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.models import OutboxMessage, Ticket, TimelineEvent
from tests.support import Desk


def test_json_and_times_are_stored_as_sqlalchemy_stores_them(facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    later = clock.now() + timedelta(hours=3, microseconds=250)
    archive = {"title": "系统无法登录", "steps": [{"at": later.isoformat(), "ok": True}], "score": 4.5}
    with facade.kernel.uow() as session:
        rows.update(session, session.get(Ticket, tid), {"archive": archive, "resolved_at": later})
    stored = facade.run_in_unit(lambda s: s.execute(select(Ticket.archive, Ticket.resolved_at)
                                                     .where(Ticket.id == tid)).one())
    assert stored.archive == archive and stored.resolved_at == later


def test_a_driver_error_is_sqlalchemys_and_the_unit_keeps_nothing(facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    task = Desk(facade, clock).task(tid, "triage")
    with pytest.raises(IntegrityError, match="human_task"), facade.kernel.uow() as session:
        rows.update(session, session.get(Ticket, tid), {"title": "changed before the error"})
        from engine.models import HumanTask
        rows.insert_row(session, HumanTask, {  # the same id again
            "id": task["id"], "instance_id": session.get(Ticket, tid).instance_id, "ticket_id": tid,
            "bpmn_id": "triage", "title": "x", "role": "service_desk", "form_key": None, "instructions": None,
            "ticket_status": None, "state": "open", "assignee": None, "due_at": None, "created_at": clock.now(),
            "completed_at": None, "completed_by": None})
    assert facade.get_ticket(ticket_id=tid, actor=Desk(facade, clock).actor("admin"))["title"] == "系统无法登录"


def test_a_listener_on_statements_still_sees_the_writes(facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.split()[0] + " " + statement.split()[1])

    event.listen(facade.kernel.db, "before_cursor_execute", record)
    try:
        with facade.kernel.uow() as session:
            rows.update(session, session.get(Ticket, tid), {"title": "监听"})
    finally:
        event.remove(facade.kernel.db, "before_cursor_execute", record)
    assert "UPDATE ticket" in seen
    assert facade.run_in_unit(lambda s: s.get(Ticket, tid).title) == "监听"


def test_columns_left_out_get_their_defaults(facade: Aftercare, clock: FakeClock) -> None:
    statement = insert(OutboxMessage.__table__)
    with facade.kernel.uow() as session:
        plain_sql.execute(session.connection(), statement, [  # language, context, status, attempts left out
            {"to_addr": f"a{i}@example.com", "template": "ticket_received", "next_attempt_at": clock.now(),
             "created_at": clock.now()} for i in range(2)])
    stored = facade.run_in_unit(lambda s: s.execute(
        select(OutboxMessage.language, OutboxMessage.context, OutboxMessage.status, OutboxMessage.attempts)
        .where(OutboxMessage.to_addr.in_(["a0@example.com", "a1@example.com"]))).all())
    assert [tuple(r) for r in stored] == [("zh-CN", {}, "pending", 0)] * 2


def test_rows_appended_with_different_columns_are_all_written(facade: Aftercare, clock: FakeClock) -> None:
    from engine import appends
    tid = Desk(facade, clock).create()
    with facade.kernel.uow() as session:
        instance_id = session.get(Ticket, tid).instance_id
        appends.add(session, TimelineEvent, ticket_id=tid, instance_id=instance_id, at=clock.now(), kind="note",
                    actor="admin", data={"n": 1})
        appends.add(session, TimelineEvent, ticket_id=tid, instance_id=instance_id, at=clock.now(), kind="note",
                    actor="admin")  # no data: the column's default
    kinds = facade.run_in_unit(lambda s: s.execute(select(TimelineEvent.data).where(
        TimelineEvent.ticket_id == tid, TimelineEvent.kind == "note").order_by(TimelineEvent.id)).scalars().all())
    assert len(kinds) == 2 and kinds[0] == {"n": 1}


def test_a_lost_connection_is_invalidated_and_the_next_unit_works(facade: Aftercare, clock: FakeClock) -> None:
    """The database connection goes away under a write (a failover, a restart): the error says the connection was
    invalidated, the unit rolls back without a second error, and the next unit gets a working connection."""
    from sqlalchemy.exc import DBAPIError

    tid = Desk(facade, clock).create()
    with pytest.raises(DBAPIError) as raised, facade.kernel.uow() as session:
        ticket = session.get(Ticket, tid)
        session.connection().connection.dbapi_connection.close()  # type: ignore[union-attr]
        rows.update(session, ticket, {"title": "never stored"})
    assert raised.value.connection_invalidated  # the write's own error, not a failed rollback's
    assert str(raised.value.statement).startswith("UPDATE ticket")
    assert facade.run_in_unit(lambda s: s.get(Ticket, tid).title) == "系统无法登录"
    with facade.kernel.uow() as session:
        rows.update(session, session.get(Ticket, tid), {"title": "stored after the loss"})
    assert facade.run_in_unit(lambda s: s.get(Ticket, tid).title) == "stored after the loss"


# -- reads -----------------------------------------------------------------------------------------------------------

def test_a_read_gives_what_sqlalchemy_gives(facade: Aftercare, clock: FakeClock) -> None:
    """Times (UTC-aware), JSON, booleans, NULLs, labels, a join and a value written into the statement come back as
    SQLAlchemy's own result gives them."""
    from sqlalchemy import bindparam

    from engine.models import Customer
    tid = Desk(facade, clock).create()
    with facade.kernel.uow() as session:
        rows.update(session, session.get(Ticket, tid), {"archive": {"分数": 4.5, "ok": True}, "onsite": True,
                                                        "resolved_at": clock.now() + timedelta(microseconds=7)})
    statement = (select(Ticket.id, Ticket.archive, Ticket.onsite, Ticket.resolved_at, Ticket.closed_at,
                        Customer.name.label("customer"))
                 .outerjoin(Customer, Customer.id == Ticket.customer_id)
                 .where(Ticket.id == bindparam("ticket_id"), Ticket.title != "no such title"))
    with facade.kernel.uow(write=False) as session:
        plain = plain_sql.read(session.connection(), statement, {"ticket_id": tid})
        expected = session.execute(statement, {"ticket_id": tid}).all()
        assert plain_sql.read(session.connection(), statement, {"ticket_id": tid + 1000}) == []
        with pytest.raises(KeyError, match="ticket_id"):
            plain_sql.read(session.connection(), statement, {})
    assert [tuple(row) for row in plain] == [tuple(row) for row in expected]
    (row,) = plain
    assert row.resolved_at.tzinfo is not None and row.archive == {"分数": 4.5, "ok": True} and row.onsite is True
    assert row.customer == expected[0].customer and row.closed_at is None


def test_statements_it_cannot_run_itself_go_through_sqlalchemy(facade: Aftercare, clock: FakeClock) -> None:
    tid = Desk(facade, clock).create()
    with facade.kernel.uow(write=False) as session:
        (ticket,) = plain_sql.read(session.connection(), select(Ticket).where(Ticket.id == tid), {})
        listed = plain_sql.read(session.connection(), select(Ticket.id).where(Ticket.id.in_([tid, tid + 1])), {})
    assert ticket.id == tid and [tuple(r) for r in listed] == [(tid,)]


def test_rows_read_sees_what_the_unit_has_not_written_yet(facade: Aftercare, clock: FakeClock) -> None:
    from sqlalchemy import bindparam

    from engine import appends
    tid = Desk(facade, clock).create()
    kinds = select(TimelineEvent.kind).where(TimelineEvent.ticket_id == bindparam("ticket_id"),
                                             TimelineEvent.kind == bindparam("kind"))
    titles = select(Ticket.title).where(Ticket.id == bindparam("ticket_id"))
    with facade.kernel.uow() as session:
        appends.add(session, TimelineEvent, ticket_id=tid, kind="plain_read_probe", at=clock.now(), data={},
                    actor="admin")
        assert [r.kind for r in rows.read(session, kinds, {"ticket_id": tid, "kind": "plain_read_probe"})] \
            == ["plain_read_probe"]
        session.get(Ticket, tid).title = "改过还没写"
        assert [r.title for r in rows.read(session, titles, {"ticket_id": tid})] == ["改过还没写"]
        session.flush()
        assert [r.title for r in rows.read(session, titles, {"ticket_id": tid})] == ["改过还没写"]


def test_rows_read_inside_no_autoflush_reads_what_the_session_would(facade: Aftercare, clock: FakeClock) -> None:
    from sqlalchemy import bindparam
    tid = Desk(facade, clock).create()
    titles = select(Ticket.title).where(Ticket.id == bindparam("ticket_id"))
    with facade.kernel.uow() as session:
        stored = session.get(Ticket, tid).title
        with session.no_autoflush:
            session.get(Ticket, tid).title = "还没写"
            assert [r.title for r in rows.read(session, titles, {"ticket_id": tid})] == [stored] \
                == list(session.scalars(titles, {"ticket_id": tid}))
        assert [r.title for r in rows.read(session, titles, {"ticket_id": tid})] == ["还没写"]
