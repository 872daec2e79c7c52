"""Self-service: the portal finds the customer from the sender's address, an unknown sender's request goes to the
desk to match, and a contact signs in by e-mailed link to "my tickets" (expired, tampered, another organisation's)."""
from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage

from fastapi.testclient import TestClient

from api.mail import Mailer
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.contacts import UNMATCHED_CUSTOMER
from tests.support import Desk, SmtpSink, body

REQUEST = {"contact_name": "李工", "contact_email": "li@qingshan-hospital.example", "contact_phone": "0591-8756 1123",
           "title": "检验报告打印空白", "description": "LIS 打印报告时整页空白"}


def _portal(client: TestClient, **fields: str) -> tuple[int, str, int | None]:
    page = client.post("/portal", data={**REQUEST, **fields})
    number = re.search(r'id="ticket-number">([^<]+)<', page.text)
    return page.status_code, page.text, (_ticket_id(client, number.group(1)) if number else None)


def _login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf, "next": "/"})


def _ticket_id(client: TestClient, number: str) -> int:
    return int(number.rsplit("-", 1)[1])


def _sign_in(client: TestClient, facade: Aftercare, smtp: SmtpSink, address: str) -> str:
    """Ask for the link as the contact would, and follow it from the e-mail; the link's path."""
    page = client.post("/my", data={"email": address})
    assert page.status_code == 200 and 'id="sent"' in page.text
    Mailer(facade).send_pending()
    mails = [m for m in smtp.to(address.lower()) if "/my/in/" in body(m)]
    assert mails, f"no sign-in e-mail to {address}"
    return re.search(r"http://testserver(/my/in/\S+)", body(mails[-1])).group(1)


def test_the_portal_finds_the_customer_by_contact_and_by_domain_and_stores_the_phone(client: TestClient,
                                                                                     facade: Aftercare) -> None:
    desk = Desk(facade, facade.clock)
    status, page, tid = _portal(client)
    assert status == 200 and 'id="unmatched"' not in page
    ticket = desk.ticket(tid)
    assert (ticket["customer"], ticket["contract_number"]) == ("青山医院", "HT-2023-007")
    assert ticket["contact_id"] is not None and ticket["contact_phone"] == "0591-8756 1123"
    status, page, tid = _portal(client, contact_email="Night.Shift@East-Grid.example", contact_phone="",
                                organization="")
    ticket = desk.ticket(tid)
    assert ticket["customer"] == "华东电网信息中心" and ticket["tier"] == "premium" and ticket["contact_id"] is None
    bad = client.post("/portal", data={**REQUEST, "contact_phone": "call me maybe"})
    assert bad.status_code == 422 and 'id="err-contact_phone"' in bad.text


def test_an_unknown_or_public_address_goes_to_the_desk_to_match(client: TestClient, facade: Aftercare) -> None:
    status, page, tid = _portal(client, contact_email="lis.admin@qq.com", organization="青山医院检验科")
    assert status == 200 and 'id="unmatched"' in page and "服务台会先将请求与贵单位的服务协议对应" in page
    desk = Desk(facade, facade.clock)
    ticket = desk.ticket(tid)
    assert ticket["customer"] == UNMATCHED_CUSTOMER and ticket["contract_number"] is None
    assert "青山医院检验科" in ticket["description"] and ticket["contact_phone"] == "0591-8756 1123"
    assert desk.names(tid) == ["triage"]  # the service desk's queue
    _login(client, "service_desk")
    shown = client.get(f"/tickets/{tid}")
    assert 'id="unmatched"' in shown.text and f'href="/tickets/{tid}/match"' in shown.text
    form = client.get(f"/tickets/{tid}/match")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    hospital = re.search(r'<option value="(\d+)">青山医院</option>', form.text).group(1)
    missing = client.post(f"/tickets/{tid}/match", data={"csrf": csrf, "customer_id": ""})
    assert missing.status_code == 422 and 'id="err-customer_id"' in missing.text
    done = client.post(f"/tickets/{tid}/match", data={"csrf": csrf, "customer_id": hospital, "save_contact": "1"},
                       follow_redirects=False)
    assert done.status_code == 303
    ticket = desk.ticket(tid)
    assert (ticket["customer"], ticket["contract_number"], ticket["contact_id"] is not None) == (
        "青山医院", "HT-2023-007", True)
    # the sender is a contact now: the next request is the hospital's at once
    status, page, tid = _portal(client, contact_email="LIS.Admin@qq.com")
    assert desk.ticket(tid)["customer"] == "青山医院"


