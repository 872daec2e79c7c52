"""The ticket's conversation through the facade: replies e-mailed and threaded, notes kept inside, the customer's
messages from the status page telling staff, closed tickets refusing messages, message text found by search."""
from __future__ import annotations

import email.utils
from email.message import Message as Mail
from typing import Any

import pytest

from api.mail import Mailer
from engine import conversation
from engine.errors import Conflict, Forbidden, LinkError, NotFound, ValidationFailed
from engine.users import Actor
from tests.support import Desk, SmtpSink, body

CONTACT = "wang@demo-customer.example"
ENGINEER = Actor("engineer", "engineer")
DESK = Actor("service_desk", "service_desk")


@pytest.fixture
def desk(facade: Any, clock: Any) -> Desk:
    return Desk(facade, clock)


def _send(facade: Any) -> None:
    Mailer(facade).send_pending(limit=100)


def _replies(smtp: SmtpSink) -> list[Mail]:
    return [m for m in smtp.to(CONTACT) if "Re:" in str(m["Subject"]) or "回复" in _subject(m)]


def _subject(message: Mail) -> str:
    return str(email.header.make_header(email.header.decode_header(str(message["Subject"]))))


def _text(message: Mail) -> str:
    if not message.is_multipart():
        return body(message)
    return "".join(body(part) for part in message.walk() if part.get_content_type() == "text/plain"
                   and not part.get_filename())


def test_staff_reply_is_mailed_to_the_contact_threaded_with_the_ticket(facade: Any, desk: Desk,
                                                                       smtp: SmtpSink) -> None:
    ticket_id = desk.create()
    _send(facade)  # the acknowledgement: the thread's first mail
    first = facade.post_message(ticket_id=ticket_id, body="请提供报错截图。", internal=False, actor=ENGINEER)
    second = facade.post_message(ticket_id=ticket_id, body="我们已定位问题，正在修复。", internal=False, actor=ENGINEER)
    _send(facade)

    number = desk.ticket(ticket_id)["number"]
    received = smtp.to(CONTACT)
    ack, one, two = received[0], *_replies(smtp)
    assert f"[{number}]" in _subject(one) and f"[{number}]" in _subject(two)
    assert "请提供报错截图。" in _text(one) and "我们已定位问题" in _text(two)
    stored = {m["id"]: m for m in facade.list_messages(ticket_id=ticket_id, actor=ENGINEER)}
    assert first["id"] in stored and second["id"] in stored
    # the second reply answers the first and names the whole thread, the acknowledgement first
    assert one["In-Reply-To"] == ack["Message-ID"]
    assert two["In-Reply-To"] == one["Message-ID"]
    assert two["References"].split() == [ack["Message-ID"], one["Message-ID"]]
    assert len({ack["Message-ID"], one["Message-ID"], two["Message-ID"]}) == 3
    # the ids are ours and lead back to the ticket
    assert conversation.is_ours(facade.settings, one["Message-ID"])
    assert facade.run_in_unit(lambda s: conversation.ticket_id_of_reference(s, facade.settings,
                                                                            ack["Message-ID"])) == ticket_id
    assert facade.run_in_unit(lambda s: conversation.ticket_id_of_reference(s, facade.settings,
                                                                            two["Message-ID"])) == ticket_id
    assert not conversation.is_ours(facade.settings, one["Message-ID"].replace("@", "x@", 1))


def test_the_same_mail_keeps_its_message_id_when_sent_again(facade: Any, desk: Desk) -> None:
    ticket_id = desk.create()
    facade.post_message(ticket_id=ticket_id, body="您好", internal=False, actor=ENGINEER)
    mailer = Mailer(facade)
    envelopes = facade.claim_outbox(limit=10)
    reply = next(e for e in envelopes if e.template == "reply")
    assert mailer.render(reply)["Message-ID"] == mailer.render(reply)["Message-ID"]
    stored = facade.run_in_unit(lambda s: s.get(conversation.Message, reply.context["message_id"]).email_message_id)
    assert mailer.render(reply)["Message-ID"] == stored


