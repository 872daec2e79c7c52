"""Reading inbound mail: parsing, HTML to text, the quoted history cut from a reply, auto-replies, bounces and
loops told from mail a person wrote, ticket numbers in subjects, malformed messages."""
from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest

from engine import inbound


def mail(body: str = "问题依旧。", *, subject: str = "系统无法登录", sender: str = "王工 <Wang@Demo-Customer.example>",
         html: str | None = None, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@vendor.example"
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    if html is None:
        message.set_content(body)
    else:
        message.set_content(html, subtype="html")
    return message


def parsed(message: EmailMessage) -> inbound.ParsedMail:
    return inbound.parse(message.as_bytes())


def test_a_reply_is_read_with_its_sender_threading_headers_and_attachment() -> None:
    message = mail("已经重启，问题依旧。", subject="回复: [AC-2026-000123] 系统无法登录", Message_ID="<c1@demo>",
                   In_Reply_To="<ours-2@x>", References="<ours-1@x> <ours-2@x>")
    message.add_attachment(b"ERROR 500 at login", maintype="text", subtype="plain", filename="../logs/app.log")
    message.add_attachment(b"\x89PNG...", maintype="image", subtype="png")
    got = parsed(message)
    assert (got.from_addr, got.from_name, got.message_id) == ("wang@demo-customer.example", "王工", "<c1@demo>")
    assert got.references == ["<ours-2@x>", "<ours-1@x>"]  # In-Reply-To first, then the newest reference
    assert got.text == "已经重启，问题依旧。"
    assert got.attachments == [("app.log", "text/plain", b"ERROR 500 at login"),
                                ("attachment-2.png", "image/png", b"\x89PNG...")]
    assert inbound.ticket_numbers(got.subject) == ["AC-2026-000123"]


def test_a_mail_without_message_id_gets_one_from_its_bytes_so_a_retry_is_the_same_mail() -> None:
    raw = mail().as_bytes()
    first, again = inbound.parse(raw), inbound.parse(raw)
    assert first.message_id == again.message_id and first.message_id.startswith("<sha256-")
    assert inbound.parse(raw + b"\nmore").message_id != first.message_id


def test_html_only_mail_becomes_text_without_scripts_or_styles() -> None:
    html = ("<html><head><style>p {color: red}</style><script>alert('x')</script></head><body>"
            "<p>您好，</p><p>报表<b>无法导出</b>：</p><table><tr><td>模块</td><td>报表</td></tr></table>"
            "<ul><li>Chrome</li><li>Edge</li></ul>谢谢<br>王工<img src='cid:logo'></body></html>")
    got = parsed(mail(html=html))
    assert got.html_only
    assert "alert" not in got.text and "color" not in got.text and "<" not in got.text
    assert "您好，\n\n报表无法导出：" in got.text
    assert "模块" in got.text and "* Chrome" in got.text and "谢谢\n王工" in got.text
    assert got.attachments == []  # the HTML body is not also stored as a file


def test_plain_text_is_preferred_to_its_html_alternative() -> None:
    message = mail("纯文本正文")
    message.add_alternative("<p>HTML 正文</p>", subtype="html")
    got = parsed(message)
    assert got.text == "纯文本正文" and not got.html_only and got.attachments == []


@pytest.mark.parametrize("reply", [
    "重启后可以了。\n\n-----原始邮件-----\n发件人: Aftercare <aftercare@vendor.example>\n主题: 系统无法登录\n\n请重启",
    "重启后可以了。\n\n发件人: Aftercare <aftercare@vendor.example>\n"
    "发送时间: 2026年11月23日 10:00\n收件人: 王工\n\n请重启",
    "重启后可以了。\n\nFrom: Aftercare\nSent: Monday, November 23, 2026 10:00 AM\nTo: Wang\n\nPlease restart",
    "重启后可以了。\n\n________________________________\nFrom: Aftercare\n\nPlease restart",
    "重启后可以了。\n\nOn Mon, Nov 23, 2026 at 10:00 AM Aftercare <aftercare@vendor.example>\nwrote:\n> Please restart",
    "重启后可以了。\n\nOn Mon, 23 Nov 2026, Aftercare wrote:\n> Please restart\n> now",
    "重启后可以了。\n\n在 2026年11月23日 10:00，Aftercare <aftercare@vendor.example> 写道：\n> 请重启",
    "重启后可以了。\n\nAftercare <aftercare@vendor.example> 于2026年11月23日周一 10:00写道：\n> 请重启",
    "重启后可以了。\n\n> 请重启\n> 谢谢",
])
def test_the_quoted_history_is_cut_from_a_reply(reply: str) -> None:
    assert inbound.strip_quoted(reply) == "重启后可以了。"


def test_text_that_only_looks_like_a_marker_is_kept() -> None:
    text = "From: the log I see errors.\nThe server restarted at 10:00.\n> not at the end\nthanks"
    assert inbound.strip_quoted(text) == text


def test_a_bare_forward_is_all_history_and_is_kept_whole() -> None:
    text = "-----原始邮件-----\n发件人: 客户\n主题: 报错\n\n报表导出报错"
    assert inbound.strip_quoted(text) == text


@pytest.mark.parametrize(("headers", "subject", "expected"), [
    ({"Auto-Submitted": "auto-replied"}, "Re: 系统无法登录", "auto_reply"),
    ({"Auto-Submitted": "auto-generated; owner-email=x@y"}, "通知", "auto_reply"),
    ({"Precedence": "bulk"}, "Newsletter", "auto_reply"),
    ({"Precedence": "junk"}, "Re: x", "auto_reply"),
    ({"Precedence": "list"}, "[list] x", "auto_reply"),
    ({"X-Autoreply": "yes"}, "Re: x", "auto_reply"),
    ({}, "自动回复: 系统无法登录", "auto_reply"),
    ({}, "Automatic reply: [AC-2026-000123] 系统无法登录", "auto_reply"),
    ({}, "Out of Office: back on Monday", "auto_reply"),
    ({"X-Aftercare-Ticket": "AC-2026-000123"}, "Re: x", "loop"),
    ({"Message-ID": "<1700000000.123.456.outbox-17@aftercare.local>"}, "x", "loop"),
])
def test_auto_replies_and_loops_are_told_apart(headers: dict[str, str], subject: str, expected: str) -> None:
    message = mail(subject=subject)
    for name, value in headers.items():
        message[name] = value
    skipped = inbound.skip_reason(parsed(message), envelope_from="wang@demo-customer.example")
    assert skipped is not None and skipped[0] == expected


def test_mail_a_person_wrote_is_not_skipped() -> None:
    message = mail(subject="Re: 系统无法登录", Auto_Submitted="no", Precedence="normal")
    assert inbound.skip_reason(parsed(message), envelope_from="wang@demo-customer.example") is None
    assert inbound.skip_reason(parsed(message), envelope_from=None) is None  # envelope unknown: not a bounce


def test_our_own_message_id_or_address_is_a_loop() -> None:
    got = parsed(mail(sender="Aftercare <aftercare@vendor.example>"))
    assert inbound.skip_reason(got, envelope_from="x@y.example", ours=False,
                               own_addresses=("aftercare@vendor.example",))[0] == "loop"  # type: ignore[index]
    assert inbound.skip_reason(parsed(mail()), envelope_from="x@y", ours=True)[0] == "loop"  # type: ignore[index]


def test_bounces_by_sender_null_envelope_or_delivery_report() -> None:
    assert inbound.skip_reason(parsed(mail(sender="MAILER-DAEMON@mx.example")), envelope_from="x@y")[0] == "bounce"  # type: ignore[index]
    assert inbound.skip_reason(parsed(mail(sender="postmaster@mx.example")), envelope_from="x@y")[0] == "bounce"  # type: ignore[index]
    assert inbound.skip_reason(parsed(mail()), envelope_from="")[0] == "bounce"  # type: ignore[index]
    report = (b"From: Mail Delivery System <mailer@mx.example>\r\nSubject: Undelivered Mail Returned to Sender\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"r1\"\r\n\r\n"
              b"--r1\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
              b"--r1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
              b"Final-Recipient: rfc822; x@y.example\r\nAction: failed\r\n--r1--\r\n")
    got = inbound.parse(report)
    assert got.is_report
    assert inbound.skip_reason(got, envelope_from="bounces@mx.example")[0] == "bounce"  # type: ignore[index]


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "empty"),
    (b"   \r\n", "empty"),
    (b"this is not an e-mail at all\r\njust text\r\n", "MIME"),
    (b"Subject: no sender\r\n\r\nbody\r\n", "sender"),
    (b"From: not an address\r\nSubject: x\r\n\r\nbody\r\n", "sender"),
    (b"From: a@b.example\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
     b"Content-Type: text/plain\r\n\r\ncut off here\r\n", "MIME"),
])
def test_malformed_messages_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(inbound.MalformedMail) as caught:
        inbound.parse(raw)
    assert reason in caught.value.reason


