"""The desk's figures against hand-built histories: a fault resolved after the customer rejected the work (the
clock paused while the customer tested), a fault that missed both deadlines, and one resolved across the National
Day holiday. The numbers are worked out by hand in the comments."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Forbidden, NotFound, ValidationFailed
from engine.figures import Period, summary
from engine.users import Actor
from tests.conftest import SHANGHAI
from tests.support import Desk, complete_as_customer

MANAGER = Actor("manager", "manager")
RESOLVED = {"resolution": "重建连接池", "outcome": "resolved", "root_cause": "数据库连接池耗尽",
            "fault_type": "login", "module": "门诊收费"}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


@pytest.fixture
def november(desk: Desk, facade: Aftercare) -> tuple[int, int]:
    """Two severity-3 faults of Demo Customer logged Monday 2026-11-23 10:00 (working-hours clock: respond in 4,
    resolve in 3 working days). A is answered at 10:30, resolved Tuesday 11:00, rejected Wednesday 10:00 (paused
    Tue 11-18 + Wed 9-10 = 8 working hours), resolved again Wednesday 12:00, accepted, survey 5, callback 4.
    B is never answered: the response deadline passes Monday 14:00, the resolve deadline Thursday 10:00."""
    a, b = desk.create(), desk.create(title="报表导出很慢")
    desk.triage(a, severity=3)
    desk.triage(b, severity=3)
    desk.travel(minutes=30)
    desk.complete(a, "engineer_response", {"contact_made": True, "diagnosis": "连接池"})
    desk.travel_to(at(2026, 11, 23, 14, 0, 1))
    desk.travel_to(at(2026, 11, 24, 11))
    desk.complete(a, "engineer_resolution", RESOLVED)
    desk.travel_to(at(2026, 11, 25, 10))
    complete_as_customer(facade, a, {"accepted": False, "reason": "高峰期仍然无法登录"})
    desk.travel_to(at(2026, 11, 25, 12))
    desk.complete(a, "engineer_resolution", {**RESOLVED, "resolution": "扩容连接池并加监控"})
    complete_as_customer(facade, a, {"accepted": True})
    complete_as_customer(facade, a, {"score": 5})
    desk.complete(a, "callback", {"recurred": False, "satisfaction": 4, "comment": "满意"})
    desk.travel_to(at(2026, 11, 26, 10, 0, 1))
    return a, b


def test_a_month_of_one_customer_from_its_history(facade: Aftercare, november: tuple[int, int]) -> None:
    figures = facade.month_figures(customer="Demo Customer", month="2026-11", actor=MANAGER)
    assert figures["tickets"] == {"opened": 2, "closed": 1, "open_at_end": 1}
    assert figures["by_category"] == [{"key": "fault", "count": 2}]
    assert figures["by_severity"] == [{"key": 3, "count": 2}]
    # each clock counts once, in the month it stopped or breached
    assert figures["sla"] == {"triage": {"met": 2, "breached": 0, "rate": 1.0},
                              "response": {"met": 1, "breached": 1, "rate": 0.5},
                              "resolve": {"met": 1, "breached": 1, "rate": 0.5},
                              "callback": {"met": 1, "breached": 0, "rate": 1.0}}
    # A: answered after 0.5 h; resolved after 20 working hours (Mon 10-18, Tue 9-18, Wed 9-12) less the 8 the
    # customer spent testing the first fix
    assert figures["times"] == {"response": {"count": 1, "mean_hours": 0.5, "p90_hours": 0.5},
                                "resolve": {"count": 1, "mean_hours": 12.0, "p90_hours": 12.0}}
    assert [(b["number"], b["kind"]) for b in figures["breaches"]] == [
        ("AC-2026-000002", "response"), ("AC-2026-000002", "resolve")]
    assert figures["fault_types"] == [{"key": "login", "count": 1}]
    assert figures["modules"] == [{"key": "门诊收费", "count": 1}]
    sat = figures["satisfaction"]
    assert (sat["count"], sat["average"], sat["share_4_5"], sat["survey_score_100"]) == (1, 4.0, 1.0, 100.0)
    assert (sat["target_share"], sat["target_survey"]) == (0.85, 90)


def test_another_customer_and_another_month_count_nothing(facade: Aftercare, november: tuple[int, int]) -> None:
    other = facade.month_figures(customer="青山医院", month="2026-11", actor=MANAGER)
    assert other["tickets"] == {"opened": 0, "closed": 0, "open_at_end": 0}
    assert other["sla"]["resolve"] == {"met": 0, "breached": 0, "rate": None}
    assert other["times"]["resolve"]["mean_hours"] is None
    october = facade.month_figures(customer="Demo Customer", month="2026-10", actor=MANAGER)
    assert october["tickets"]["opened"] == 0 and october["breaches"] == []
    everyone = facade.month_figures(customer=None, month="2026-11", actor=MANAGER)
    assert everyone["customer"] is None
    assert everyone["customers"] == [{"customer": "Demo Customer", "opened": 2, "closed": 1, "breaches": 2}]


def test_the_dashboard_now(facade: Aftercare, november: tuple[int, int], clock: FakeClock) -> None:
    board = facade.dashboard(actor=MANAGER)
    assert (board["month"], board["previous_month"]) == ("2026-11", "2026-10")
    assert board["open"]["total"] == 1
    assert board["open"]["by_severity"] == [{"key": 3, "count": 1}]
    assert board["breached_now"] == 1 and board["at_risk_now"] == 0
    assert board["sla"]["this_month"]["resolve"]["rate"] == 0.5
    assert board["sla"]["last_month"]["resolve"]["rate"] is None
    assert board["times"]["this_month"]["resolve"]["mean_hours"] == 12.0
    assert board["satisfaction"]["this_month"]["average"] == 4.0
    workers = {w["user"]: w for w in board["workload"]}
    assert set(workers) >= {"engineer", "expert"}
    assert board["unassigned"] == [{"key": "engineer", "count": 1}]  # B's response, past due, in the pool
    with pytest.raises(Forbidden):
        facade.dashboard(actor=Actor("engineer", "engineer"))


def test_a_fault_across_the_national_day_holiday(desk: Desk, facade: Aftercare, clock: FakeClock) -> None:
    clock.set(at(2026, 9, 30, 17))  # the eve of 国庆 (Oct 1-7 off): response due Oct 8 12:00
    tid = desk.create()
    desk.triage(tid, severity=3)
    desk.travel_to(at(2026, 10, 8, 11))
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    desk.travel_to(at(2026, 10, 9, 10))
    desk.complete(tid, "engineer_resolution", RESOLVED)
    october = facade.month_figures(customer="Demo Customer", month="2026-10", actor=MANAGER)
    # answered after 1 + 2 working hours (Sep 30 17-18, Oct 8 9-11), resolved after 1 + 9 + 1 (Oct 9 9-10):
    # the seven holidays count for nothing
    assert october["times"]["response"] == {"count": 1, "mean_hours": 3.0, "p90_hours": 3.0}
    assert october["times"]["resolve"] == {"count": 1, "mean_hours": 11.0, "p90_hours": 11.0}
    assert october["sla"]["response"] == {"met": 1, "breached": 0, "rate": 1.0}
    september = facade.month_figures(customer="Demo Customer", month="2026-09", actor=MANAGER)
    assert september["sla"]["triage"]["met"] == 1 and september["sla"]["response"]["met"] == 0


def test_bad_months_and_unknown_customers_are_named(facade: Aftercare) -> None:
    with pytest.raises(ValidationFailed) as failed:
        facade.month_figures(customer=None, month="2026-13", actor=MANAGER)
    assert failed.value.details["errors"][0]["field"] == "month"
    with pytest.raises(NotFound):
        facade.month_figures(customer="没有这个客户", month="2026-11", actor=MANAGER)
    with pytest.raises(ValueError):
        Period.of("2026-1")


def test_periods_are_beijing_months_and_the_90th_percentile_is_a_nearest_rank() -> None:
    november = Period.of("2026-11")
    assert (november.start, november.end) == (at(2026, 11, 1), at(2026, 12, 1))
    assert Period.of("2026-01").previous().month == "2025-12"
    assert at(2026, 11, 30, 23, 59) in november and at(2026, 12, 1) not in november
    assert summary([1.0] * 9 + [10.0]) == {"count": 10, "mean_hours": 1.9, "p90_hours": 1.0}
    assert summary([1.0] * 8 + [10.0, 20.0])["p90_hours"] == 10.0
