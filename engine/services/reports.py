"""The dashboard and the monthly service report (月度服务报告): the figures, the report cases the scheduler starts on
the first working day of each month for every customer with an active contract, and the reports themselves."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from .. import repository
from ..calendar import SHANGHAI, get_calendar
from ..errors import Forbidden, NotFound, ValidationFailed
from ..figures import Period
from ..incidents import StartFailed
from ..kernel import Kernel
from ..models import Contract, Customer, Deployment, MonthlyReport, Ticket
from ..queries import iso
from ..reports import REPORT_PROCESS, dashboard, month_figures
from ..start_backoff import StartBackOff
from ..users import SYSTEM, Actor
from .base import Service

OVERSEERS = ("manager", "process_owner", "admin")
START_HOUR = 9  # Beijing time on the first working day


def first_working_day(year: int, month: int) -> date:
    """The first working day of a month on the shared working calendar (holidays and make-up days known)."""
    calendar, day = get_calendar("working"), date(year, month, 1)
    for _ in range(31):
        if calendar.is_workday(day):  # type: ignore[attr-defined]
            return day
        day += timedelta(days=1)
    return date(year, month, 1)


def report_due(period: Period) -> datetime:
    """When the report of `period` is started: 09:00 Beijing time on the first working day of the next month."""
    following = Period.containing(period.end)
    start = following.start.astimezone(SHANGHAI)
    return datetime.combine(first_working_day(start.year, start.month), time(START_HOUR), SHANGHAI)


class ReportService(Service):
    """Figures for managers and the monthly service reports."""

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.backoff = StartBackOff()

    def dashboard(self, *, actor: Actor) -> dict[str, Any]:
        """The managers' dashboard: the whole desk now, this month against last month."""
        if actor.role not in OVERSEERS:
            raise Forbidden("the dashboard is for service managers, process owners and administrators")
        with self.uow(write=False) as session:
            return dashboard(session, self.clock.now())

    def month_figures(self, *, customer: str | None, month: str | None, actor: Actor) -> dict[str, Any]:
        """A month's figures of one customer (by name), or of all customers when `customer` is empty."""
        _staff(actor)
        period = self.period(month)
        with self.uow(write=False) as session:
            return month_figures(session, period, _customer(session, customer), self.clock.now())

    def period(self, month: str | None) -> Period:
        """The month asked for, the previous month (Beijing time) when none; 422 naming the field otherwise."""
        if not month:
            return Period.containing(self.clock.now()).previous()
        try:
            return Period.of(month.strip())
        except ValueError as exc:
            raise ValidationFailed("the month is not valid", [{"field": "month", "message": str(exc)}]) from None

    def monthly_report(self, *, customer: str, month: str | None, actor: Actor) -> dict[str, Any] | None:
        """The report of a customer and month as staff read it (with the internal note), or None if none began."""
        _staff(actor)
        period = self.period(month)
        with self.uow(write=False) as session:
            found = _customer(session, customer)
            if found is None:
                raise ValidationFailed("name the customer", [{"field": "customer", "message": "required"}])
            report = session.scalar(select(MonthlyReport).where(
                MonthlyReport.customer_id == found.id, MonthlyReport.month == period.month))
            return _document(session, report, found) if report else None

    def monthly_report_for_ticket(self, *, ticket_id: int) -> dict[str, Any] | None:
        """The report a monthly report ticket reviews and sends, or None for any other ticket."""
        with self.uow(write=False) as session:
            report = session.scalar(select(MonthlyReport).where(MonthlyReport.ticket_id == ticket_id))
            if report is None:
                return None
            return _document(session, report, session.get(Customer, report.customer_id))

    def list_monthly_reports(self, *, month: str | None, actor: Actor) -> list[dict[str, Any]]:
        """The reports begun for a month, one per customer."""
        _staff(actor)
        period = self.period(month)
        with self.uow(write=False) as session:
            rows = session.execute(select(MonthlyReport, Customer.name, Ticket).join(
                Customer, Customer.id == MonthlyReport.customer_id).outerjoin(
                Ticket, Ticket.id == MonthlyReport.ticket_id).where(MonthlyReport.month == period.month)
                .order_by(Customer.name)).all()
            return [{"customer": name, "month": r.month, "number": t.number if t else None,
                     "ticket_id": r.ticket_id, "status": t.status if t else None, "reviewed_by": r.reviewed_by,
                     "sent_at": iso(r.sent_at)} for r, name, t in rows]

    def start_due_reports(self, *, limit: int = 20) -> int:
        """Start last month's report for every customer with a contract active in that month, once the first
        working day of this month has come (09:00 Beijing time); the number started. (customer, month) is unique:
        two schedulers never start one report twice; a month missed while the server was down starts late. A month
        that ended before the desk began (its first deployment or ticket) has nothing to report and starts none.

        Each report starts in a unit of work of its own (the figures and a diagram running to its CPU budget hold the
        SQLite writer for one report, not the whole tick), after the customer is found still unreported under its
        row lock. A customer whose report could not start is left alone for ten minutes (engine/start_backoff.py,
        in this process): its month's figures are not computed again every tick, the customers behind it start,
        and the overseers have a notice (engine/incident_notices.py)."""
        now = self.clock.now()
        period = Period.containing(now).previous()
        if now < report_due(period):
            return 0
        waiting = [customer_id for customer_id, month in self.backoff.waiting(now) if month == period.month]
        with self.uow(write=False) as session:  # the idle tick: one indexed read, no write lock
            ids = session.scalars(_unreported(period).where(Customer.id.notin_(waiting)).limit(limit)).all()
            if not ids or repository.latest_version(session, REPORT_PROCESS) is None:
                return 0
            if not _desk_running_in(session, period):
                return 0
        started = 0
        for customer_id in ids:
            try:
                with self.uow() as session:  # FOR NO KEY UPDATE: new tickets of the customer need not wait
                    customer = session.scalar(select(Customer).where(Customer.id.in_(
                        _unreported(period).where(Customer.id == customer_id))).with_for_update(
                        skip_locked=True, key_share=True))
                    if customer is None:  # another scheduler has it, or started it meanwhile
                        continue
                    self.start_report(session, customer, period)
            except Exception as exc:
                self.backoff.failed((customer_id, period.month), now)  # tried again in ten minutes; a notice says why
                if not isinstance(exc, StartFailed):  # not the diagram's: the worker logs it
                    raise
                continue
            started += 1
        return started

    def start_report(self, session: Session, customer: Customer, period: Period) -> MonthlyReport:
        """Freeze the month's figures and start the review case, in the caller's unit of work."""
        now = self.clock.now()
        figures = month_figures(session, period, customer, now)
        report = MonthlyReport(customer_id=customer.id, month=period.month, figures=figures, created_at=now)
        session.add(report)
        session.flush()  # (customer, month) is unique: a second scheduler racing past fails here
        sla = figures["sla"]
        ticket = self.kernel.start_case(
            session, process_id=REPORT_PROCESS, customer=customer, contact_name=customer.name,
            contact_email=customer.email or "", channel="monthly_report",
            title=f"月度服务报告 {period.month} Monthly service report · {customer.name}",
            description=(f"{customer.name} {period.month} 月度服务报告：请审核数据，填写分析与改进措施后发送给客户。"
                         f"Monthly service report of {customer.name} for {period.month}: review the figures, write "
                         "the analysis and the improvement measures, then send it to the customer."),
            actor=SYSTEM, prefix="YB",
            extra={"report_month": period.month, "tickets_opened": figures["tickets"]["opened"],
                   "tickets_closed": figures["tickets"]["closed"], "breach_count": len(figures["breaches"]),
                   "resolve_rate": _percent(sla["resolve"]["rate"]), "response_rate": _percent(sla["response"]["rate"]),
                   "satisfaction_average": figures["satisfaction"]["average"]})
        report.ticket_id = ticket.id
        return report


