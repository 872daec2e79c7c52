"""E-mails reach a real SMTP server, survive its outage, and the acceptance link works exactly once."""
from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

from fastapi.testclient import TestClient

from api.mail import Mailer
from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.support import Desk, SmtpSink, body, link_in, start_smtp

CONTACT = "wang@demo-customer.example"


def _resolved_fault(facade: Aftercare, clock: FakeClock) -> tuple[Desk, int]:
    desk = Desk(facade, clock)
    tid = desk.create()
    desk.triage(tid, severity=2)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    desk.complete(tid, "engineer_resolution", {"resolution": "已修复", "outcome": "resolved"})
    return desk, tid


def test_ticket_received_mail_carries_the_number(facade: Aftercare, clock: FakeClock, smtp: SmtpSink) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    assert Mailer(facade).send_pending() == 2  # the customer's acknowledgement and the desk's new-task notice
    number = desk.ticket(tid)["number"]
    [message] = smtp.to(CONTACT)
    assert number in smtp.subjects(CONTACT)[0]
    assert number in body(message) and "15" in body(message)
    assert desk.events(tid, "email_sent")[0]["to"] == CONTACT
    # dated when it was written, in Beijing time (RFC 5322 requires a Date)
    assert parsedate_to_datetime(str(message["Date"])) == clock.now() and str(message["Date"]).endswith("+0800")


def test_outage_delays_mail_and_loses_none(facade: Aftercare, clock: FakeClock, smtp: SmtpSink) -> None:
    port = smtp.port
    smtp.stop()  # the mail server is down
    desk = Desk(facade, clock)
    desk.create()
    desk.create()
    mailer = Mailer(facade)
    assert mailer.send_pending() == 0
    clock.advance(seconds=1)
    assert mailer.send_pending() == 0  # backing off, not hammering
    revived = start_smtp(port)
    try:
        clock.advance(minutes=1)
        # two acknowledgements and the desk's first new-task notice; the second notice, about another ticket
        # within the digest window, waits for the digest
        assert mailer.send_pending() == 3
        clock.advance(hours=1)
        assert mailer.send_pending() == 1
        assert mailer.send_pending() == 0
        assert len(revived.to(CONTACT)) == 2  # each once
    finally:
        revived.stop()


def test_temporary_smtp_refusal_is_retried(facade: Aftercare, clock: FakeClock, smtp: SmtpSink) -> None:
    smtp.refuse = True
    Desk(facade, clock).create()
    mailer = Mailer(facade)
    assert mailer.send_pending() == 0
    smtp.refuse = False
    clock.advance(minutes=1)
    assert mailer.send_pending() == 2 and len(smtp.to(CONTACT)) == 1


def test_acceptance_link_from_the_mail_completes_acceptance_once(facade: Aftercare, clock: FakeClock,
                                                                 smtp: SmtpSink, client: TestClient) -> None:
    desk, tid = _resolved_fault(facade, clock)
    Mailer(facade).send_pending()
    [request] = [m for m in smtp.to(CONTACT) if "验收" in smtp.subjects()[smtp.messages.index(m)]]
    link = link_in(request)
    path = re.sub(r"^https?://[^/]+", "", link)
    page = client.get(path)
    assert page.status_code == 200 and desk.ticket(tid)["number"] in page.text
    assert 'name="accepted"' in page.text
    done = client.post(path, data={"accepted": "true"})
    assert done.status_code == 200 and "谢谢" in done.text
    assert "callback" in desk.names(tid) and desk.ticket(tid)["accepted_at"]
    again = client.post(path, data={"accepted": "false", "reason": "x"})
    assert again.status_code == 410 and "此链接已使用过" in again.text and "already been used" not in again.text
    assert "callback" in desk.names(tid)


def test_rejection_without_reason_shows_the_field_error_and_keeps_the_link(
        facade: Aftercare, clock: FakeClock, smtp: SmtpSink, client: TestClient) -> None:
    desk, tid = _resolved_fault(facade, clock)
    Mailer(facade).send_pending()
    path = re.sub(r"^https?://[^/]+", "", link_in(smtp.to(CONTACT)[-1]))
    wrong = client.post(path, data={"accepted": "false"})
    assert wrong.status_code == 422 and 'id="err-reason"' in wrong.text
    assert desk.names(tid) == ["customer_acceptance"]
    assert client.post(path, data={"accepted": "false", "reason": "仍然报错"}).status_code == 200
    assert desk.names(tid) == ["engineer_resolution"]