def test_only_the_desk_managers_and_admins_keep_contacts(client: TestClient, facade: Aftercare) -> None:
    _login(client, "service_desk")
    contracts = client.get("/admin/contracts")
    assert 'href="/admin/contacts"' in contracts.text
    listing = client.get("/admin/contacts")
    demo = re.search(r'href="/admin/contacts\?customer_id=(\d+)"[^>]*><strong>Demo Customer', listing.text).group(1)
    page = client.get(f"/admin/contacts?customer_id={demo}")
    assert "wang@demo-customer.example" in page.text and "demo-customer.example" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    taken = client.post(f"/admin/contacts/{demo}/contacts", data={
        "csrf": csrf, "name": "另一个王工", "email": "WANG@demo-customer.example", "phone": "", "language": "zh-CN"})
    assert taken.status_code == 422 and 'id="err-email"' in taken.text and "该邮箱已属于另一位联系人" in taken.text
    bad = client.post(f"/admin/contacts/{demo}/contacts", data={
        "csrf": csrf, "name": "", "email": "x", "phone": "abc", "language": "zh-CN"})
    assert all(f'id="err-{f}"' in bad.text for f in ("name", "email", "phone"))
    added = client.post(f"/admin/contacts/{demo}/contacts", follow_redirects=True, data={
        "csrf": csrf, "name": "赵工", "email": "zhao@demo-customer.example", "phone": "0571 8865 2310",
        "language": "zh-CN"})
    assert added.status_code == 200 and "联系人已保存" in added.text and "zhao@demo-customer.example" in added.text
    public = client.post(f"/admin/contacts/{demo}/domains",
                         data={"csrf": csrf, "domains": "demo-customer.example, 163.com"})
    assert public.status_code == 422 and 'id="err-domains"' in public.text and "163.com" in public.text
    _login(client, "engineer")
    assert client.get("/admin/contacts").status_code == 403


def test_a_contact_signs_in_by_link_and_sees_the_organisations_tickets(client: TestClient, facade: Aftercare,
                                                                       smtp: SmtpSink) -> None:
    desk = Desk(facade, facade.clock)
    ours = desk.create(contact_name="IT 部", contact_email="it@demo-customer.example", title="报表导出超时")
    theirs = desk.create(customer="青山医院", contact_email="it@qingshan-hospital.example", title="挂号机死机")
    staff = desk.actor("engineer")
    facade.post_message(ticket_id=ours, body="请提供导出时的截图。", internal=False, actor=staff,
                        files=(("checklist.txt", "text/plain", b"steps"),))
    facade.post_message(ticket_id=ours, body="客户可能要加钱，先别说", internal=True, actor=staff,
                        files=(("internal.txt", "text/plain", b"secret"),))
    link = _sign_in(client, facade, smtp, "wang@demo-customer.example")  # another contact of the same customer
    opened = client.get(link, follow_redirects=False)
    assert opened.status_code == 303 and "aftercare_my" in opened.headers["set-cookie"]
    assert "HttpOnly" in opened.headers["set-cookie"]
    listing = client.get("/my/tickets")
    assert listing.status_code == 200 and "报表导出超时" in listing.text and "挂号机死机" not in listing.text
    assert "我的工单" in listing.text and "Demo Customer" in listing.text
    page = client.get(f"/my/tickets/{ours}")
    assert page.status_code == 200 and "请提供导出时的截图。" in page.text and "checklist.txt" in page.text
    assert "先别说" not in page.text and "internal.txt" not in page.text
    files = dict(re.findall(r'href="(/my/tickets/\d+/files/(\d+))"', page.text))
    assert client.get(next(iter(files))).content == b"steps"
    internal = max(int(a["id"]) for a in facade.list_attachments(ticket_id=ours))
    assert client.get(f"/my/tickets/{ours}/files/{internal}").status_code == 404
    other = client.get(f"/my/tickets/{theirs}")
    assert other.status_code == 404 and "挂号机死机" not in other.text
    assert client.get(f"/my/tickets/{theirs}/service-form.pdf").status_code == 404
    assert client.get(f"/my/tickets/{theirs}/files/{internal}").status_code == 404
    assert client.get(f"/my/tickets/{ours}?lang=en").text.count("Conversation") >= 1
    assert client.post("/my/out", follow_redirects=False).status_code == 303


def test_the_answer_never_tells_whether_an_address_is_known(client: TestClient, facade: Aftercare,
                                                            smtp: SmtpSink) -> None:
    known = client.post("/my", data={"email": "li@qingshan-hospital.example"})
    unknown = client.post("/my", data={"email": "nobody@qingshan-hospital.example"})
    assert known.status_code == unknown.status_code == 200
    assert re.sub(r'(value|nonce)="[^"]*"', "", known.text) == re.sub(r'(value|nonce)="[^"]*"', "", unknown.text)
    Mailer(facade).send_pending()
    assert smtp.to("nobody@qingshan-hospital.example") == [] and len(smtp.to("li@qingshan-hospital.example")) == 1
    bad = client.post("/my", data={"email": "not an address"})
    assert bad.status_code == 422 and 'id="err-email"' in bad.text


