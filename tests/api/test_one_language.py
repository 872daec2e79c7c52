"""One language per reader (issue 10, item 6): the customer's inspection report page, the staff notices by e-mail
and the contract admin page's errors speak the reader's language only; names and data stay as they were typed."""
from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.mail import Mailer, status_name
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.notifications import TEMPLATE_KINDS
from engine.outbox import Envelope
from tests.engine.test_inspection import CHECKLIST, _performed
from tests.support import Desk, SmtpSink, body, link_in

CJK = re.compile(r"[\u3400-\u9fff]")
WORD = re.compile(r"[A-Za-z]{3,}")


def _without(text: str, *data: str) -> str:
    """`text` without the names and data it shows (longest first, so no part of one is left behind)."""
    for value in sorted((d for d in data if d), key=len, reverse=True):
        text = text.replace(value, "")
    return text


def _visible(html: str) -> str:
    """The text a reader sees: no tags, no attributes other than the labels of table cells on a phone."""
    labels = " ".join(re.findall(r'data-label="([^"]*)"', html))
    return re.sub(r"<[^>]+>", " ", html) + " " + labels


# --- 2. the customer's inspection report ------------------------------------------------------------------------

def _report(page: str) -> str:
    match = re.search(r'<div class="inspection-report">.*?<table class="report-sign">.*?</table>', page, re.S)
    assert match, page
    return _visible(match.group(0))


DATA = ["华东电网信息中心", CHECKLIST["summary"], CHECKLIST["patch_notes"],
        *(r["description"] for r in CHECKLIST["risks"]), *(r["recommendation"] for r in CHECKLIST["risks"])]


def test_the_customer_reads_the_inspection_report_in_one_language(client: TestClient, facade: Aftercare,
                                                                  clock: FakeClock, smtp: SmtpSink) -> None:
    _performed(facade, clock, Desk(facade, clock))
    mailer = Mailer(facade)
    while mailer.send_pending():
        pass
    [mail] = [m for m in smtp.to("ops@east-grid.example") if "巡检报告" in body(m)]
    link = link_in(mail).replace("http://testserver", "")
    page = client.get(link).text
    # the ticket's own title and description are written in the customer's language too
    assert "系统巡检 2026-12 · HT-2026-003" in page and "Inspection ·" not in page and "Scheduled" not in page
    chinese = _report(page)
    assert "服务器运行状态" in chinese and "有隐患" in chinese and "签字后开维护工单" in chinese
    assert "CPU 使用率" in chinese and "未签字" in chinese
    # no English label: the only Latin words left are the engineer's user name and the unit names
    assert set(WORD.findall(_without(chinese, *DATA))) <= {"engineer", "CPU"}, chinese
    english = _report(client.get(link + "?lang=en").text)
    assert "Server status" in english and "Warning" in english and "A ticket opens on signing" in english
    assert "CPU usage" in english and "Not signed" in english
    assert not CJK.search(_without(english, *DATA)), english


# --- 3. staff notices in the recipient's language ---------------------------------------------------------------

CONTEXTS: dict[str, dict[str, Any]] = {
    "complaint_registered": {"due": "2026-11-24T02:00:00+00:00"},
    "deadline_breached": {"breach": "resolve", "task": "故障处理"},
    "escalation": {"level": 2, "reason": "resolve time exceeded", "role": "engineer"},
    "incident": {"element": "故障处理", "error": "系统还是登录不了",
                 "attempt": {"by": "customer", "task": "step", "title": "分类定级", "answer": {}}},
    "standby_summary_late": {"event_name": "财务系统上线", "duty_engineer": "engineer",
                             "summary_due": "2026-11-26T10:00:00+00:00", "role": "manager"},
    # the procedure's name is bilingual in the diagram; ids and the raw error are the diagram's own words
    "start_failed": {"procedure": "维护请求 Maintenance request", "process_id": "maintenance_request", "version": 2,
                     "element": "故障处理", "error": "系统还是登录不了", "source": "portal", "count": 3,
                     "attempt": {"customer": "王工", "title": "分类定级", "contact": "王工"}},
    "due_failed": {"procedure": "维护请求 Maintenance request", "version": 2, "element": "故障处理",
                   "expression": "1 // 0", "error": "系统还是登录不了"},
}


