"""Form rules beyond JSON Schema: a date not before another, and a field naming a staff user who may take the task."""
from __future__ import annotations

import pytest

from engine.commands import Aftercare
from engine.errors import ValidationFailed
from tests.support import Desk

ASSESSED = {"change_kind": "bugfix", "change_scope": "修复报表合计错误", "effort_days": 1, "change_impact": "报表",
            "affected_modules": "报表", "assessment_decision": "implement", "assessment_answer": "属于缺陷修复"}


@pytest.fixture
def desk(facade: Aftercare, clock) -> Desk:  # type: ignore[no-untyped-def]
    return Desk(facade, clock)


def _at_scheduling(desk: Desk) -> int:
    tid = desk.create(title="报表合计错误")
    desk.triage(tid, category="change")
    desk.complete(tid, "change_assessment", ASSESSED)
    assert desk.names(tid) == ["schedule_change"]
    return tid


def test_schedule_offers_the_engineers_and_refuses_bad_dates_and_unknown_users(desk: Desk, facade: Aftercare) -> None:
    tid = _at_scheduling(desk)
    task = desk.task(tid, "schedule_change")
    form = facade.get_task(task_id=task["id"], actor=desk.actor("manager"))["form"]
    options = form["properties"]["change_engineer"]["x-options"]
    assert "engineer" in options and "service_desk" not in options and "product" not in options
    with pytest.raises(ValidationFailed) as info:
        desk.complete(tid, "schedule_change", {"planned_start": "2026-12-01", "planned_end": "2026-11-20",
                                               "change_engineer": "nobody"})
    errors = {e["field"]: e["message"] for e in info.value.errors}
    assert set(errors) == {"planned_end", "change_engineer"}
    assert "不能早于计划开始" in errors["planned_end"] and "nobody" in errors["change_engineer"]
    with pytest.raises(ValidationFailed):  # a user who exists but may not take engineers' tasks
        desk.complete(tid, "schedule_change", {"planned_start": "2026-12-01", "change_engineer": "service_desk"})
    assert desk.names(tid) == ["schedule_change"]  # nothing was lost or moved on
    desk.complete(tid, "schedule_change", {"planned_start": "2026-12-01", "planned_end": "2026-12-01",
                                           "change_engineer": "engineer"})
    assert desk.task(tid, "implement_change")["assignee"] == "engineer"


def test_the_severity_filter_lists_faults_only(desk: Desk, facade: Aftercare) -> None:
    from engine.worklist import WorklistQuery

    fault = desk.create(title="报表导出失败")
    desk.triage(fault, category="fault", severity=2)
    _at_scheduling(desk)  # a change, triaged with severity 2 left on the form: no fault of severity 2
    rows = facade.worklist(actor=desk.actor("manager"), query=WorklistQuery(view="all", severity=2)).rows
    assert [r["ticket_id"] for r in rows] == [fault]
