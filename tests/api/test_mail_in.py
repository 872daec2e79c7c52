"""Inbound mail over a real SMTP connection: smtplib talks to the mail-in listener (aiosmtpd) on a free port, the
way the support mailbox's server forwards to it. What counts is what staff and customers then see: the ticket's
conversation, the new ticket, its files, the inbound log, and the SMTP reply the forwarding server gets."""
from __future__ import annotations

import os
import re
import smtplib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.mail import Mailer
from api.mail_in import MailInController, start_mail_in
from engine.commands import Aftercare
from engine.errors import Conflict
from engine.models import Ticket
from engine.users import Actor
from tests.support import Desk, SmtpSink, free_port
from tests.support import body as text_body

SUPPORT = "support@vendor.example"
WANG = "wang@demo-customer.example"
ADMIN = Actor("admin", "admin")
LIMIT = 200_000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def listener(facade: Aftercare) -> Iterator[MailInController]:
    facade.settings.mail_in_max_bytes = LIMIT
    controller = start_mail_in(facade, host="127.0.0.1", port=free_port())
    yield controller
    controller.stop()


@pytest.fixture
def desk(facade: Aftercare, clock: Any) -> Desk:
    return Desk(facade, clock)


def mail(body: str, *, subject: str, sender: str = f"王工 <{WANG}>", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def send(listener: MailInController, message: EmailMessage | bytes, *, envelope_from: str = WANG) -> None:
    """Deliver over SMTP; raises smtplib's error when the listener refuses."""
    raw = message if isinstance(message, bytes) else message.as_bytes(policy=policy.SMTP)  # CRLF, as servers send
    with smtplib.SMTP(listener.hostname, listener.port, timeout=20) as client:
        client.sendmail(envelope_from, [SUPPORT], raw)


def log(facade: Aftercare) -> list[dict[str, Any]]:
    """The inbound log, newest first."""
    return facade.list_inbound_mail(actor=Actor("desk", "service_desk"))


def ticket_count(facade: Aftercare) -> int:
    return int(facade.run_in_unit(lambda session: session.scalar(select(func.count(Ticket.id)))))


def staff_reply(facade: Aftercare, smtp: SmtpSink, ticket_id: int, body: str) -> Any:
    """An engineer's public reply, sent through the real outbox; the e-mail the contact receives."""
    facade.post_message(ticket_id=ticket_id, body=body, internal=False, actor=Actor("engineer", "engineer"))
    Mailer(facade).send_pending()
    sent = [m for m in smtp.to(WANG) if any(body in text_body(part) for part in m.walk())]
    assert sent, [m["Subject"] for m in smtp.messages]
    return sent[-1]


def test_a_reply_threads_by_its_headers_with_the_history_cut_and_its_attachment(
        facade: Aftercare, desk: Desk, smtp: SmtpSink, listener: MailInController) -> None:
    ticket_id = desk.create()
    ours = staff_reply(facade, smtp, ticket_id, "请提供服务器日志。")
    reply = mail("日志见附件，问题依旧。\n\n在 2026年11月23日 10:05，Aftercare 写道：\n> 请提供服务器日志。",
                 subject="Re: 请提供日志", Message_ID="<reply-1@demo-customer.example>",
                 In_Reply_To=str(ours["Message-ID"]), References=str(ours["Message-ID"]))
    reply.add_attachment(b"2026-11-23 10:01 ERROR login 500\n", maintype="text", subtype="plain",
                         filename="server.log")
    send(listener, reply)

    customer = [m for m in facade.list_messages(ticket_id=ticket_id, actor=ADMIN) if m["author_kind"] == "customer"]
    assert len(customer) == 1
    assert customer[0]["body"] == "日志见附件，问题依旧。"
    assert (customer[0]["source"], customer[0]["internal"]) == ("email", False)
    assert [f["filename"] for f in customer[0]["attachments"]] == ["server.log"]
    assert log(facade)[0]["outcome"] == "reply" and log(facade)[0]["ticket_id"] == ticket_id


def test_a_reply_threads_by_the_ticket_number_in_its_subject_from_another_contact_of_the_customer(
        facade: Aftercare, desk: Desk, listener: MailInController) -> None:
    ticket_id = desk.create()
    number = desk.ticket(ticket_id)["number"]
    send(listener, mail("补充：只有管理员账号能登录。", subject=f"回复: [{number}] 系统无法登录",
                        sender="信息科 李工 <li@demo-customer.example>"), envelope_from="li@demo-customer.example")
    messages = facade.list_messages(ticket_id=ticket_id, actor=ADMIN)
    assert [(m["author_kind"], m["internal"], m["body"]) for m in messages] == [
        ("customer", False, "补充：只有管理员账号能登录。")]


def test_a_stranger_on_a_tickets_thread_becomes_an_internal_note(
        facade: Aftercare, desk: Desk, listener: MailInController) -> None:
    ticket_id = desk.create()
    number = desk.ticket(ticket_id)["number"]
    send(listener, mail("我们也遇到了同样的问题。", subject=f"Re: [{number}] 系统无法登录",
                        sender="ops@east-grid.example"), envelope_from="ops@east-grid.example")
    messages = facade.list_messages(ticket_id=ticket_id, actor=ADMIN)
    assert len(messages) == 1 and messages[0]["internal"] and messages[0]["author_kind"] == "system"
    assert "ops@east-grid.example" in messages[0]["body"] and "我们也遇到了同样的问题。" in messages[0]["body"]
    assert log(facade)[0]["outcome"] == "note"
    assert facade.conversation.public_conversation(token=facade.status_token(ticket_id=ticket_id))["messages"] == []


def test_a_new_mail_from_a_known_contact_opens_an_email_ticket_with_its_attachment(
        facade: Aftercare, desk: Desk, listener: MailInController) -> None:
    before = ticket_count(facade)
    message = mail("导出月报时提示“内存不足”，截图见附件。", subject="报表导出失败",
                   sender="Alex Morgan <alex@demo-customer.example>")
    message.add_attachment(b"\x89PNG\r\n\x1a\nfake-screenshot", maintype="image", subtype="png",
                           filename="截图.png")
    send(listener, message, envelope_from="alex@demo-customer.example")

    entry = log(facade)[0]
    assert entry["outcome"] == "new_ticket" and ticket_count(facade) == before + 1
    ticket = desk.ticket(entry["ticket_id"])
    assert (ticket["customer"], ticket["channel"], ticket["title"]) == ("Demo Customer", "email", "报表导出失败")
    assert (ticket["contact_name"], ticket["contact_email"]) == ("Alex Morgan", "alex@demo-customer.example")
    assert ticket["contact_id"] is not None
    assert "内存不足" in ticket["description"]
    files = facade.list_attachments(ticket_id=entry["ticket_id"])
    assert [(f["filename"], f["content_type"]) for f in files] == [("截图.png", "image/png")]
    assert desk.names(entry["ticket_id"]) == ["triage"]  # the normal procedure: the service desk triages it


def test_an_unknown_sender_gets_a_ticket_for_the_desk_to_match(
        facade: Aftercare, desk: Desk, listener: MailInController) -> None:
    send(listener, mail("你们的系统打不开了。", subject="系统打不开", sender="张先生 <zhang.xs@gmail.com>"),
         envelope_from="zhang.xs@gmail.com")
    entry = log(facade)[0]
    assert entry["outcome"] == "unmatched"
    ticket = desk.ticket(entry["ticket_id"])
    assert ticket["customer"] == "待匹配客户" and ticket["customer_unmatched"]
    assert (ticket["channel"], ticket["contact_email"], ticket["contact_name"]) == ("email", "zhang.xs@gmail.com",
                                                                                     "张先生")
    assert desk.names(entry["ticket_id"]) == ["triage"]


def test_html_only_mail_is_stored_as_text(facade: Aftercare, desk: Desk, listener: MailInController) -> None:
    message = mail("", subject="HTML 邮件", sender="it@demo-customer.example")
    message.set_content("<html><body><script>steal()</script><p>第一行</p><p>第二行 <b>加粗</b></p>"
                        "<a href='http://x.example'>链接</a></body></html>", subtype="html")
    send(listener, message, envelope_from="it@demo-customer.example")
    ticket = desk.ticket(log(facade)[0]["ticket_id"])
    assert ticket["description"] == "第一行\n\n第二行 加粗\n\n链接"


def test_an_auto_reply_never_becomes_a_message_or_a_ticket(
        facade: Aftercare, desk: Desk, listener: MailInController) -> None:
    ticket_id = desk.create()
    number = desk.ticket(ticket_id)["number"]
    before = ticket_count(facade)
    send(listener, mail("我正在休假，12月1日返回。", subject=f"自动回复: [{number}] 系统无法登录",
                        Auto_Submitted="auto-replied"))
    send(listener, mail("I am out of the office.", subject="Out of Office", sender="alex@demo-customer.example"),
         envelope_from="alex@demo-customer.example")
    assert facade.list_messages(ticket_id=ticket_id, actor=ADMIN) == []
    assert ticket_count(facade) == before
    assert [e["outcome"] for e in log(facade)] == ["auto_reply", "auto_reply"]


def test_our_own_mail_coming_back_is_a_loop_and_a_bounce_creates_nothing(
        facade: Aftercare, desk: Desk, smtp: SmtpSink, listener: MailInController) -> None:
    ticket_id = desk.create()
    ours = staff_reply(facade, smtp, ticket_id, "请确认是否已恢复。")
    before, messages_before = ticket_count(facade), len(facade.list_messages(ticket_id=ticket_id, actor=ADMIN))
    # our own reply, forwarded back to us (a customer's rule, or a misconfigured mailbox)
    send(listener, ours.as_bytes(policy=policy.SMTP), envelope_from="aftercare@localhost")
    bounce = mail("Delivery failed: mailbox full", subject="Undelivered Mail Returned to Sender",
                  sender="MAILER-DAEMON@mx.demo-customer.example", In_Reply_To=str(ours["Message-ID"]))
    send(listener, bounce, envelope_from="")
    assert [e["outcome"] for e in log(facade)] == ["bounce", "loop"]
    assert ticket_count(facade) == before
    assert len(facade.list_messages(ticket_id=ticket_id, actor=ADMIN)) == messages_before


def test_an_oversized_message_is_refused_with_552_and_nothing_is_stored(
        facade: Aftercare, listener: MailInController) -> None:
    before = ticket_count(facade)
    message = mail("大附件", subject="日志", sender="alex@demo-customer.example")
    message.add_attachment(b"x" * (LIMIT + 50_000), maintype="application", subtype="octet-stream",
                           filename="huge.bin")
    with pytest.raises(smtplib.SMTPSenderRefused) as declared:  # the client declares SIZE=: refused at MAIL FROM
        send(listener, message, envelope_from="alex@demo-customer.example")
    assert declared.value.smtp_code == 552
    with smtplib.SMTP(listener.hostname, listener.port, timeout=20) as client:  # no SIZE=: refused after DATA
        client.ehlo()
        client.mail("alex@demo-customer.example")
        client.rcpt(SUPPORT)
        code, _text = client.data(message.as_bytes(policy=policy.SMTP))
    assert code == 552
    assert ticket_count(facade) == before
    entries = log(facade)
    assert [e["outcome"] for e in entries] == ["refused", "refused"]
    assert all(e["reason"].startswith("too_large") and e["from_addr"] == "alex@demo-customer.example"
               for e in entries)


def test_a_retried_delivery_is_accepted_and_handled_once(
        facade: Aftercare, listener: MailInController) -> None:
    before = ticket_count(facade)
    message = mail("报表导出失败。", subject="报表导出失败", sender="alex@demo-customer.example",
                   Message_ID="<once@demo-customer.example>")
    send(listener, message, envelope_from="alex@demo-customer.example")
    send(listener, message, envelope_from="alex@demo-customer.example")  # no error: the server stops retrying
    assert ticket_count(facade) == before + 1
    assert [e["outcome"] for e in log(facade)] == ["new_ticket"]


@pytest.mark.parametrize("raw", [
    b"this is not an e-mail\r\njust some text\r\n",
    b"Subject: who sent this?\r\n\r\nno From header\r\n",
    b"From: alex@demo-customer.example\r\nSubject: cut\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nthe connection dropped here\r\n",
])
def test_a_malformed_message_is_refused_with_554_and_logged(
        facade: Aftercare, listener: MailInController, raw: bytes) -> None:
    before = ticket_count(facade)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(listener, raw, envelope_from="alex@demo-customer.example")
    assert refused.value.smtp_code == 554
    assert ticket_count(facade) == before
    entry = log(facade)[0]
    assert entry["outcome"] == "refused" and entry["reason"].startswith("malformed")


def test_a_reply_to_an_archived_ticket_opens_a_follow_up_ticket(
        facade: Aftercare, desk: Desk, listener: MailInController) -> None:
    ticket_id = desk.create()
    number = desk.ticket(ticket_id)["number"]
    facade.run_in_unit(lambda session: setattr(session.get(Ticket, ticket_id), "status", "archived"))
    send(listener, mail("问题又出现了。", subject=f"Re: [{number}] 系统无法登录"))
    entry = log(facade)[0]
    assert entry["outcome"] == "new_ticket" and entry["ticket_id"] != ticket_id
    assert number in entry["reason"]
    assert desk.ticket(entry["ticket_id"])["channel"] == "email"


def test_serve_runs_the_listener_when_a_port_is_set(facade: Aftercare) -> None:
    facade.settings.mail_in_port = free_port()
    message = mail("serve 收信", subject="serve 收信", sender="alex@demo-customer.example")
    with TestClient(create_app(facade)), smtplib.SMTP("127.0.0.1", facade.settings.mail_in_port, timeout=20) as client:
        client.sendmail("alex@demo-customer.example", [SUPPORT], message.as_bytes(policy=policy.SMTP))
    assert log(facade)[0]["outcome"] == "new_ticket"


def staff_login(client: TestClient, username: str) -> None:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert match
    response = client.post("/login", data={"username": username, "password": "demo", "csrf": match.group(1),
                                           "next": "/"}, follow_redirects=False)
    assert response.status_code == 303


def test_the_desk_reads_the_inbound_log_on_a_page_and_in_the_api(
        facade: Aftercare, client: TestClient, listener: MailInController) -> None:
    send(listener, mail("报表导出失败。", subject="报表导出失败", sender="alex@demo-customer.example"),
         envelope_from="alex@demo-customer.example")
    send(listener, mail("我正在休假。", subject="自动回复: 报表导出失败", Auto_Submitted="auto-replied"))
    number = log(facade)[1]["ticket_number"]

    staff_login(client, "service_desk")
    page = client.get("/inbound-mail?lang=zh-CN")
    assert page.status_code == 200
    assert "收件记录" in page.text and "已新建工单" in page.text and "自动回复，已忽略" in page.text
    assert number in page.text and "alex@demo-customer.example" in page.text
    only_auto = client.get("/inbound-mail?outcome=auto_reply&lang=en").text
    assert "Auto-reply, set aside" in only_auto and number not in only_auto

    token = client.post("/api/token", data={"username": "service_desk", "password": "demo"}).json()["access_token"]
    listed = client.get("/api/inbound-mail?outcome=new_ticket", headers={"Authorization": f"Bearer {token}"})
    assert [(e["outcome"], e["ticket_number"]) for e in listed.json()] == [("new_ticket", number)]
    bad = client.get("/api/inbound-mail?outcome=spam", headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 422 and "outcome" in bad.text


def test_an_engineer_may_not_read_the_inbound_log(client: TestClient) -> None:
    staff_login(client, "engineer")
    assert client.get("/inbound-mail").status_code == 403
    token = client.post("/api/token", data={"username": "engineer", "password": "demo"}).json()["access_token"]
    assert client.get("/api/inbound-mail", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    client.cookies.clear()
    assert client.get("/inbound-mail", follow_redirects=False).headers["location"].startswith("/login")


def test_a_message_with_more_files_than_a_message_holds_keeps_them_all(
        facade: Aftercare, desk: Desk, listener: MailInController) -> None:
    ticket_id = desk.create()
    number = desk.ticket(ticket_id)["number"]
    reply = mail("十二张截图。", subject=f"Re: [{number}] 系统无法登录")
    for i in range(12):
        reply.add_attachment(f"shot {i}".encode(), maintype="image", subtype="png", filename=f"shot-{i:02d}.png")
    send(listener, reply)
    message = facade.list_messages(ticket_id=ticket_id, actor=ADMIN)[0]
    assert len(message["attachments"]) == 10 and "另有 2 个附件" in message["body"]
    assert sorted(f["filename"] for f in facade.list_attachments(ticket_id=ticket_id)) == [
        f"shot-{i:02d}.png" for i in range(12)]


def test_the_mail_in_command_listens_until_stopped(database_url: str, facade: Aftercare, tmp_path: Any) -> None:
    port = free_port()
    env = {**os.environ, "AFTERCARE_DATABASE_URL": database_url, "AFTERCARE_PROCESSES_DIR": str(ROOT / "processes"),
           "AFTERCARE_FORMS_DIR": str(ROOT / "forms"), "AFTERCARE_VAR_DIR": str(tmp_path)}
    command = [sys.executable, "-c", "from api.cli import main; raise SystemExit(main())", "mail-in", "--port",
               str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        output = []
        for line in process.stdout:  # migrating and deploying log first; ends early only if the command died
            output.append(line)
            if f"mail-in listening on 127.0.0.1:{port}" in line:
                break
        assert process.poll() is None, "".join(output)
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
                client.sendmail("zhang.xs@gmail.com", [SUPPORT],
                                mail("系统打不开", subject="系统打不开", sender="zhang.xs@gmail.com").as_bytes(
                                    policy=policy.SMTP))
        except OSError as exc:  # seen once under a loaded full run: say whether the command was still there
            process.terminate()
            rest, _ = process.communicate(timeout=20)
            raise AssertionError(f"{exc}; mail-in exited {process.returncode}: {''.join(output)}{rest}") from exc
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert log(facade)[0]["outcome"] == "unmatched"


def test_the_customer_answers_the_engineers_question_by_replying_to_its_email(
        facade: Aftercare, desk: Desk, clock: Any, smtp: SmtpSink, listener: MailInController) -> None:
    ticket_id = desk.create()
    desk.triage(ticket_id, severity=3)
    desk.complete(ticket_id, "engineer_response", {"contact_made": True, "diagnosis": "登录服务报错"})
    clock.advance(hours=4)  # Monday 14:00
    desk.complete(ticket_id, "engineer_resolution", {"outcome": "ask_customer", "question": "请问是哪个版本？"})
    assert desk.ticket(ticket_id)["status"] == "waiting_customer"
    Mailer(facade).send_pending()
    question = [m for m in smtp.to(WANG) if any("请问是哪个版本？" in text_body(p) for p in m.walk())][-1]

    clock.advance(hours=20)  # Tuesday 10:00: five working hours later
    subject = make_header(decode_header(str(question["Subject"])))
    answer = mail("是 5.2.1 版本。\n\n-----原始邮件-----\n发件人: Aftercare\n主题: 请问是哪个版本？",
                  subject=f"回复: {subject}", In_Reply_To=str(question["Message-ID"]),
                  References=str(question["Message-ID"]))
    send(listener, answer)

    ticket = desk.ticket(ticket_id)
    assert ticket["status"] != "waiting_customer" and desk.names(ticket_id) == ["engineer_resolution"]
    assert ticket["sla"]["paused_seconds"] == 5 * 3600  # the pause is kept; the clock runs again
    assert [m["body"] for m in ticket["messages"] if m["author_kind"] == "customer"] == ["是 5.2.1 版本。"]


def test_serve_still_serves_when_the_mail_in_port_is_taken(facade: Aftercare, caplog: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        facade.settings.mail_in_port = taken.getsockname()[1]
        with TestClient(create_app(facade)) as client:
            assert client.get("/healthz").status_code == 200
    assert "mail-in could not listen" in caplog.text


def test_the_same_message_delivered_twice_at_once_is_handled_once(facade: Aftercare) -> None:
    raw = mail("同时投递两次。", subject="同时投递", sender="alex@demo-customer.example",
               Message_ID="<twice@demo-customer.example>").as_bytes(policy=policy.SMTP)
    before = ticket_count(facade)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def deliver() -> None:
        barrier.wait()
        try:
            results.append(facade.receive_mail(raw, peer="127.0.0.1", mail_from="alex@demo-customer.example"))
        except Conflict as exc:  # busy: the listener answers 451 and the sending server retries
            results.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    handled = [r for r in results if isinstance(r, dict) and not r["duplicate"]]
    assert len(results) == 2 and len(handled) == 1 and handled[0]["outcome"] == "new_ticket"
    assert ticket_count(facade) == before + 1
    assert [e["outcome"] for e in log(facade)] == ["new_ticket"]


def test_a_reply_to_an_outbox_id_beyond_any_row_is_handled_as_a_new_mail(
        facade: Aftercare, listener: MailInController) -> None:
    before = ticket_count(facade)
    huge = "<x.outbox-99999999999999999999@aftercare.local>"  # no row can have it: not a thread, not a 451
    send(listener, mail("报表导出失败。", subject="报表导出失败", sender="alex@demo-customer.example",
                        In_Reply_To=huge, References=huge), envelope_from="alex@demo-customer.example")
    assert ticket_count(facade) == before + 1
    assert [e["outcome"] for e in log(facade)] == ["new_ticket"]