@pytest.mark.parametrize("template", sorted(TEMPLATE_KINDS))
def test_every_staff_notice_speaks_the_recipients_language(template: str, facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    ticket_id = desk.create()
    desk.triage(ticket_id, severity=2)
    ticket = desk.ticket(ticket_id)
    context = {"recipient": "liu", "task": "分类定级", "task_id": 1, "role": "service_desk", "due_at": None,
               "author": "王工", "excerpt": "系统还是登录不了", **CONTEXTS.get(template, {}), "ticket_id": ticket_id}
    mailer = Mailer(facade)
    mails = {lang: mailer.render(Envelope(id=0, ticket_id=ticket_id, to_addr="liu@aftercare.example",
                                          template=template, language=lang, context=context, attempts=0))
             for lang in ("zh-CN", "en")}
    data = [str(ticket["number"]), str(ticket["title"]), str(ticket["customer"]), str(ticket.get("contact_name")),
            "分类定级", "故障处理", "财务系统上线", "王工", "系统还是登录不了", "http://testserver",
            *(str(context[k]) for k in ("process_id",) if k in context)]  # an id the diagram names itself
    english = _without(str(mails["en"]["Subject"]) + "\n" + mails["en"].get_content(), *data)
    assert not CJK.search(english), english
    chinese = _without(str(mails["zh-CN"]["Subject"]) + "\n" + mails["zh-CN"].get_content(), *data)
    assert CJK.search(chinese)
    # Latin words left in Chinese: user names, the product, SLA, and URL paths
    allowed = {"liu", "engineer", "Aftercare", "SLA", "tickets", "tasks", "conversation", "testserver", "incidents",
               "API", "failures", "start", "due"}
    assert set(WORD.findall(chinese)) <= allowed, chinese


def test_a_digest_marks_what_was_dealt_with_in_the_recipients_language(facade: Aftercare, clock: FakeClock) -> None:
    ticket_id = Desk(facade, clock).create()
    number = Desk(facade, clock).ticket(ticket_id)["number"]
    item = {"template": "task_arrived", "kind": "task", "at": "2026-11-23T02:00:00+00:00", "ticket_id": ticket_id,
            "number": number, "title": "t", "customer": "c", "data": {"task": "Triage", "role": "service_desk"}}
    items = [item,  # a digest queued before items carried `settled` still renders
             {**item, "settled": None}, {**item, "settled": "taken", "taken_by": "engineer"}]
    mails = {lang: Mailer(facade).render(Envelope(id=0, ticket_id=None, to_addr="liu@aftercare.example",
                                                  template="digest", language=lang, attempts=0,
                                                  context={"recipient": "liu", "items": items}))
             for lang in ("zh-CN", "en")}
    english, chinese = mails["en"].get_content(), mails["zh-CN"].get_content()
    assert "1 of them was dealt with before this went out and comes last" in english
    assert english.index("Already dealt with:") < english.index("(taken by engineer)")
    assert not CJK.search(_without(english, number))
    assert "其中 1 条在汇总发出前已处理" in chinese and "（已由 engineer 认领）" in chinese


def test_a_ticket_status_in_a_customer_mail_is_in_one_language() -> None:
    assert status_name("in_progress", "zh-CN") == "处理中" and status_name("in_progress", "en") == "in progress"
    assert status_name("waiting_customer", "en") == "waiting for your answer"
    assert status_name("in_progress") == "处理中 in progress" and status_name("odd", "en") == "odd"


def test_a_notice_in_a_language_without_a_file_reads_the_chinese_one(facade: Aftercare, clock: FakeClock) -> None:
    ticket_id = Desk(facade, clock).create()
    mail = Mailer(facade).render(Envelope(id=0, ticket_id=ticket_id, to_addr="x@aftercare.example",
                                          template="triage_overdue", language="fr", context={"ticket_id": ticket_id},
                                          attempts=0))
    assert "分类定级超时" in str(mail["Subject"]) and "Triage" not in mail.get_content()


# --- 4. the contract admin page's errors ------------------------------------------------------------------------

def _login(client: TestClient, username: str) -> str:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf, "next": "/"})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/contracts").text).group(1)


def _errors(page: str) -> str:
    match = re.search(r'<div class="notice bad" role="alert">(.*?)</div>\s*'
                      r'(?:<table|<div class="table-scroll"|<p|<div class="notice ok")', page, re.S)
    assert match, page
    return _visible(match.group(1))


def test_contract_errors_speak_the_pages_language(client: TestClient) -> None:
    csrf = _login(client, "manager")
    bad = {"csrf": csrf, "number": "HT-2026-556", "customer": "青山医院", "tier": "gold", "calendar": "weekends",
           "starts_on": "2026-12-01", "ends_on": "2026-01-01", "inspection_months": "30"}
    chinese = client.post("/admin/contracts", data=bad)
    assert chinese.status_code == 422
    shown = _errors(chinese.text)
    assert "结束日期：不能早于开始日期" in shown and "巡检周期（月）：须为 1 到 24 个月" in shown
    assert "合同级别：只能是标准或高级" in shown
    assert not WORD.search(shown), shown  # "ends_on: must not be before starts_on" was shown on the Chinese page
    english = _errors(client.post("/admin/contracts?lang=en", data=bad).text)
    assert "Ends: must not be before the start date" in english and "Tier: must be standard or premium" in english
    assert not CJK.search(english), english
    dates = _errors(client.post("/admin/contracts?lang=zh-CN", data={**bad, "starts_on": "12/01/2026",
                                                                        "ends_on": ""}).text)
    assert "开始日期：请按 YYYY-MM-DD 格式填写日期。" in dates and "结束日期：必填。" in dates
    assert not WORD.search(dates.replace("YYYY-MM-DD", "")), dates
