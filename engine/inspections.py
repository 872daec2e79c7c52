"""Inspections (系统巡检): started by the scheduler on each contract's cadence, with no cron; the report
(系统巡检报告) is projected from the case; risks marked for action become linked maintenance requests."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import repository
from .calendar import SHANGHAI
from .clock import Clock
from .contracts import next_inspection
from .errors import NotFound
from .models import Contract, Customer, Inspection, Ticket
from .queries import iso
from .runtime import to_datetime
from .uow import UnitOfWork
from .users import SYSTEM, Actor

log = logging.getLogger("aftercare.inspections")
INSPECTION_PROCESS = "inspection"
CHECKLIST_FIELDS = ("server_status", "cpu_usage", "memory_usage", "disk_usage", "backup_ok", "last_restore_test",
                    "function_stability", "security_patches", "patch_notes")


class InspectionVerbs:
    """Inspection verbs of the facade (mixed into Aftercare)."""

    uow: UnitOfWork
    clock: Clock

    def start_due_inspections(self, *, limit: int = 20) -> int:
        """Start the inspection of every active contract whose next inspection is due; the number started.

        The contract row is locked (PostgreSQL: SKIP LOCKED, SQLite: the write transaction) and moved to its
        next date in the same unit of work that starts the case, and (contract, due time) is unique: two
        schedulers never start one inspection twice. Periods missed while the server was down give one
        inspection, not one per period."""
        now = self.clock.now()
        with self.uow(write=False) as session:  # the idle tick: one indexed read, no write lock
            if session.scalar(_due_contracts(now).with_only_columns(Contract.id).limit(1)) is None:
                return 0
            if repository.latest_version(session, INSPECTION_PROCESS) is None:
                return 0
        started = 0
        with self.uow() as session:
            due = session.scalars(_due_contracts(now).order_by(Contract.next_inspection_at).limit(limit)
                                  .with_for_update(skip_locked=True)).all()
            for contract in due:
                due_at = contract.next_inspection_at
                assert due_at is not None
                contract.next_inspection_at = next_inspection(contract.starts_on, contract.ends_on,
                                                              contract.inspection_months, max(now, due_at))
                customer = session.get(Customer, contract.customer_id)
                if customer is None or session.scalar(select(Inspection.id).where(
                        Inspection.contract_id == contract.id, Inspection.due_at == due_at)) is not None:
                    continue
                self._start_inspection(session, contract, customer, due_at)
                started += 1
        return started

    def _start_inspection(self, session: Session, contract: Contract, customer: Customer, due_at: datetime) -> None:
        inspection = Inspection(contract_id=contract.id, due_at=due_at, report={}, created_at=self.clock.now())
        session.add(inspection)
        session.flush()  # (contract, due time) is unique: a second scheduler racing past the lock fails here
        local = due_at.astimezone(SHANGHAI)
        ticket = self._start_case(  # type: ignore[attr-defined]
            session, process_id=INSPECTION_PROCESS, customer=customer, contact_name=customer.name,
            contact_email=customer.email or "", channel="inspection",
            title=f"系统巡检 {local:%Y-%m} Inspection · {contract.number}",
            description=(f"合同 {contract.number} 的定期巡检（每 {contract.inspection_months} 个月）。"
                         f"Scheduled inspection of contract {contract.number} (every {contract.inspection_months} "
                         "months)."),
            actor=SYSTEM, contract=contract, prefix="XJ",
            extra={"inspection_due": due_at.isoformat(), "inspection_months": contract.inspection_months,
                   "contract_number": contract.number})
        inspection.ticket_id = ticket.id

    def inspection_report(self, *, ticket_id: int, actor: Actor) -> dict[str, Any]:
        """The system inspection report (系统巡检报告) of an inspection ticket."""
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id)
            inspection = session.scalar(select(Inspection).where(Inspection.ticket_id == ticket_id))
            if ticket is None or inspection is None:
                raise NotFound("no inspection for this ticket", ticket_id=ticket_id)
            return report_dict(session, ticket, inspection)

    def list_inspections(self, *, contract: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Inspections, newest first, optionally of one contract."""
        with self.uow(write=False) as session:
            query = (select(Inspection, Contract.number, Ticket).join(Contract, Contract.id == Inspection.contract_id)
                     .join(Ticket, Ticket.id == Inspection.ticket_id))
            if contract:
                query = query.where(Contract.number == contract)
            rows = session.execute(query.order_by(Inspection.due_at.desc()).limit(limit)).all()
            return [{"ticket_id": t.id, "number": t.number, "contract_number": number, "due_at": iso(i.due_at),
                     "status": t.status, "engineer": i.report.get("engineer"), "visit_date": i.report.get("visit_date"),
                     "risks": len(i.report.get("risks") or []), "signed_by": i.signed_by, "signed_at": iso(i.signed_at)}
                    for i, number, t in rows]


