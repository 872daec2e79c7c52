"""The conversation over HTTP: the JSON API, the staff ticket page's reply box and the customer's status page, with
the e-mails a real SMTP server receives."""
from __future__ import annotations

import email
import re
from email.message import Message as Mail

import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import UploadFile

from api.mail import Mailer
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.conversation import MAX_FILES
from tests.api.conftest import login
from tests.api.test_attachments import staff_login
from tests.support import Desk, SmtpSink, body

CONTACT = "wang@demo-customer.example"


@pytest.fixture
def ticket_id(facade: Aftercare, clock: FakeClock) -> int:
    return Desk(facade, clock).create()


def _subject(message: Mail) -> str:
    return str(email.header.make_header(email.header.decode_header(str(message["Subject"]))))


def _text(message: Mail) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    return "".join(body(p) for p in parts if p.get_content_type() == "text/plain" and not p.get_filename())


def _replies(smtp: SmtpSink) -> list[Mail]:
    return [m for m in smtp.to(CONTACT) if "回复：" in _subject(m)]


def _status_url(facade: Aftercare, ticket_id: int) -> str:
    return f"/s/{facade.status_token(ticket_id=ticket_id)}"


def _form_key(html: str) -> str:
    match = re.search(r'name="key" value="([^"]+)"', html)
    assert match, "no reply form on the status page"
    return match.group(1)


# --- JSON API ----------------------------------------------------------------------------------------------------

def test_api_reply_and_note(client: TestClient, facade: Aftercare, ticket_id: int, smtp: SmtpSink) -> None:
    headers = login(client, "engineer")
    reply = client.post(f"/api/tickets/{ticket_id}/messages", json={"body": "请提供日志。", "internal": False},
                        headers=headers)
    assert reply.status_code == 201, reply.text
    assert reply.json()["body"] == "请提供日志。" and reply.json()["internal"] is False
    note = client.post(f"/api/tickets/{ticket_id}/messages", json={"body": "疑似数据库问题 NOTE-42", "internal": True},
                       headers=headers)
    assert note.status_code == 201 and note.json()["internal"] is True

    ticket = client.get(f"/api/tickets/{ticket_id}", headers=headers).json()
    assert [(m["body"], m["internal"], m["author"]) for m in ticket["messages"]] == [
        ("请提供日志。", False, "engineer"), ("疑似数据库问题 NOTE-42", True, "engineer")]
    assert all({"at", "author", "internal", "body"} <= set(m) for m in ticket["messages"])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*\+00:00$", ticket["messages"][0]["at"])
    Mailer(facade).send_pending()
    assert len(_replies(smtp)) == 1 and all("NOTE-42" not in _text(m) for m in smtp.messages)


def test_api_refuses_bad_messages_naming_the_field(client: TestClient, ticket_id: int) -> None:
    headers = login(client, "service_desk")
    for body_value in ("", "   "):
        response = client.post(f"/api/tickets/{ticket_id}/messages", json={"body": body_value}, headers=headers)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body"
    too_long = client.post(f"/api/tickets/{ticket_id}/messages", json={"body": "x" * 20001}, headers=headers)
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "body"
    missing = client.post(f"/api/tickets/{ticket_id}/messages", json={}, headers=headers)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "body"
    wrong_type = client.post(f"/api/tickets/{ticket_id}/messages", json={"body": "hi", "internal": "perhaps"},
                             headers=headers)
    assert wrong_type.status_code == 422 and wrong_type.json()["errors"][0]["field"] == "internal"
    not_json = client.post(f"/api/tickets/{ticket_id}/messages", content=b"\xff\xfe", headers=headers)
    assert not_json.status_code == 422
    assert client.post("/api/tickets/999999/messages", json={"body": "hi"}, headers=headers).status_code == 404
    assert client.post(f"/api/tickets/{ticket_id}/messages", json={"body": "hi"}).status_code == 401


def test_api_closed_ticket_takes_no_reply(client: TestClient, facade: Aftercare, ticket_id: int) -> None:
    def close(session: object) -> None:
        from engine.models import Ticket

        session.get(Ticket, ticket_id).status = "closed"  # type: ignore[attr-defined]

    facade.run_in_unit(close, write=True)
    response = client.post(f"/api/tickets/{ticket_id}/messages", json={"body": "还在吗"},
                           headers=login(client, "manager"))
    assert response.status_code == 409 and "closed" in response.json()["detail"]


