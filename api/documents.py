"""Service documents for staff as PDF: the change and extension development service form
(客户需求变更及扩展开发服务单) and the fault handling form (故障处理单)."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from engine.errors import NotFound

from .deps import DbId, Facade
from .pdf import change_service_form_pdf
from .security import StaffActor, staff_actor
from .service_form import fault_form_pdf

router = APIRouter(dependencies=[Depends(staff_actor)])


def pdf_response(content: bytes, filename: str) -> Response:
    """A PDF shown in the browser, with an ASCII file name for saving it."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in filename)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{safe}"'})


@router.get("/tickets/{ticket_id}/service-form.pdf")
def change_service_form(ticket_id: DbId, facade: Facade, actor: StaffActor) -> Response:
    """The ticket's service form (FastAPI runs it in a thread): the change and extension development service form
    of a change ticket, else the fault handling form (故障处理单) of a maintenance request."""
    try:
        record = facade.change_form(ticket_id=ticket_id, actor=actor)
    except NotFound:
        return pdf_response(*fault_form_pdf(facade, actor, ticket_id))
    return pdf_response(change_service_form_pdf(record), f"{record.get('number') or ticket_id}-service-form.pdf")