def test_ticket_numbers_and_titles_from_subjects() -> None:
    assert inbound.ticket_numbers("Re: [AC-2026-000123] 登录失败 [XJ-2026-000004]") == ["AC-2026-000123",
                                                                                    "XJ-2026-000004"]
    assert inbound.ticket_numbers("RE：【YB-2026-000042】月报") == ["YB-2026-000042"]
    assert inbound.ticket_numbers("订单 AC-2026-0001234 与 v1AC-2026-000123") == []
    assert inbound.ticket_title("回复：转发: Re: 报表无法导出") == "报表无法导出"
    assert inbound.ticket_title("  Re:  ") == inbound.NO_SUBJECT


def test_legacy_outbox_message_ids_name_their_rows() -> None:
    refs = ["<1700000000.1.2.outbox-42@aftercare.local>", "<other@example.com>", "<x.outbox-7@elsewhere>"]
    assert inbound.outbox_ids(refs) == [42]
    # an id no row can have names none (and never reaches the database, where it overflows)
    huge = ["<x.outbox-99999999999999999999@aftercare.local>", "<x.outbox-2147483648@aftercare.local>",
            "<x.outbox-0@aftercare.local>", "<x.outbox-2147483647@aftercare.local>"]
    assert inbound.outbox_ids(huge) == [2147483647]


def gbk_word(text: str) -> str:
    """An RFC 2047 encoded word in GBK, as Chinese mail clients write headers."""
    return f"=?GBK?B?{base64.b64encode(text.encode('gbk')).decode()}?="


def test_chinese_mail_in_gbk_with_an_encoded_subject_and_filename_is_read() -> None:
    body = "服务器日志见附件，谢谢！".encode("gbk")
    raw = (f"From: {gbk_word('王工')} <wang@demo-customer.example>\r\nSubject: {gbk_word('报表导出失败')}\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
           "--m\r\nContent-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() \
        + body + (f"\r\n--m\r\nContent-Type: application/octet-stream\r\n"
                  f"Content-Disposition: attachment; filename=\"{gbk_word('日志.txt')}\"\r\n"
                  "Content-Transfer-Encoding: base64\r\n\r\nTE9HCg==\r\n--m--\r\n").encode()
    got = inbound.parse(raw)
    assert (got.from_name, got.subject, got.text) == ("王工", "报表导出失败", "服务器日志见附件，谢谢！")
    assert got.attachments == [("日志.txt", "application/octet-stream", b"LOG\n")]
