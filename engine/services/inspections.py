"""Inspections (系统巡检) started on each contract's cadence, and their reports."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import repository
from ..calendar import SHANGHAI
from ..contacts import contact_by_email
from ..contracts import next_inspection
from ..errors import NotFound
from ..incidents import StartFailed
from ..inspections import INSPECTION_PROCESS, due_contracts, report_dict
from ..kernel import Kernel
from ..models import Contract, Customer, Inspection, Ticket
from ..queries import iso
from ..start_backoff import StartBackOff
from ..users import SYSTEM, Actor
from .base import Service


class InspectionService(Service):
    """Inspections (系统巡检) started on each contract's cadence, and their reports."""

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.backoff = StartBackOff()

    def start_due_inspections(self, *, limit: int = 20) -> int:
        """Start the inspection of every active contract whose next inspection is due; the number started.

        Each start is a unit of work of its own (a diagram running to its CPU budget holds the SQLite writer for one
        start, not for the whole tick). In it the contract row is locked (PostgreSQL: SKIP LOCKED, SQLite: the write
        transaction), found still due and moved to its next date with the case's start, and (contract, due time) is
        unique: two schedulers never start one inspection twice. A contract whose inspection could not start is
        left alone for ten minutes (engine/start_backoff.py, in this process): the contracts behind it in the order
        of `next_inspection_at` start meanwhile, and the overseers have a notice (engine/incident_notices.py).
        Periods missed while the server was down give one inspection, not one per period."""
        now = self.clock.now()
        with self.uow(write=False) as session:  # the idle tick: one indexed read, no write lock
            ids = session.scalars(due_contracts(now).with_only_columns(Contract.id)
                                  .where(Contract.id.notin_(self.backoff.waiting(now)))
                                  .order_by(Contract.next_inspection_at, Contract.id).limit(limit)).all()
            if not ids or repository.latest_version(session, INSPECTION_PROCESS) is None:
                return 0
        started = 0
        for contract_id in ids:
            try:
                with self.uow() as session:
                    contract = session.scalar(due_contracts(now).where(Contract.id == contract_id)
                                              .with_for_update(skip_locked=True))
                    if contract is not None:  # another scheduler has it, or started it meanwhile
                        started += self._start_due(session, contract, now)
            except Exception as exc:
                self.backoff.failed(contract_id, now)  # still due: tried again in ten minutes, or after a fix
                if not isinstance(exc, StartFailed):  # not the diagram's: the worker logs it
                    raise
        return started

    def _start_due(self, session: Session, contract: Contract, now: datetime) -> int:
        """Move `contract` to its next inspection date and start the one due now, unless it exists; 1 if started."""
        due_at = contract.next_inspection_at
        assert due_at is not None
        contract.next_inspection_at = next_inspection(contract.starts_on, contract.ends_on,
                                                      contract.inspection_months, max(now, due_at))
        customer = session.get(Customer, contract.customer_id)
        if customer is None or session.scalar(select(Inspection.id).where(
                Inspection.contract_id == contract.id, Inspection.due_at == due_at)) is not None:
            return 0
        self._start_inspection(session, contract, customer, due_at)
        return 1

    def _start_inspection(self, session: Session, contract: Contract, customer: Customer, due_at: datetime) -> None:
        inspection = Inspection(contract_id=contract.id, due_at=due_at, report={}, created_at=self.clock.now())
        session.add(inspection)
        session.flush()  # (contract, due time) is unique: a second scheduler racing past the lock fails here
        local, months = due_at.astimezone(SHANGHAI), contract.inspection_months
        # title and description are the customer's to read (sign-off page, e-mails): in the language the ticket's
        # customer pages speak (engine/language.py), the contact's with the customer's address, else the customer's
        contact = contact_by_email(session, customer.email or "")
        usable = contact is not None and contact.active and contact.customer_id == customer.id
        if (contact.language if contact is not None and usable else customer.language) == "en":
            title = f"System inspection {local:%Y-%m} · {contract.number}"
            description = f"Scheduled inspection of contract {contract.number} (every {months} months)."
        else:
            title = f"系统巡检 {local:%Y-%m} · {contract.number}"
            description = f"合同 {contract.number} 的定期巡检（每 {months} 个月）。"
        ticket = self.kernel.start_case(
            session, process_id=INSPECTION_PROCESS, customer=customer, contact_name=customer.name,
            contact_email=customer.email or "", channel="inspection", title=title, description=description,
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
