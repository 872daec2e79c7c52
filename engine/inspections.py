"""Inspections (系统巡检): started by the scheduler on each contract's cadence, with no cron; the report
(系统巡检报告) is projected from the case; risks marked for action become linked maintenance requests."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Contract, Customer, Inspection, Ticket
from .queries import iso
from .runtime import to_datetime

log = logging.getLogger("aftercare.inspections")
INSPECTION_PROCESS = "inspection"
CHECKLIST_FIELDS = ("server_status", "cpu_usage", "memory_usage", "disk_usage", "backup_ok", "last_restore_test",
                    "function_stability", "security_patches", "patch_notes")


def due_contracts(now: datetime) -> Any:
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
