"""Customer contracts: what a case inherits from the contract it runs under (tier, warranty, scope, calendar)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import calendar as business_calendar
from .models import Contract, Customer

TIERS = ("standard", "premium")
SLA_KEYS = ("respond_within", "resolve_within", "sla_calendar")


def active_contract(session: Session, customer_id: int, today: date) -> Contract | None:
    """The customer's contract in force today (the latest-starting one if several overlap)."""
    return session.scalar(select(Contract).where(
        Contract.customer_id == customer_id, Contract.active.is_(True), Contract.starts_on <= today,
        Contract.ends_on >= today).order_by(Contract.starts_on.desc()).limit(1))


def case_facts(contract: Contract | None, customer: Customer, today: date) -> dict[str, Any]:
    """Variables a case starts with, for the SLA and entitlement decision tables."""
    if contract is None:
        return {"tier": customer.tier, "contract_number": None, "in_warranty": False, "free_scope": [],
                "contract_calendar": "working", "sla_overrides": {}}
    return {"tier": contract.tier, "contract_number": contract.number,
            "in_warranty": bool(contract.warranty_end and contract.warranty_end >= today),
            "free_scope": list(contract.free_scope), "contract_calendar": contract.calendar,
            "sla_overrides": dict(contract.sla_overrides)}


def contract_dict(contract: Contract, customer_name: str | None, today: date) -> dict[str, Any]:
    """A contract as the API and admin pages show it."""
    return {"id": contract.id, "number": contract.number, "customer": customer_name, "tier": contract.tier,
            "starts_on": contract.starts_on.isoformat(), "ends_on": contract.ends_on.isoformat(),
            "warranty_end": contract.warranty_end.isoformat() if contract.warranty_end else None,
            "in_warranty": bool(contract.warranty_end and contract.warranty_end >= today),
            "free_scope": contract.free_scope, "calendar": contract.calendar,
            "inspection_months": contract.inspection_months,
            "next_inspection_at": contract.next_inspection_at.isoformat() if contract.next_inspection_at else None,
            "sla_overrides": contract.sla_overrides, "active": contract.active}


def check_contract(fields: dict[str, Any]) -> list[dict[str, str]]:
    errors = []
    if fields["tier"] not in TIERS:
        errors.append({"field": "tier", "message": f"must be one of {', '.join(TIERS)}"})
    if fields["calendar"] not in ("working", "24x7"):
        errors.append({"field": "calendar", "message": "must be working or 24x7"})
    if fields["ends_on"] < fields["starts_on"]:
        errors.append({"field": "ends_on", "message": "must not be before starts_on"})
    if not 1 <= fields["inspection_months"] <= 24:
        errors.append({"field": "inspection_months", "message": "must be 1 to 24 months"})
    for severity, values in fields["sla_overrides"].items():
        unknown = set(values) - set(SLA_KEYS)
        if severity not in ("1", "2", "3") or unknown:
            errors.append({"field": "sla_overrides", "message": f"keys are severities 1-3 with {', '.join(SLA_KEYS)}"})
    return errors


def first_inspection(starts_on: date, months: int, now: datetime, ends_on: date | None = None) -> datetime | None:
    """The first inspection after `now`: one cadence after the start, then every cadence."""
    return next_inspection(starts_on, ends_on, months, now)


def next_inspection(starts_on: date, ends_on: date | None, months: int, after: datetime) -> datetime | None:
    """Nine o'clock Beijing time on the first working day on or after the k-th cadence date from the start,
    for the smallest k that falls after `after`; None once the contract has ended. Counting from the start
    each time keeps the dates from drifting when one moves past a weekend or holiday."""
    working = business_calendar.get_calendar("working")
    k = 1
    while True:
        day = add_months(starts_on, k * months)
        if ends_on is not None and day > ends_on:
            return None
        start = datetime(day.year, day.month, day.day, 9, tzinfo=business_calendar.SHANGHAI)
        at = business_calendar.add_working_hours(start - timedelta(seconds=1), 0, working)
        if at > after:
            return at
        k += 1


def add_months(day: date, months: int) -> date:
    """`day` plus whole months, clamped to the month's last day."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    return date(year, month, 28)