def test_expired_and_tampered_links_say_so_and_offer_a_new_one(client: TestClient, facade: Aftercare,
                                                               clock: FakeClock, smtp: SmtpSink) -> None:
    link = _sign_in(client, facade, smtp, "alex@demo-customer.example")  # an English-speaking contact
    tampered = client.get(link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb"))
    assert tampered.status_code == 404 and "篡改" in tampered.text
    assert 'name="email"' in tampered.text and "aftercare_my" not in tampered.headers.get("set-cookie", "")
    moved = link.split(".")
    later = f"{moved[0]}.{int(moved[1]) + 86400}.{moved[2]}"  # a longer life it was not signed for
    assert client.get(later).status_code == 404
    client.get(link)
    english = client.get("/my/tickets")
    assert english.status_code == 200 and "My tickets" in english.text and "Sign out" in english.text
    assert "我的工单" in client.get("/my/tickets?lang=zh-CN").text
    clock.advance(hours=13)  # the sign-in lasts 12 hours
    stale = client.get("/my/tickets")
    assert stale.status_code == 410 and "您的登录已过期" in stale.text  # the language chosen last
    clock.advance(hours=12)  # the e-mailed link lasts 24 hours
    expired = client.get(link)
    assert expired.status_code == 410 and "此登录链接已过期" in expired.text and 'name="email"' in expired.text
    assert client.get("/my/tickets", follow_redirects=False).status_code in (303, 410)


def test_pending_customer_steps_link_to_their_pages(client: TestClient, facade: Aftercare, smtp: SmtpSink) -> None:
    desk = Desk(facade, facade.clock)
    tid = desk.create(customer="青山医院", contact_email="it@qingshan-hospital.example", title="医保接口报错")
    desk.triage(tid, category="question")
    desk.complete(tid, "answer_question", {"answer": "已更新医保目录"})
    assert "customer_acceptance" in desk.names(tid)
    client.get(_sign_in(client, facade, smtp, "li@qingshan-hospital.example"))
    listing = client.get("/my/tickets")
    assert "待您处理" in listing.text
    page = client.get(f"/my/tickets/{tid}")
    action = re.search(r'<div class="card" id="actions">.*?href="(/c/[^"]+)"', page.text, re.S).group(1)
    assert client.get(action).status_code == 200
    assert f'href="/my/tickets/{tid}/service-form.pdf"' in page.text  # answered: the fault handling form
    form = client.get(f"/my/tickets/{tid}/service-form.pdf")
    assert form.status_code == 200 and form.content.startswith(b"%PDF")


def test_the_intake_form_takes_a_phone_number(client: TestClient, facade: Aftercare) -> None:
    _login(client, "service_desk")
    form = client.get("/intake")
    assert 'name="contact_phone"' in form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    fields = {"csrf": csrf, "customer": "青山医院", "contact_name": "信息科", "channel": "phone",
              "contact_email": "it@qingshan-hospital.example", "title": "PACS 调阅慢",
              "description": "影像打开需 30 秒"}
    bad = client.post("/intake", data={**fields, "contact_phone": "tomorrow"})
    assert bad.status_code == 422 and 'id="err-contact_phone"' in bad.text
    made = client.post("/intake", data={**fields, "contact_phone": "0591-8756 1100 转 8"}, follow_redirects=False)
    tid = int(made.headers["location"].rsplit("/", 1)[1])
    ticket = Desk(facade, facade.clock).ticket(tid)
    assert ticket["contact_phone"] == "0591-8756 1100 转 8" and ticket["contact_id"] is not None
    assert "0591-8756 1100 转 8" in client.get(f"/tickets/{tid}").text


def _mail(sender: str, subject: str, text: str, files: int = 0, prefix: str = "shot") -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "support@vendor.example", subject
    message["Message-ID"] = f"<{prefix}.{subject.encode().hex()[:12]}.{files}@{sender.rpartition('@')[2]}>"
    message.set_content(text)
    for i in range(files):
        message.add_attachment(f"{prefix} {i}".encode(), maintype="image", subtype="png",
                               filename=f"{prefix}-{i:02d}.png")
    return message.as_bytes(policy=policy.SMTP)


def test_my_tickets_shows_and_serves_only_the_files_the_customer_may_have(client: TestClient, facade: Aftercare,
                                                                          smtp: SmtpSink) -> None:
    opened = facade.receive_mail(_mail("王工 <wang@demo-customer.example>", "报表导出报错", "见截图", 1, "opening"))
    tid = int(opened["ticket_id"])
    number = opened["ticket_number"]
    facade.add_attachment(ticket_id=tid, filename="engineer-debug.log", content_type="text/plain", data=b"stack",
                          actor=Desk(facade, facade.clock).actor("engineer"))  # a staff upload on the ticket page
    stranger = facade.receive_mail(_mail("ops@east-grid.example", f"Re: [{number}] 报表导出报错", "我们也有", 12,
                                         "stranger"))
    assert stranger["outcome"] == "note"
    reply = facade.receive_mail(_mail("wang@demo-customer.example", f"Re: [{number}] 报表导出报错", "十二张", 12,
                                      "customer"))
    assert reply["outcome"] == "reply"
    client.get(_sign_in(client, facade, smtp, "wang@demo-customer.example"))
    page = client.get(f"/my/tickets/{tid}")
    assert page.status_code == 200 and "opening-00.png" in page.text  # the mail that opened the ticket
    assert all(f"customer-{i:02d}.png" in page.text for i in range(12))  # ten with the message, two on the ticket
    assert "engineer-debug.log" not in page.text and "stranger-" not in page.text
    shown = {int(i) for i in re.findall(rf'href="/my/tickets/{tid}/files/(\d+)"', page.text)}
    for row in facade.list_attachments(ticket_id=tid):
        served = client.get(f"/my/tickets/{tid}/files/{row['id']}")
        public = row["filename"].startswith(("opening-", "customer-"))
        assert (served.status_code, row["id"] in shown) == ((200, True) if public else (404, False)), row["filename"]
    token = facade.status_token(ticket_id=tid)  # the status page serves by the same rule
    for row in facade.list_attachments(ticket_id=tid):
        if row["filename"] in ("engineer-debug.log", "stranger-11.png"):
            assert client.get(f"/s/{token}/files/{row['id']}").status_code == 404


def test_my_tickets_never_hands_out_the_status_page_link(client: TestClient, facade: Aftercare,
                                                         smtp: SmtpSink) -> None:
    tid = Desk(facade, facade.clock).create(title="打印机脱机")
    client.get(_sign_in(client, facade, smtp, "wang@demo-customer.example"))
    token = facade.status_token(ticket_id=tid)
    for path in ("/my/tickets", f"/my/tickets/{tid}"):
        page = client.get(path)
        assert page.status_code == 200 and "打印机脱机" in page.text
        assert token not in page.text and 'href="/s/' not in page.text
    assert f'href="/my/tickets/{tid}"' in client.get("/my/tickets").text
    assert "请直接回复我们关于此工单的最新邮件" in client.get(f"/my/tickets/{tid}").text
    view = facade.contacts.my_ticket(token=client.cookies.get("aftercare_my"), ticket_id=tid)
    assert "status_token" not in view["ticket"]


def test_customer_pages_name_the_service_desk_not_the_engineer(client: TestClient, facade: Aftercare,
                                                               smtp: SmtpSink) -> None:
    desk = Desk(facade, facade.clock)
    tid = desk.create(title="接口超时")
    facade.post_message(ticket_id=tid, body="已重启接口服务，请再试。", internal=False, actor=desk.actor("engineer"))
    status = client.get(f"/s/{facade.status_token(ticket_id=tid)}")
    assert status.status_code == 200 and "已重启接口服务" in status.text
    assert "服务台" in status.text and "engineer" not in status.text
    client.get(_sign_in(client, facade, smtp, "wang@demo-customer.example"))
    mine = client.get(f"/my/tickets/{tid}")
    assert "已重启接口服务" in mine.text and "服务台" in mine.text and "engineer" not in mine.text


def test_the_intake_form_offers_the_customers_contacts(client: TestClient, facade: Aftercare) -> None:
    _login(client, "service_desk")
    form = client.get("/intake").text
    hospital = int(re.search(r'<option data-id="(\d+)" *>青山医院</option>', form).group(1))
    assert 'id="contact_name" name="contact_name" type="text" value="" list="known-contacts"' in form
    assert '<datalist id="known-contacts">' in form and '<script src="/static/intake.js" defer>' in form
    offered = client.get("/intake/contacts", params={"customer_id": hospital}).json()
    assert {"name": "信息科 李工", "email": "li@qingshan-hospital.example", "phone": "0591-8756 1123"} in offered
    li = next(c for c in facade.contacts.list_contacts(actor=facade.actor(username="admin"), customer_id=hospital)
              ["contacts"] if c["email"] == "li@qingshan-hospital.example")
    facade.contacts.set_contact_active(actor=facade.actor(username="admin"), contact_id=li["id"], active=False)
    assert "信息科 李工" not in [c["name"] for c in client.get("/intake/contacts",
                                                            params={"customer_id": hospital}).json()]
    assert client.get("/intake/contacts", params={"customer_id": 999_999}).status_code == 404
    assert client.get("/intake/contacts", params={"customer_id": "x"}).status_code == 422
    _login(client, "engineer")  # a role that does not keep contacts gets none (its form works without them)
    assert client.get("/intake/contacts", params={"customer_id": hospital}).status_code == 403
    assert client.get("/intake").status_code == 200
