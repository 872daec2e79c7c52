"""The monthly service report procedure (processes/monthly_report.bpmn) end to end: the scheduler starts one report
per customer with an active contract on the first working day of the month, the manager reviews it, the customer
receives the PDF (without the internal note) over real SMTP, and the case is archived."""
from __future__ import annotations

from datetime import date, datetime
from email import message_from_bytes
from email.policy import default
from io import BytesIO

import pytest
from pypdf import PdfReader

from api.mail import Mailer
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.figures import Period
from engine.models import MonthlyReport, Ticket
from engine.services.reports import first_working_day, report_due
from engine.users import Actor
from tests.conftest import SHANGHAI
from tests.support import Desk, SmtpSink

MANAGER = Actor("manager", "manager")
REVIEW = {"analysis": "本月登录类故障最多，均由连接池耗尽引起。", "measures": "扩容连接池，增加监控告警。",
          "internal_note": "客户信息科配合度低，内部注意"}
ACTIVE = ["Demo Customer", "华东电网信息中心", "青山医院"]  # the demo's customers, each with an active contract


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def _reports(facade: Aftercare) -> list[tuple[str, str, str]]:
    return sorted((r["customer"], r["month"], r["status"])
                  for r in facade.list_monthly_reports(month="2026-11", actor=MANAGER))


def test_the_first_working_day_skips_weekends_and_holidays() -> None:
    assert first_working_day(2026, 12) == date(2026, 12, 1)  # a Tuesday
    assert first_working_day(2026, 10) == date(2026, 10, 8)  # 国庆 Oct 1-7
    assert first_working_day(2026, 11) == date(2026, 11, 2)  # Nov 1 is a Sunday
    assert report_due(Period.of("2026-12")) == at(2027, 1, 4, 9)  # 元旦 falls on a Friday


def test_the_scheduler_starts_one_report_per_customer_once(facade: Aftercare, clock: FakeClock, desk: Desk) -> None:
    clock.set(at(2026, 12, 1, 8, 59))
    assert facade.start_due_reports() == 0
    clock.set(at(2026, 12, 1, 9))
    assert facade.start_due_reports() == 3
    assert facade.start_due_reports() == 0
    assert _reports(facade) == [(name, "2026-11", "review") for name in sorted(ACTIVE)]
    report = facade.list_monthly_reports(month="2026-11", actor=MANAGER)[0]
    assert report["number"].startswith("YB-2026-")
    assert desk.names(report["ticket_id"]) == ["review_report"]
    assert desk.task(report["ticket_id"], "review_report")["role"] == "manager"
    # the reports' own tickets are not service tickets: the dashboard does not count them
    assert facade.dashboard(actor=MANAGER)["open"]["total"] == 0


def test_no_report_for_a_month_before_the_desk_began(facade: Aftercare, clock: FakeClock) -> None:
    # the desk was installed on 23 November: October has nothing to report, November does
    assert facade.start_due_reports() == 0
    assert facade.list_monthly_reports(month="2026-10", actor=MANAGER) == []
    clock.set(at(2026, 12, 1, 9))
    assert facade.start_due_reports() == 3


def test_a_late_scheduler_still_starts_last_months_report(facade: Aftercare, clock: FakeClock) -> None:
    clock.set(at(2026, 12, 9, 15))  # the server was down for a week
    assert facade.start_due_reports() == 3
    assert {r["month"] for r in facade.list_monthly_reports(month="2026-11", actor=MANAGER)} == {"2026-11"}


def test_review_sends_the_customer_the_pdf_without_the_internal_note(facade: Aftercare, clock: FakeClock,
                                                                     desk: Desk, smtp: SmtpSink) -> None:
    tid = desk.create()  # one fault in November, so the report has something to say
    desk.triage(tid, severity=3)
    clock.set(at(2026, 12, 1, 9))
    facade.start_due_reports()
    report = next(r for r in facade.list_monthly_reports(month="2026-11", actor=MANAGER)
                  if r["customer"] == "Demo Customer")
    desk.complete(report["ticket_id"], "review_report", REVIEW)

    Mailer(facade).send_pending()
    [subject] = [s for s in smtp.subjects("it@demo-customer.example") if "月度服务报告" in s]
    assert "2026-11" in subject
    [raw] = smtp.to("it@demo-customer.example")
    mail = message_from_bytes(raw.as_bytes(), policy=default)
    assert "扩容连接池" in mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    [pdf] = [part for part in mail.iter_attachments() if part.get_content_type() == "application/pdf"]  # type: ignore[attr-defined]
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(pdf.get_content())).pages)
    assert "Demo Customer" in text and "2026-11" in text
    assert "连接池耗尽" in text and "增加监控告警" in text
    assert "配合度低" not in text

    document = facade.monthly_report(customer="Demo Customer", month="2026-11", actor=MANAGER)
    assert document is not None
    assert document["internal_note"] == REVIEW["internal_note"]  # staff keep it
    assert document["reviewed_by"] == "manager" and document["sent_at"] == clock.now().isoformat()
    assert document["status"] == "archived"
    assert document["figures"]["tickets"]["opened"] == 1

    def row(session: object) -> tuple[str, str | None]:
        report_row = session.query(MonthlyReport).filter_by(ticket_id=report["ticket_id"]).one()  # type: ignore[attr-defined]
        ticket = session.get(Ticket, report["ticket_id"])  # type: ignore[attr-defined]
        return ticket.status, report_row.measures

    assert facade.run_in_unit(row) == ("archived", REVIEW["measures"])


def test_the_figures_are_frozen_when_the_report_starts(facade: Aftercare, clock: FakeClock, desk: Desk) -> None:
    clock.set(at(2026, 12, 1, 9))
    facade.start_due_reports()
    before = facade.monthly_report(customer="Demo Customer", month="2026-11", actor=MANAGER)
    assert before is not None and before["figures"]["tickets"]["opened"] == 0
    assert facade.monthly_report(customer="Demo Customer", month="2026-10", actor=MANAGER) is None