def test_an_internal_note_never_reaches_an_email_or_the_customer(facade: Any, desk: Desk, smtp: SmtpSink) -> None:
    ticket_id = desk.create()
    note = facade.post_message(ticket_id=ticket_id, body="客户合同快到期，内部注意 SECRET-NOTE", internal=True,
                               actor=ENGINEER)
    facade.post_message(ticket_id=ticket_id, body="已收到，我们正在处理。", internal=False, actor=ENGINEER)
    _send(facade)

    assert note["internal"] is True
    assert all("SECRET-NOTE" not in _text(m) for m in smtp.messages)
    assert len(_replies(smtp)) == 1
    token = facade.status_token(ticket_id=ticket_id)
    public = facade.conversation.public_conversation(token=token)
    assert [m["body"] for m in public["messages"]] == ["已收到，我们正在处理。"]
    staff = desk.ticket(ticket_id)["messages"]
    assert [m["internal"] for m in staff] == [True, False]
    # the timeline says a note was added, never what it says
    notes = desk.events(ticket_id, "note_added")
    assert len(notes) == 1 and "SECRET-NOTE" not in str(notes[0])


def test_files_of_a_reply_go_as_attachments(facade: Any, desk: Desk, smtp: SmtpSink) -> None:
    ticket_id = desk.create()
    log = b"2026-11-23 10:00 ERROR login failed\n"
    facade.post_message(ticket_id=ticket_id, body="请查看附件中的处理步骤。", internal=False, actor=ENGINEER,
                        files=[("处理步骤.txt", "text/plain", log), ("shot.png", "image/png", b"\x89PNG fake")])
    _send(facade)

    (reply,) = _replies(smtp)
    files = {part.get_filename(): part.get_payload(decode=True) for part in reply.walk() if part.get_filename()}
    assert files == {"处理步骤.txt": log, "shot.png": b"\x89PNG fake"}
    assert "处理步骤.txt" in _text(reply)
    (message,) = desk.ticket(ticket_id)["messages"]
    assert [a["filename"] for a in message["attachments"]] == ["处理步骤.txt", "shot.png"]
    # the files are the ticket's too, downloadable by staff
    assert {a["filename"] for a in facade.list_attachments(ticket_id=ticket_id)} >= {"处理步骤.txt", "shot.png"}


def test_reply_in_the_customers_language(facade: Any, desk: Desk, smtp: SmtpSink) -> None:
    facade.add_customer(name="Northwind Ltd", tier="standard", email="it@northwind.example")

    def english(session: Any) -> None:
        customer = conversation.Message.metadata.tables["customer"]
        session.execute(customer.update().where(customer.c.name == "Northwind Ltd").values(language="en"))

    facade.run_in_unit(english, write=True)
    ticket_id = desk.create(customer="Northwind Ltd", contact_email="ann@northwind.example", contact_name="Ann")
    facade.post_message(ticket_id=ticket_id, body="Please send us the log file.", internal=False, actor=ENGINEER)
    _send(facade)
    (reply,) = [m for m in smtp.to("ann@northwind.example") if "Re:" in _subject(m)]
    assert "Hello Ann" in _text(reply) and "您好" not in _text(reply)


def test_customer_message_from_the_status_page_shows_on_the_ticket_and_tells_staff(facade: Any, desk: Desk,
                                                                                    smtp: SmtpSink) -> None:
    ticket_id = desk.create()
    _send(facade)
    smtp.messages.clear()
    token = facade.status_token(ticket_id=ticket_id)
    facade.customer_message(token=token, body="截图已附上，请查收。",
                            files=[("error.png", "image/png", b"\x89PNG screenshot")])
    _send(facade)

    (message,) = desk.ticket(ticket_id)["messages"]
    assert message["author_kind"] == "customer" and message["author"] == "王工"
    assert message["source"] == "status_page" and message["attachments"][0]["filename"] == "error.png"
    assert desk.events(ticket_id, "message_received")
    # nobody holds the triage task yet: the service desk hears of it
    told = smtp.to("service_desk@aftercare.example")
    assert told and "截图已附上" in _text(told[-1]) and "/tickets/" in _text(told[-1])


