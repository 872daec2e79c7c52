"""Inspection pages for staff: the list of inspections and the system inspection report (系统巡检报告) as a
printable page and a PDF."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from .deps import DbId, Facade
from .security import StaffActor, staff_actor
from .staff import page

router = APIRouter(dependencies=[Depends(staff_actor)])


@router.get("/inspections", response_class=HTMLResponse)
def inspections_page(request: Request, facade: Facade, actor: StaffActor, contract: str = "") -> HTMLResponse:
    """Every inspection, newest first, with the contracts' next due dates."""
    return page(request, "inspections", actor, inspections=facade.list_inspections(contract=contract or None),
                contracts=facade.list_contracts(), contract=contract)


@router.get("/tickets/{ticket_id}/report", response_class=HTMLResponse)
def report_page(ticket_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """The inspection report of an inspection ticket, ready to print."""
    report = facade.inspection_report(ticket_id=ticket_id, actor=actor)
    return page(request, "inspection_report", actor, report=report)


@router.get("/tickets/{ticket_id}/report.pdf")
def report_pdf(ticket_id: DbId, facade: Facade, actor: StaffActor) -> Response:
    """The inspection report as a PDF."""
    from .pdf import inspection_report_pdf

    report = facade.inspection_report(ticket_id=ticket_id, actor=actor)
    filename = f"{report['number']}-inspection-report.pdf"
    return Response(inspection_report_pdf(report), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})
