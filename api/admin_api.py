"""Customers and contracts over the JSON API: anyone on staff reads, managers and admins write."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from engine.errors import Forbidden

from .deps import ApiActor, DbId, Facade, api_actor

router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)])
WRITERS = ("manager", "admin")


class CustomerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    tier: str = "standard"
    email: str | None = None
    language: str = "zh-CN"


class ContractSave(BaseModel):
    number: str = Field(min_length=1, max_length=64)
    customer: str
    tier: str = "standard"
    starts_on: date
    ends_on: date
    warranty_end: date | None = None
    free_scope: list[str] = Field(default_factory=list)
    calendar: str = "working"
    inspection_months: int = 3
    sla_overrides: dict[str, dict[str, str]] = Field(default_factory=dict)
    active: bool = True


def _writer(actor: Any) -> None:
    if actor.role not in WRITERS:
        raise Forbidden("only managers and admins may change customers and contracts")


@router.get("/customers")
def customers(facade: Facade) -> list[dict[str, Any]]:
    """All customers."""
    return facade.list_customers()


@router.post("/customers", status_code=201)
def save_customer(body: CustomerCreate, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Create or update a customer by name."""
    _writer(actor)
    return facade.add_customer(**body.model_dump())


@router.get("/contracts")
def contracts(facade: Facade, customer: str | None = None) -> list[dict[str, Any]]:
    """Contracts, optionally of one customer."""
    return facade.list_contracts(customer=customer)


@router.post("/contracts", status_code=201)
def save_contract(body: ContractSave, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Create or update a contract by number."""
    _writer(actor)
    return facade.save_contract(**body.model_dump())


class InspectionSchedule(BaseModel):
    at: datetime


@router.post("/contracts/{number}/inspection")
def schedule_inspection(number: str, body: InspectionSchedule, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Move a contract's next inspection (earlier or later); the scheduler starts it when due."""
    _writer(actor)
    return facade.schedule_inspection(number=number, at=body.at)


@router.get("/inspections")
def inspections(facade: Facade, contract: str | None = None) -> list[dict[str, Any]]:
    """Inspections, newest first, optionally of one contract."""
    return facade.list_inspections(contract=contract)


@router.get("/tickets/{ticket_id}/report")
def inspection_report(ticket_id: DbId, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """The system inspection report of an inspection ticket."""
    return facade.inspection_report(ticket_id=ticket_id, actor=actor)
