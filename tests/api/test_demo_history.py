"""The demo's month of history: last month's stories replayed through the real procedures, once, so a new user's
dashboard and monthly report have figures; its e-mails belong to the past and are not sent."""
from __future__ import annotations

from datetime import datetime

from api.demo_history import STORIES, load_demo_history
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.models import OutboxMessage
from engine.users import Actor
from tests.conftest import SHANGHAI

MANAGER = Actor("manager", "manager")


def test_last_month_is_replayed_once(facade: Aftercare, clock: FakeClock) -> None:
    now = datetime(2026, 12, 6, 10, tzinfo=SHANGHAI)
    clock.set(now)
    assert load_demo_history(facade.settings, now) == len(STORIES)
    assert load_demo_history(facade.settings, now) == 0  # the desk has tickets now: nothing is added

    november = facade.month_figures(customer=None, month="2026-11", actor=MANAGER)
    assert november["tickets"]["opened"] == len(STORIES)
    assert november["tickets"]["open_at_end"] == len([s for s in STORIES if s.open or s.recurred])
    assert {row["key"] for row in november["fault_types"]} >= {"login", "performance", "interface"}
    assert november["breaches"] and all(b["number"].startswith("AC-2026-") for b in november["breaches"])
    assert november["satisfaction"]["count"] >= 8
    assert [r["title"] for r in november["recurrences"]] == [s.title for s in STORIES if s.recurred]
    held = {w["user"]: w["open_tasks"] for w in facade.dashboard(actor=MANAGER)["workload"]}
    assert held["engineer"] >= 2

    def unsent(session: object) -> int:
        return session.query(OutboxMessage).filter(  # type: ignore[attr-defined]
            OutboxMessage.status.in_(("pending", "held")), OutboxMessage.created_at < now).count()

    assert facade.run_in_unit(unsent) == 0
