"""Customer contracts and when their inspections fall due."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from .. import repository
from ..contacts import is_placeholder
from ..contracts import check_contract, contract_dict, first_inspection
from ..errors import NotFound, ValidationFailed
from ..models import Contract, Customer
from .base import Service


class ContractService(Service):
    """Customer contracts and when their inspections fall due."""

    def save_contract(self, *, number: str, customer: str, tier: str = "standard", starts_on: date,
                      ends_on: date, warranty_end: date | None = None, free_scope: list[str] | None = None,
                      calendar: str = "working", inspection_months: int = 3,
                      sla_overrides: dict[str, Any] | None = None, active: bool = True) -> dict[str, Any]:
        """Create or update a contract by its number; the first inspection falls due one cadence after the start."""
        fields = {"tier": tier, "calendar": calendar, "starts_on": starts_on, "ends_on": ends_on,
                  "inspection_months": inspection_months, "sla_overrides": sla_overrides or {}}
        errors = check_contract(fields)
        with self.uow() as session:
            cust = repository.customer_by_name(session, customer)
            if cust is None or is_placeholder(cust):
                cust = None
                errors.append({"field": "customer", "message": f"no customer named {customer!r}"})
            if errors:
                raise ValidationFailed("the contract has errors", errors)
            assert cust is not None
            contract = session.scalar(select(Contract).where(Contract.number == number))
            if contract is None:
                contract = Contract(number=number, created_at=self.clock.now())
                session.add(contract)
            values = {"customer_id": cust.id, "tier": tier, "starts_on": starts_on, "ends_on": ends_on,
                      "warranty_end": warranty_end, "free_scope": free_scope or [], "calendar": calendar,
                      "inspection_months": inspection_months, "sla_overrides": sla_overrides or {}, "active": active}
            for name, value in values.items():
                setattr(contract, name, value)
            if contract.next_inspection_at is None:
                contract.next_inspection_at = first_inspection(starts_on, inspection_months, self.clock.now(), ends_on)
            session.flush()
            return contract_dict(contract, cust.name, self.clock.now().date())

    def schedule_inspection(self, *, number: str, at: datetime) -> dict[str, Any]:
        """Set when a contract's next inspection falls due (to bring it forward or put it off)."""
        if at.tzinfo is None:
            raise ValidationFailed("the time needs a timezone",
                                   [{"field": "at", "message": "give an offset, e.g. +08:00"}])
        with self.uow() as session:
            contract = session.scalar(select(Contract).where(Contract.number == number))
            if contract is None:
                raise NotFound("no such contract", number=number)
            contract.next_inspection_at = at
            customer = session.get(Customer, contract.customer_id)
            return contract_dict(contract, customer.name if customer else None, self.clock.now().date())

    def list_contracts(self, *, customer: str | None = None) -> list[dict[str, Any]]:
        """Contracts, optionally of one customer."""
        with self.uow(write=False) as session:
            query = select(Contract, Customer.name).join(Customer, Customer.id == Contract.customer_id)
            if customer:
                query = query.where(Customer.name == customer)
            today = self.clock.now().date()
            return [contract_dict(c, name, today) for c, name in session.execute(query.order_by(Contract.number))]
