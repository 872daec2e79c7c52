"""The task list's query plans, which keep it fast at 100,000 tickets (bench/worklist.py): every statement a page runs,
for each filter, sort and kind of page, reaches `human_task` through an index (a SEARCH on SQLite, never a SCAN of
the table or of `ticket`, never a sort of the whole list), and on PostgreSQL uses an index when told to avoid scans.
These are plans, not times."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select, update

from engine.commands import Aftercare
from engine.models import Customer, HumanTask, Ticket
from engine.users import Actor
from engine.worklist import WorklistQuery, encode_cursor
from tests.support import Desk

MANAGER, ENGINEER = Actor("manager", "manager"), Actor("engineer", "engineer")
ROLES = ("service_desk", "engineer", "expert", "manager", "customer")


@pytest.fixture
def tasks(facade: Aftercare) -> list[str]:
    """300 open tasks over roles, severities, customers and due times (some none), in the projection's shape, and
    the statistics a running database keeps (ANALYZE), which both planners read."""
    now, ticket_id = facade.clock.now(), Desk(facade, facade.clock).create(title="template")
    instance_id = facade.run_in_unit(lambda s: s.get(Ticket, ticket_id).instance_id)
    customers = facade.run_in_unit(lambda s: list(s.scalars(select(Customer.id).order_by(Customer.id))))
    rows = []
    for n in range(300):
        due = None if n % 17 == 0 else now + timedelta(minutes=n % 50 * 10 - 100)
        rows.append({"id": f"plan-{n:04d}", "instance_id": instance_id, "ticket_id": ticket_id,
                     "bpmn_id": "engineer_resolution", "title": "t", "role": ROLES[n % 5], "state": "open",
                     "due_at": due, "created_at": now - timedelta(minutes=n), "assignee": "engineer" if n % 9 == 0
                     else None, "ticket_number": f"P-{n:05d}", "ticket_customer_id": customers[n % len(customers)],
                     "ticket_severity": 1 + n % 3 if n % 4 else None,
                     "ticket_resolve_due": now + timedelta(minutes=n % 30 * 10 - 60)})

    def fill(session: Any) -> None:
        session.execute(update(HumanTask).values(state="done"))
        session.execute(insert(HumanTask), rows)
        session.execute(insert(HumanTask), [{**r, "id": r["id"] + "-done", "state": "done"} for r in rows])
    facade.run_in_unit(fill, write=True)
    facade.run_in_unit(lambda s: s.connection().exec_driver_sql("ANALYZE"), write=True)
    return [r["id"] for r in rows]


def _cursor(key: Any, task_id: str) -> str:
    return encode_cursor(key, task_id)


CASES: dict[str, tuple[Actor, dict[str, Any]]] = {
    "queue": (ENGINEER, {}),
    "mine": (ENGINEER, {"view": "mine"}),
    "all visible to an engineer": (ENGINEER, {"view": "all"}),
    "all": (MANAGER, {"view": "all"}),
    "role": (MANAGER, {"view": "all", "role": "expert"}),
    "severity": (MANAGER, {"view": "all", "severity": 2}),
    "customer": (MANAGER, {"view": "all", "customer": "Demo"}),
    "breached": (MANAGER, {"view": "all", "breached": True}),
    "breached, severity and role": (MANAGER, {"view": "all", "breached": True, "severity": 1, "role": "engineer"}),
    "page 3": (MANAGER, {"view": "all", "page": 3}),
    "last page": (MANAGER, {"view": "all", "from_end": 1}),
    "breached, last page": (MANAGER, {"view": "all", "breached": True, "from_end": 1}),
    "queue, last page": (ENGINEER, {"from_end": 1}),
    "sort created": (MANAGER, {"view": "all", "sort": "created"}),
    "sort created, descending, last page": (MANAGER, {"view": "all", "sort": "created", "descending": True,
                                                      "from_end": 1}),
    "sort severity": (MANAGER, {"view": "all", "sort": "severity"}),
    "sort severity, descending, last page": (MANAGER, {"view": "all", "sort": "severity", "descending": True,
                                                       "from_end": 1}),
    "sort number": (MANAGER, {"view": "all", "sort": "number"}),
    "sort number, descending": (MANAGER, {"view": "all", "sort": "number", "descending": True}),
    "sort due, descending": (MANAGER, {"view": "all", "descending": True}),
}


def statements(facade: Aftercare, actor: Actor, query: WorklistQuery) -> tuple[list[str], list[tuple[str, Any]]]:
    """The task ids the page shows and the statements it ran that read `human_task`."""
    seen: list[tuple[str, Any]] = []

    def spy(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "human_task" in statement:
            seen.append((statement, parameters))

    event.listen(facade.db, "before_cursor_execute", spy)
    try:
        ids = [row["id"] for row in facade.worklist(actor=actor, query=query).rows]
    finally:
        event.remove(facade.db, "before_cursor_execute", spy)
    return ids, seen


def plan(facade: Aftercare, statement: str, parameters: Any) -> list[str]:
    """The plan's lines as the database reports them (PostgreSQL told to avoid scans)."""
    def run(session: Any) -> list[str]:
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            return [str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return [r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters)]
    return list(facade.run_in_unit(run))


def assert_indexed(facade: Aftercare, seen: list[tuple[str, Any]]) -> None:
    assert seen
    for statement, parameters in seen:
        lines = plan(facade, statement, parameters)
        text = "\n".join(lines)
        if facade.db.dialect.name == "sqlite":
            reads = [line for line in lines if " human_task" in line or " ticket" in line]
            assert reads and all(line.startswith("SEARCH ") and ("INDEX" in line or "PRIMARY KEY" in line)
                                 for line in reads), text
            assert "TEMP B-TREE" not in text, text  # the order comes from the index, not a sort
        else:
            assert "Seq Scan" not in text and "Index" in text, text


@pytest.mark.parametrize("case", list(CASES))
def test_each_filter_sort_and_page_reads_through_an_index(facade: Aftercare, tasks: list[str], case: str) -> None:
    actor, choices = CASES[case]
    ids, seen = statements(facade, actor, WorklistQuery(**choices))
    assert ids  # the plans are those of a page that shows tasks
    assert_indexed(facade, seen)


def test_a_deep_page_seeks_its_cursor(facade: Aftercare, tasks: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import worklist

    monkeypatch.setattr(worklist, "COUNT_CAP", 50)
    first = facade.worklist(actor=MANAGER, query=WorklistQuery(view="all", page=3))
    last = first.rows[-1]
    cursor = _cursor(worklist.datetime.fromisoformat(last["due_at"]), last["id"])
    ids, seen = statements(facade, MANAGER, WorklistQuery(view="all", page=4, after=cursor))
    assert len(ids) == 25 and last["id"] not in ids
    assert_indexed(facade, seen)
    if facade.db.dialect.name == "sqlite":  # the walk starts at the cursor instead of counting its way there
        assert any("(due_at,id)>(?,?)" in line for s, p in seen for line in plan(facade, s, p))


def test_the_json_list_reads_through_an_index(facade: Aftercare, tasks: list[str]) -> None:
    for actor, query in ((MANAGER, worklist_api(offset=120)), (ENGINEER, worklist_api()),
                         (MANAGER, worklist_api(role="expert", limit=1000))):
        ids, seen = statements(facade, actor, query)
        assert ids
        assert_indexed(facade, seen)


def worklist_api(**choices: Any) -> Any:
    from engine.worklist import TaskListQuery

    return TaskListQuery(**choices)
