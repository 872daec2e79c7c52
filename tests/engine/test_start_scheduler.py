"""The scheduler's starts (inspections, monthly reports) when a diagram cannot start: each start is a unit of work of
its own, and an item whose start failed is left alone for ten minutes, so the items behind it start instead of the
same failing ones being retried (at up to their CPU budget each) every tick."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.users import Actor
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second

OWNER = Actor("process_owner", "process_owner")
MANAGER = Actor("manager", "manager")


def failing_first(process: str, first: str, condition: str) -> dict[str, str]:
    """The project's `process` diagram, its first script failing when `condition` holds (before any wait)."""
    path = Path(__file__).resolve().parents[2] / "processes" / f"{process}.bpmn"
    text = path.read_text(encoding="utf-8")
    assert text.count(first) == 1, "the first step changed: update this test"
    return {path.name: text.replace(first, f"<bpmn:script>x = 1 // 0 if {condition} else 0\n{first[13:]}")}


def start_failures(facade: Aftercare) -> list[dict]:
    return [i for i in facade.list_incidents(actor=OWNER) if i["kind"] == "start_failed"]


def test_a_failing_inspection_waits_ten_minutes_and_lets_the_next_start(facade: Aftercare, clock: FakeClock) -> None:
    due = sorted((c for c in facade.list_contracts() if c["next_inspection_at"]),
                 key=lambda c: c["next_inspection_at"])
    broken, other = due[0], due[1]  # the broken one comes first in the scheduler's order
    facade.deploy(files=failing_first("inspection", "<bpmn:script>category = 'inspection'",
                                      f"contract_number == {broken['number']!r}"), actor=OWNER)
    clock.set(datetime.fromisoformat(other["next_inspection_at"]))

    # one start per tick: before, the broken contract at the head of the order was the only one ever tried
    assert facade.start_due_inspections(limit=1) == 0
    assert facade.start_due_inspections(limit=1) == 1, "the next tick starts the contract behind it"
    after = {c["number"]: c["next_inspection_at"] for c in facade.list_contracts()}
    assert after[broken["number"]] == broken["next_inspection_at"], "the broken one is still due"
    assert len([c for c in due if after[c["number"]] != c["next_inspection_at"]]) == 1, "one other started"
    for _ in range(9):
        clock.advance(minutes=1)
        facade.start_due_inspections()
    assert start_failures(facade)[0]["count"] == 1, "not tried again within ten minutes"
    clock.advance(minutes=1)
    facade.start_due_inspections()
    assert start_failures(facade)[0]["count"] == 2, "then tried again (a fixed diagram would start now)"


def test_a_failing_report_waits_ten_minutes_and_lets_the_next_start(facade: Aftercare, clock: FakeClock) -> None:
    facade.deploy(files=failing_first("monthly_report", "<bpmn:script>category = 'monthly_report'",
                                      "customer == 'Demo Customer'"), actor=OWNER)
    clock.set(datetime(2026, 12, 1, 9, tzinfo=SHANGHAI))
    started = [facade.start_due_reports(limit=1) for _ in range(4)]
    assert sum(started) == 2, "the two other customers start, one a tick, behind the failing one"
    reports = {r["customer"]: r["status"] for r in facade.list_monthly_reports(month="2026-11", actor=MANAGER)}
    assert "Demo Customer" not in reports and len(reports) == 2
    [notice] = start_failures(facade)
    assert notice["process_id"] == "monthly_report" and notice["count"] == 1, "tried once, not every tick"

    facade.deploy(files=failing_first("monthly_report", "<bpmn:script>category = 'monthly_report'", "False"),
                  actor=OWNER)
    assert facade.start_due_reports() == 0, "still waiting out its ten minutes"
    clock.advance(minutes=10)
    assert facade.start_due_reports() == 1, "the fixed diagram starts the report"
    assert "Demo Customer" in {r["customer"] for r in facade.list_monthly_reports(month="2026-11", actor=MANAGER)}