def _due_contracts(now: datetime) -> Any:
    return select(Contract).where(Contract.active.is_(True), Contract.next_inspection_at.is_not(None),
                                  Contract.next_inspection_at <= now)


def project_inspection(session: Session, ticket: Ticket, data: dict[str, Any], now: datetime) -> None:
    """Copy what the case knows into the inspection's report, keeping the tickets its risks opened."""
    inspection = session.scalar(select(Inspection).where(Inspection.ticket_id == ticket.id))
    if inspection is None:
        return
    old_risks = inspection.report.get("risks") or []
    risks = []
    for index, risk in enumerate(data.get("risks") or []):
        if not isinstance(risk, dict):
            continue
        known = old_risks[index] if index < len(old_risks) and isinstance(old_risks[index], dict) else {}
        risks.append({"description": str(risk.get("description", "")), "severity": risk.get("severity"),
                      "recommendation": str(risk.get("recommendation") or ""),
                      "action_needed": bool(risk.get("action_needed")),
                      "ticket_number": known.get("ticket_number"), "ticket_id": known.get("ticket_id")})
    inspection.report = {
        "engineer": data.get("engineer"), "visit_date": data.get("visit_date"),
        "visit_notes": data.get("visit_notes"),
        "checklist": {name: data.get(name) for name in CHECKLIST_FIELDS},
        "risks": risks, "summary": data.get("summary"), "report_at": data.get("report_at"),
        "signoff_comment": data.get("signoff_comment") or None,
    }
    if data.get("signed_at") and inspection.signed_at is None:
        inspection.signed_by = str(data.get("signed_by") or "")[:200] or None
        inspection.signed_at = to_datetime(data["signed_at"]) or now


def link_risk_ticket(session: Session, origin: Ticket, ref: Any, linked: Ticket) -> None:
    """Note on the report which ticket a risk opened."""
    inspection = session.scalar(select(Inspection).where(Inspection.ticket_id == origin.id))
    if inspection is None or not isinstance(ref, int):
        return
    risks = [dict(r) for r in inspection.report.get("risks") or []]
    if 0 <= ref < len(risks):
        risks[ref]["ticket_number"], risks[ref]["ticket_id"] = linked.number, linked.id
        inspection.report = {**inspection.report, "risks": risks}


def customer_report(session: Session, ticket: Ticket) -> dict[str, Any] | None:
    """The report for the customer's sign-off page, when the ticket is an inspection."""
    inspection = session.scalar(select(Inspection).where(Inspection.ticket_id == ticket.id))
    return report_dict(session, ticket, inspection) if inspection is not None else None


def report_dict(session: Session, ticket: Ticket, inspection: Inspection) -> dict[str, Any]:
    """The report as pages and the PDF show it."""
    contract = session.get(Contract, inspection.contract_id)
    customer = session.get(Customer, ticket.customer_id)
    report = inspection.report or {}
    empty = {name: None for name in CHECKLIST_FIELDS}
    return {"ticket_id": ticket.id, "number": ticket.number, "customer": customer.name if customer else "",
            "contract_number": contract.number if contract else None, "due_at": iso(inspection.due_at),
            "engineer": report.get("engineer"), "visit_date": report.get("visit_date"),
            "visit_notes": report.get("visit_notes"),
            "checklist": {**empty, **(report.get("checklist") or {})}, "risks": report.get("risks") or [],
            "summary": report.get("summary"), "report_at": report.get("report_at"),
            "signed_by": inspection.signed_by, "signed_at": iso(inspection.signed_at),
            "signoff_comment": report.get("signoff_comment"), "status": ticket.status}
