"""The task page renders a task's instructions with the case variables the task sees."""
from __future__ import annotations

import re
from datetime import datetime

from fastapi.testclient import TestClient

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.api.test_attachments import staff_login
from tests.engine.test_inspection import PLAN, _inspection_tickets
from tests.support import Desk


def test_the_checklist_page_shows_the_planned_visit_date(client: TestClient, facade: Aftercare,
                                                         clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    contract = next(c for c in facade.list_contracts() if c["number"] == "HT-2026-003")
    clock.set(datetime.fromisoformat(contract["next_inspection_at"]))
    facade.start_due_inspections()
    [ticket] = _inspection_tickets(facade)
    desk.complete(ticket.id, "plan_inspection", PLAN)
    staff_login(client, "engineer")
    page = client.get(f"/tasks/{desk.task(ticket.id, 'perform_inspection')['id']}")
    [instructions] = re.findall(r'<div class="instructions">(.*?)</div>', page.text, re.S)
    assert "上门日期 <strong>2026-11-25</strong>" in instructions and "上午 9 点到机房" in instructions