def _desk_running_in(session: Session, period: Period) -> bool:
    """Whether the desk had begun before `period` ended: a desk installed on the 23rd reports that month, not the
    months before it existed."""
    began = [moment for moment in (session.scalar(select(func.min(Deployment.created_at))),
                                   session.scalar(select(func.min(Ticket.created_at)))) if moment is not None]
    return bool(began) and min(began) < period.end


def _unreported(period: Period) -> Any:
    """Customers with a contract active during `period` and no report for it yet."""
    first, last = period.start.astimezone(SHANGHAI).date(), (period.end.astimezone(SHANGHAI) - timedelta(days=1)).date()
    return select(Customer.id).where(
        exists().where(Contract.customer_id == Customer.id, Contract.active.is_(True),
                       Contract.starts_on <= last, Contract.ends_on >= first),
        ~exists().where(and_(MonthlyReport.customer_id == Customer.id, MonthlyReport.month == period.month)),
    ).order_by(Customer.id)


def _document(session: Session, report: MonthlyReport, customer: Customer | None) -> dict[str, Any]:
    ticket = session.get(Ticket, report.ticket_id) if report.ticket_id else None
    return {"customer": customer.name if customer else "", "month": report.month,
            "number": ticket.number if ticket else None, "ticket_id": report.ticket_id,
            "status": ticket.status if ticket else None, "figures": report.figures, "analysis": report.analysis,
            "measures": report.measures, "internal_note": report.internal_note, "reviewed_by": report.reviewed_by,
            "sent_at": iso(report.sent_at), "created_at": iso(report.created_at)}


def _customer(session: Session, name: str | None) -> Customer | None:
    if not name or not name.strip():
        return None
    customer = session.scalar(select(Customer).where(Customer.name == name.strip()))
    if customer is None:
        raise NotFound("no such customer", customer=name.strip()[:200])
    return customer


def _staff(actor: Actor) -> None:
    if actor.kind not in ("staff", "system"):
        raise Forbidden("monthly reports are for staff")


def _percent(rate: float | None) -> str:
    return f"{rate * 100:.1f} %" if rate is not None else "—"