def test_openapi_lists_the_conversation(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/api/tickets/{ticket_id}/messages"]
    assert "get" in paths["/api/tickets/{ticket_id}/messages"]


# --- threading ---------------------------------------------------------------------------------------------------

def test_two_replies_thread_and_carry_their_files(client: TestClient, facade: Aftercare, ticket_id: int,
                                                  smtp: SmtpSink) -> None:
    Mailer(facade).send_pending()
    csrf = staff_login(client, "engineer")
    first = client.post(f"/tickets/{ticket_id}/messages", data={"csrf": csrf, "kind": "reply", "body": "第一次回复"},
                        files=[("files", ("步骤.pdf", b"%PDF-1.4 steps", "application/pdf"))], follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == f"/tickets/{ticket_id}?sent=reply#conversation"
    client.post(f"/tickets/{ticket_id}/messages", data={"csrf": csrf, "kind": "reply", "body": "第二次回复"},
                follow_redirects=False)
    Mailer(facade).send_pending()

    ack = smtp.to(CONTACT)[0]
    one, two = _replies(smtp)
    number = facade.get_ticket(ticket_id=ticket_id, actor=facade.actor(username="admin"))["number"]
    assert _subject(one).startswith(f"[{number}]") and _subject(two).startswith(f"[{number}]")
    assert one["In-Reply-To"] == ack["Message-ID"] and two["In-Reply-To"] == one["Message-ID"]
    assert two["References"].split() == [ack["Message-ID"], one["Message-ID"]]
    files = [(p.get_filename(), p.get_payload(decode=True)) for p in one.walk() if p.get_filename()]
    assert files == [("步骤.pdf", b"%PDF-1.4 steps")]
    assert not [p for p in two.walk() if p.get_filename()]


# --- the staff ticket page -----------------------------------------------------------------------------------------

def test_note_from_the_page_never_reaches_mail_or_the_customer(client: TestClient, facade: Aftercare,
                                                               ticket_id: int, smtp: SmtpSink) -> None:
    csrf = staff_login(client, "engineer")
    response = client.post(f"/tickets/{ticket_id}/messages",
                           data={"csrf": csrf, "kind": "note", "body": "内部：客户欠费 SECRET-NOTE"},
                           follow_redirects=False)
    assert response.headers["location"] == f"/tickets/{ticket_id}?sent=note#conversation"
    page = client.get(response.headers["location"]).text
    assert "SECRET-NOTE" in page and "msg-note" in page and "内部备注已添加" in page
    Mailer(facade).send_pending()
    assert all("SECRET-NOTE" not in _text(m) for m in smtp.messages) and not _replies(smtp)

    customer = TestClient(client.app)
    status = customer.get(_status_url(facade, ticket_id))
    assert status.status_code == 200 and "SECRET-NOTE" not in status.text


def test_the_page_shows_one_stream_with_filters(client: TestClient, facade: Aftercare, ticket_id: int,
                                                clock: FakeClock) -> None:
    clock.advance(minutes=5)
    csrf = staff_login(client, "engineer")
    client.post(f"/tickets/{ticket_id}/messages", data={"csrf": csrf, "kind": "reply", "body": "公开回复 ABC"})
    client.post(f"/tickets/{ticket_id}/messages", data={"csrf": csrf, "kind": "note", "body": "内部备注 XYZ"})
    page = client.get(f"/tickets/{ticket_id}").text
    assert "沟通与处理记录" in page and 'data-kb-picker' in page
    # the procedure's events and the messages in one list, oldest first
    assert page.index("<strong>工单创建</strong>") < page.index("公开回复 ABC") < page.index("内部备注 XYZ")
    notes_only = client.get(f"/tickets/{ticket_id}?show=notes").text
    hidden = re.findall(r'<li class="[^"]*" id="message-\d+" data-stream="(\w+)"( hidden)?', notes_only)
    assert sorted(hidden) == [("messages", " hidden"), ("notes", "")]
    english = client.get(f"/tickets/{ticket_id}?lang=en").text
    assert "Conversation and timeline" in english and "Reply to customer" in english and "沟通与处理记录" not in english


def test_page_errors_keep_the_text_and_need_csrf(client: TestClient, facade: Aftercare, ticket_id: int) -> None:
    csrf = staff_login(client, "service_desk")
    empty = client.post(f"/tickets/{ticket_id}/messages", data={"csrf": csrf, "kind": "reply", "body": "  "})
    assert empty.status_code == 422 and "请填写内容。" in empty.text
    big = client.post(f"/tickets/{ticket_id}/messages", data={"csrf": csrf, "kind": "note", "body": "见附件 KEEP"},
                      files=[("files", ("big.bin", b"x" * (10 * 1024 * 1024 + 1), "application/octet-stream"))])
    assert big.status_code == 422 and "KEEP" in big.text and 'value="note" checked' in big.text
    forged = client.post(f"/tickets/{ticket_id}/messages", data={"csrf": "forged", "body": "hi"})
    assert forged.status_code == 403
    assert facade.list_messages(ticket_id=ticket_id, actor=facade.actor(username="admin")) == []
    anonymous = TestClient(client.app).post(f"/tickets/{ticket_id}/messages", data={"body": "hi"},
                                            follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


# --- the customer's status page ------------------------------------------------------------------------------------

def test_customer_reply_from_the_status_page_shows_on_the_ticket_and_tells_staff(
        client: TestClient, facade: Aftercare, ticket_id: int, smtp: SmtpSink) -> None:
    facade.post_message(ticket_id=ticket_id, body="请上传报错截图。", internal=False,
                        actor=facade.actor(username="service_desk"))
    Mailer(facade).send_pending()
    url = _status_url(facade, ticket_id)
    assert url in _text(_replies(smtp)[0])  # the reply e-mail leads to the status page
    smtp.messages.clear()

    customer = TestClient(client.app)
    page = customer.get(url)
    assert "请上传报错截图。" in page.text and "给我们留言" in page.text
    sent = customer.post(f"{url}/messages", data={"key": _form_key(page.text), "body": "截图如附件 CUSTOMER-1"},
                         files=[("files", ("报错.png", b"\x89PNG image", "image/png"))], follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == f"{url}?sent=1#conversation"
    after = customer.get(sent.headers["location"]).text
    assert "CUSTOMER-1" in after and "您的留言已发送" in after and "报错.png" in after

    csrf = staff_login(client, "engineer")
    staff_page = client.get(f"/tickets/{ticket_id}").text
    assert "CUSTOMER-1" in staff_page and "msg-customer" in staff_page and csrf
    Mailer(facade).send_pending()
    told = smtp.to("service_desk@aftercare.example")
    assert told and "CUSTOMER-1" in _text(told[0]) and f"/tickets/{ticket_id}" in _text(told[0])
    # the customer downloads the file of the conversation, and nothing else
    file_id = re.search(rf'href="{url}/files/(\d+)"', after)
    assert file_id
    download = customer.get(f"{url}/files/{file_id.group(1)}")
    assert download.status_code == 200 and download.content == b"\x89PNG image"
    assert download.headers["content-disposition"].startswith("attachment")


def test_status_page_refuses_stale_forged_and_tampered(client: TestClient, facade: Aftercare, ticket_id: int,
                                                       clock: FakeClock) -> None:
    customer = TestClient(client.app)
    url = _status_url(facade, ticket_id)
    key = _form_key(customer.get(url).text)
    tampered = customer.post(f"/s/{ticket_id}.AAAAtampered/messages", data={"key": key, "body": "hi"})
    assert tampered.status_code == 404 and "此链接无效" in tampered.text
    forged = customer.post(f"{url}/messages", data={"key": "123.forged", "body": "KEEP-ME"})
    assert forged.status_code == 409 and "KEEP-ME" in forged.text and "重新发送" in forged.text
    clock.advance(hours=25)
    stale = customer.post(f"{url}/messages", data={"key": key, "body": "KEEP-TOO"})
    assert stale.status_code == 409 and "KEEP-TOO" in stale.text
    empty = customer.post(f"{url}/messages", data={"key": _form_key(stale.text), "body": " "})
    assert empty.status_code == 422 and "请填写内容。" in empty.text
    assert facade.list_messages(ticket_id=ticket_id, actor=facade.actor(username="admin")) == []
    assert customer.get(f"/s/{ticket_id}.AAAAtampered").status_code == 404
    other = Desk(facade, clock).create(title="另一个工单")
    facade.post_message(ticket_id=other, body="别人的文件", internal=False, actor=facade.actor(username="engineer"),
                        files=[("x.txt", "text/plain", b"other")])
    other_file = facade.list_attachments(ticket_id=other)[0]["id"]
    assert customer.get(f"{url}/files/{other_file}").status_code == 404


def _many(n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"f{i}.txt", b"x" * 1000, "text/plain")) for i in range(n)]


def test_a_status_page_reply_with_too_many_files_is_refused_before_any_is_read(
        client: TestClient, facade: Aftercare, ticket_id: int, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str | None] = []
    original = UploadFile.read

    async def counting(self: UploadFile, size: int = -1) -> bytes:
        read.append(self.filename)
        return await original(self, size)

    monkeypatch.setattr(UploadFile, "read", counting)
    customer = TestClient(client.app)
    url = _status_url(facade, ticket_id)
    page = customer.get(url)
    over = customer.post(f"{url}/messages", data={"key": _form_key(page.text), "body": "十一个文件 KEEP"},
                         files=_many(MAX_FILES + 1))
    assert over.status_code == 422 and "KEEP" in over.text and f"最多 {MAX_FILES} 个文件" in over.text
    assert read == []  # refused on the count, no file held in memory
    flood = customer.post(f"{url}/messages", data={"key": _form_key(page.text), "body": "flood"}, files=_many(30))
    assert flood.status_code == 413 and read == []  # the form parser stops a little past MAX_FILES: a page says so
    assert "您的消息未发送" in flood.text and "<textarea" in flood.text
    staff = staff_login(client, "service_desk")
    note = client.post(f"/tickets/{ticket_id}/messages", data={"csrf": staff, "kind": "note", "body": "KEEP-NOTE"},
                       files=_many(MAX_FILES + 1))
    assert note.status_code == 422 and "KEEP-NOTE" in note.text and read == []
    flooded = client.post(f"/tickets/{ticket_id}/messages", data={"csrf": staff, "kind": "note", "body": "x"},
                          files=_many(30))
    assert flooded.status_code == 413 and "您的消息未发送" in flooded.text
    assert facade.list_messages(ticket_id=ticket_id, actor=facade.actor(username="admin")) == []


@pytest.mark.parametrize("file_id", ["0", "-1", "2147483648", "99999999999999999999"])
def test_status_page_file_with_an_id_no_row_can_have_is_not_found(client: TestClient, facade: Aftercare,
                                                                    ticket_id: int, file_id: str) -> None:
    customer = TestClient(client.app)
    missing = customer.get(f"{_status_url(facade, ticket_id)}/files/{file_id}")
    assert missing.status_code == 404 and "文件不存在" in missing.text


def test_status_page_speaks_the_customers_language(client: TestClient, facade: Aftercare, ticket_id: int) -> None:
    customer = TestClient(client.app)
    url = _status_url(facade, ticket_id)
    assert "给我们留言" in customer.get(url).text
    english = customer.get(f"{url}?lang=en").text
    assert "Write to us" in english and "给我们留言" not in english


def test_closed_ticket_status_page_has_no_reply_form(client: TestClient, facade: Aftercare, ticket_id: int) -> None:
    def close(session: object) -> None:
        from engine.models import Ticket

        session.get(Ticket, ticket_id).status = "archived"  # type: ignore[attr-defined]

    facade.run_in_unit(close, write=True)
    customer = TestClient(client.app)
    page = customer.get(_status_url(facade, ticket_id)).text
    assert 'name="key"' not in page and "此工单已关闭" in page


def test_the_ticket_page_gives_staff_the_customers_status_link(client: TestClient, facade: Aftercare,
                                                                ticket_id: int) -> None:
    staff_login(client, "service_desk")
    page = client.get(f"/tickets/{ticket_id}").text
    link = re.search(r'<code class="copyable">(http://testserver/s/[^<]+)</code>', page)
    assert link and "客户状态页" in page
    assert client.get(link.group(1).removeprefix("http://testserver")).status_code == 200  # the customer's page
    task = facade.list_tasks(actor=facade.actor(username="admin"), ticket_id=ticket_id)[0]["id"]
    assert link.group(0) in client.get(f"/tasks/{task}").text  # the task page shows the same facts
