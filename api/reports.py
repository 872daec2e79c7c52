"""The monthly service report (月度服务报告): its figures as JSON and the report as PDF under /api (bearer token),
and for logged-in staff the month's reports, one report as a page, and the same PDF. Every staff role may read.

A month without a reviewed report shows the live figures and says so; the customer's copy of the PDF never
contains the internal note."""
from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from engine.commands import Aftercare
from engine.users import Actor

from .deps import ApiActor, ApiRoute, Facade, api_actor
from .documents import pdf_response
from .report_pdf import monthly_report_pdf
from .security import StaffActor, staff_actor
from .staff import page

api_router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)], route_class=ApiRoute, tags=["oversight"])
pages = APIRouter(dependencies=[Depends(staff_actor)])


@api_router.get("/reports/monthly")
def month_figures(facade: Facade, actor: ApiActor, customer: str = "", month: str = "") -> dict[str, Any]:
    """The month's figures of one customer, or of all customers without `customer`; `month` is YYYY-MM, the
    previous month (Beijing time) when absent. A bad month answers 422 naming it, an unknown customer 404."""
    return facade.month_figures(customer=customer or None, month=month or None, actor=actor)


@api_router.get("/reports/monthly.pdf")
def month_pdf(facade: Facade, actor: ApiActor, customer: str = "", month: str = "", copy: str = "") -> Response:
    """The report as PDF: the customer's copy, or with `copy=internal` the staff copy with the internal note."""
    return _pdf(facade, actor, customer, month, internal=copy == "internal")


@pages.get("/reports/monthly.pdf")
def staff_month_pdf(facade: Facade, actor: StaffActor, customer: str = "", month: str = "",
                    copy: str = "") -> Response:
    """The same PDF for the staff pages' buttons (session login instead of a token)."""
    return _pdf(facade, actor, customer, month, internal=copy == "internal")


@pages.get("/reports/monthly", response_class=HTMLResponse)
def reports_page(request: Request, facade: Facade, actor: StaffActor, month: str = "") -> HTMLResponse:
    """A month's reports: the management report and one row per customer with a report, an active contract or
    tickets; the previous month unless `month` says otherwise."""
    figures = facade.month_figures(customer=None, month=month or None, actor=actor)
    shown = figures["month"]
    rows = report_rows(facade.list_monthly_reports(month=shown, actor=actor), figures.get("customers") or [],
                       facade.list_contracts(), shown)
    return page(request, "monthly_reports", actor, month=shown, previous=shift(shown, -1), next=shift(shown, 1),
                rows=rows, figures=figures)


@pages.get("/reports/monthly/view", response_class=HTMLResponse)
def report_view(request: Request, facade: Facade, actor: StaffActor, customer: str = "",
                month: str = "") -> HTMLResponse:
    """One customer's report (or the management report without `customer`) with figures, charts, the analysis,
    the measures and, for staff only, the internal note."""
    document = report_document(facade, actor, customer, month)
    return page(request, "monthly_report", actor, report=document, figures=document["figures"], show_internal=True)


def report_document(facade: Aftercare, actor: Actor, customer: str, month: str) -> dict[str, Any]:
    """The reviewed report of a customer and month, or a document of the live figures when none was started
    (`live` says which); for all customers always the live figures."""
    if customer:
        found = facade.monthly_report(customer=customer, month=month or None, actor=actor)
        if found is not None:
            return {**found, "live": False}
    figures = facade.month_figures(customer=customer or None, month=month or None, actor=actor)
    return {"customer": figures.get("customer"), "month": figures["month"], "number": None, "ticket_id": None,
            "status": None, "figures": figures, "analysis": None, "measures": None, "internal_note": None,
            "reviewed_by": None, "sent_at": None, "live": True}


def _pdf(facade: Aftercare, actor: Actor, customer: str, month: str, *, internal: bool) -> Response:
    document = report_document(facade, actor, customer, month)
    management = document["customer"] is None
    content = monthly_report_pdf(document, internal=internal or management)
    who = "全部客户" if management else document["customer"]
    response = pdf_response(content, f"monthly-report-{document['month']}.pdf")
    name = f"月度服务报告-{who}-{document['month']}{'-内部' if internal or management else ''}.pdf"
    response.headers["Content-Disposition"] += f"; filename*=UTF-8''{quote(name, safe='')}"
    return response


def shift(month: str, months: int) -> str:
    """YYYY-MM moved by a number of months."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def report_rows(reports: list[dict[str, Any]], counts: list[dict[str, Any]], contracts: list[dict[str, Any]],
                month: str) -> list[dict[str, Any]]:
    """One row per customer that has a report for the month, a contract active in it, or tickets in it."""
    first = date.fromisoformat(f"{month}-01").isoformat()
    last = date.fromisoformat(f"{shift(month, 1)}-01").isoformat()
    rows: dict[str, dict[str, Any]] = {}
    for contract in contracts:
        if contract.get("active") and contract["starts_on"] < last and contract["ends_on"] >= first:
            rows.setdefault(contract["customer"], {"customer": contract["customer"]})
    for count in counts:
        rows.setdefault(count["customer"], {"customer": count["customer"]}).update(
            opened=count.get("opened", 0), closed=count.get("closed", 0), breaches=count.get("breaches", 0))
    for report in reports:
        rows.setdefault(report["customer"], {"customer": report["customer"]})["report"] = report
    return [rows[name] for name in sorted(rows)]


router = APIRouter()  # what the app includes: the JSON routes with their token, the pages with their session
router.include_router(api_router)
router.include_router(pages)