def test_tampered_and_expired_links_get_a_clear_page(facade: Aftercare, clock: FakeClock, smtp: SmtpSink,
                                                     client: TestClient) -> None:
    _resolved_fault(facade, clock)
    Mailer(facade).send_pending()
    path = re.sub(r"^https?://[^/]+", "", link_in(smtp.to(CONTACT)[-1]))
    tampered = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    page = client.get(tampered)
    assert page.status_code == 404 and "此链接无效" in page.text and "not valid" not in page.text
    assert client.get("/c/garbage").status_code == 404
    clock.advance(days=30)
    expired = client.get(path)
    assert expired.status_code == 410 and "此链接已过期" in expired.text and "expired" not in expired.text


def test_staff_hear_of_new_tasks_in_their_own_language(facade: Aftercare, clock: FakeClock, smtp: SmtpSink) -> None:
    facade.add_user(username="alice", role="service_desk", password="pw", email="alice@aftercare.example",
                    language="en")
    Desk(facade, clock).create()
    Mailer(facade).send_pending()
    [chinese] = smtp.subjects("service_desk@aftercare.example")
    [english] = smtp.subjects("alice@aftercare.example")
    assert "新任务" in chinese and "分类定级" in chinese
    assert english.split("] ")[1].startswith("New task")


def test_the_holder_of_a_task_hears_when_its_deadline_passes(facade: Aftercare, clock: FakeClock,
                                                             smtp: SmtpSink) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    desk.triage(tid, severity=2)
    facade.claim_task(task_id=desk.task(tid, "engineer_response")["id"], actor=desk.actor("engineer"))
    desk.travel(hours=2, seconds=1)  # the 2-hour response deadline passes
    Mailer(facade).send_pending()
    assert any("时限已超" in s for s in smtp.subjects("engineer@aftercare.example"))


def test_odd_tokens_get_a_clear_page_not_a_500(client: TestClient) -> None:
    assert client.get("/c/abc.%C3%A9").status_code == 404
    assert client.get("/s/1.%C3%A9").status_code == 404


def test_a_message_that_cannot_be_built_is_set_aside_not_retried(facade: Aftercare, clock: FakeClock,
                                                                 smtp: SmtpSink) -> None:
    from engine import outbox

    desk = Desk(facade, clock)
    tid = desk.create()
    facade.run_in_unit(lambda s: outbox.enqueue(s, to_addr="x@y.cn", template="no_such_template", language="zh-CN",
                                                context={"ticket_id": tid}, ticket_id=tid, now=clock.now()),
                       write=True)
    mailer = Mailer(facade)
    mailer.send_pending()
    clock.advance(hours=2)
    assert mailer.send_pending() == 0
    assert desk.events(tid, "email_failed")[0]["template"] == "no_such_template"


def test_a_progress_update_links_the_status_page_and_owns_up_to_a_missed_deadline(
        facade: Aftercare, clock: FakeClock, smtp: SmtpSink) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    desk.triage(tid, severity=2)
    desk.travel(hours=4, seconds=1)
    Mailer(facade).send_pending()
    progress = [m for m, subject in zip(smtp.to(CONTACT), smtp.subjects(CONTACT), strict=True) if "处理进度" in subject]
    [first] = progress
    assert "承诺解决时限：" in body(first) and "已过" not in body(first)
    assert re.search(r"查看处理进度：http://\S+/s/\S+", body(first))  # the status page, as in the first e-mail
    due = desk.ticket(tid)["sla"]["resolve_due"]
    while clock.now().isoformat() <= due:  # the committed time passes with the fault still open
        desk.travel(hours=4, seconds=1)
    Mailer(facade).send_pending()
    late = [m for m, subject in zip(smtp.to(CONTACT), smtp.subjects(CONTACT), strict=True) if "处理进度" in subject][-1]
    assert "已过，很抱歉让您久等" in body(late) and "查看处理进度：" in body(late)
