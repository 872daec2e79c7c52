"""Contracts: a case runs under its customer's contract (tier, warranty, SLA overrides, inspection cadence)."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import ValidationFailed
from tests.support import Desk

SH = ZoneInfo("Asia/Shanghai")


def test_a_contract_override_beats_the_sla_table(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    tid = desk.create(customer="华东电网信息中心")
    desk.triage(tid, severity=1, onsite=True)
    ticket = desk.ticket(tid)
    assert ticket["tier"] == "premium"
    # the table says 4 h for a premium severity-1 fault; contract HT-2026-003 promises 2 h
    assert datetime.fromisoformat(ticket["sla"]["resolve_due"]) == datetime(2026, 11, 23, 12, 0, tzinfo=SH)


def test_without_override_the_table_applies(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    tid = desk.create(customer="Demo Customer")
    desk.triage(tid, severity=1, onsite=True)
    resolve = datetime.fromisoformat(desk.ticket(tid)["sla"]["resolve_due"])
    assert resolve == datetime(2026, 11, 23, 14, 0, tzinfo=SH)


def test_contracts_are_listed_with_warranty_state(facade: Aftercare) -> None:
    by_number = {c["number"]: c for c in facade.list_contracts()}
    assert by_number["HT-2025-018"]["in_warranty"] is True
    assert by_number["HT-2023-007"]["in_warranty"] is False
    assert by_number["HT-2026-003"]["tier"] == "premium"
    assert [c["number"] for c in facade.list_contracts(customer="青山医院")] == ["HT-2023-007"]


def test_first_inspection_is_one_cadence_out_on_a_working_day(facade: Aftercare) -> None:
    saved = facade.save_contract(number="HT-2026-900", customer="Demo Customer", starts_on=date(2026, 7, 1),
                                 ends_on=date(2027, 6, 30), inspection_months=3)
    # 2026-10-01 has passed (today is 2026-11-23), so the cadence moves on to 2027-01-01, 09:00 Beijing time,
    # rolled forward to working time.
    due = datetime.fromisoformat(saved["next_inspection_at"]).astimezone(SH)
    assert due.date() >= date(2027, 1, 1) and due.hour == 9 and due.weekday() < 5


def test_bad_contracts_name_their_fields(facade: Aftercare) -> None:
    with pytest.raises(ValidationFailed) as info:
        facade.save_contract(number="X", customer="Nobody", tier="gold", starts_on=date(2026, 1, 2),
                             ends_on=date(2026, 1, 1), calendar="lunar", inspection_months=0,
                             sla_overrides={"9": {"resolve_within": "PT1H"}})
    assert {e["field"] for e in info.value.errors} == {"customer", "tier", "ends_on", "calendar",
                                                      "inspection_months", "sla_overrides"}
