"""Customers and contracts over the JSON API: anyone on staff reads, managers and admins write."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from engine.errors import Forbidden

from .deps import ApiActor, ApiRoute, DbId, Facade, api_actor
from .validation import Email, Language, Line, Tier

router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)], route_class=ApiRoute)
WRITERS = ("manager", "admin")


def _this_century(value: Any) -> Any:
    if not 2000 <= value.year <= 2099:  # a contract's dates and inspections; beyond, the calendar has no days
        raise ValueError("must be in the years 2000 to 2099")
    return value


Day = Annotated[date, AfterValidator(_this_century)]
Moment = Annotated[AwareDatetime, AfterValidator(_this_century)]


class CustomerCreate(BaseModel):
    name: Line = Field(min_length=1, max_length=200)
    tier: Tier = "standard"
    email: Email | None = None
    language: Language = "zh-CN"


class ContractSave(BaseModel):
    number: Line = Field(min_length=1, max_length=64)
    customer: Line = Field(min_length=1, max_length=200)
    tier: Tier = "standard"
    starts_on: Day
    ends_on: Day
    warranty_end: Day | None = None
    free_scope: list[Annotated[Line, Field(max_length=100)]] = Field(default_factory=list, max_length=50)
    calendar: Literal["working", "24x7"] = "working"
    inspection_months: int = Field(default=3, ge=1, le=24)
    # severity -> respond_within / resolve_within / sla_calendar (keys checked by engine/contracts.py)
    sla_overrides: dict[Annotated[str, Field(max_length=16)], dict[Annotated[str, Field(max_length=32)], Annotated[
        Line, Field(max_length=32)]]] = Field(default_factory=dict, max_length=3)
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
    at: Moment  # with an offset: 2027-03-01T09:00:00+08:00


@router.post("/contracts/{number}/inspection")
def schedule_inspection(number: Annotated[str, Path(min_length=1, max_length=64)], body: InspectionSchedule,
                        facade: Facade, actor: ApiActor) -> dict[str, Any]:
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