def test_customer_message_tells_the_assignee_of_the_open_task(facade: Any, desk: Desk, smtp: SmtpSink) -> None:
    ticket_id = desk.create()
    desk.triage(ticket_id)
    task = next(t for t in desk.tasks(ticket_id) if t["role"] == "engineer")
    facade.claim_task(task_id=task["id"], actor=ENGINEER)
    _send(facade)
    smtp.messages.clear()
    facade.customer_message(token=facade.status_token(ticket_id=ticket_id), body="问题又出现了")
    _send(facade)
    assert [_subject(m) for m in smtp.to("engineer@aftercare.example")] == \
        [f"[{desk.ticket(ticket_id)['number']}] 客户回复：系统无法登录"]
    assert not smtp.to("service_desk@aftercare.example")


def test_double_post_from_the_status_page_is_stored_once(facade: Any, desk: Desk) -> None:
    ticket_id = desk.create()
    token = facade.status_token(ticket_id=ticket_id)
    facade.customer_message(token=token, body="同一条留言")
    facade.customer_message(token=token, body="同一条留言")
    assert len(desk.ticket(ticket_id)["messages"]) == 1


def test_bad_messages_are_refused_naming_the_field(facade: Any, desk: Desk) -> None:
    ticket_id = desk.create()
    with pytest.raises(ValidationFailed) as empty:
        facade.post_message(ticket_id=ticket_id, body="   ", internal=False, actor=ENGINEER)
    assert empty.value.errors[0]["field"] == "body"
    with pytest.raises(ValidationFailed) as long:
        facade.post_message(ticket_id=ticket_id, body="长" * (conversation.MAX_BODY + 1), internal=True,
                            actor=ENGINEER)
    assert long.value.errors[0]["field"] == "body"
    with pytest.raises(ValidationFailed) as too_big:
        facade.post_message(ticket_id=ticket_id, body="见附件", internal=False, actor=ENGINEER,
                            files=[("big.bin", "application/octet-stream", b"x" * (10 * 1024 * 1024 + 1))])
    assert too_big.value.errors[0]["field"] == "file"
    with pytest.raises(NotFound):
        facade.post_message(ticket_id=999999, body="hi", internal=False, actor=ENGINEER)
    with pytest.raises(Forbidden):
        facade.post_message(ticket_id=ticket_id, body="hi", internal=False, actor=Actor("x", "customer", "customer"))
    with pytest.raises(LinkError):
        facade.customer_message(token=f"{ticket_id}.forged", body="hi")
    assert desk.ticket(ticket_id)["messages"] == []


def test_a_closed_ticket_takes_no_new_messages(facade: Any, desk: Desk) -> None:
    ticket_id = desk.create()

    def close(session: Any) -> None:
        session.get(conversation.Ticket, ticket_id).status = "archived"

    facade.run_in_unit(close, write=True)
    with pytest.raises(Conflict, match="closed"):
        facade.post_message(ticket_id=ticket_id, body="还有问题吗？", internal=False, actor=DESK)
    with pytest.raises(Conflict):
        facade.customer_message(token=facade.status_token(ticket_id=ticket_id), body="还有问题")


def test_message_text_finds_the_ticket(facade: Any, desk: Desk) -> None:
    ticket_id = desk.create()
    desk.create(title="打印机卡纸")
    facade.post_message(ticket_id=ticket_id, body="数据库连接池耗尽导致", internal=True, actor=ENGINEER)
    query, _ = facade.tickets.parse_query(params={"q": "连接池"})
    found = facade.list_tickets(query=query, actor=ENGINEER, exact=True).to_json()
    assert [t["id"] for t in found["items"]] == [ticket_id]


def test_message_ids_name_the_sender_domain(facade: Any) -> None:
    mid = conversation.reply_message_id(facade.settings, 7)
    assert email.utils.parseaddr(facade.settings.smtp_from)[1].split("@")[1] in mid
    assert conversation.is_ours(facade.settings, mid)
    assert not conversation.is_ours(facade.settings, "<random@example.com>")
