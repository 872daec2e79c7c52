"""The public portal, the status link and the one-click survey."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.mail import Mailer
from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.support import Desk, SmtpSink, body

FORM = {"organization": "demo customer", "contact_name": "周工", "contact_email": "zhou@demo-customer.example",
        "title": "打印模板错位", "description": "升级后打印出来的单据错位"}


def test_portal_ticket_is_acknowledged_with_number_and_status_link(client: TestClient, facade: Aftercare,
                                                                   smtp: SmtpSink) -> None:
    page = client.post("/portal", data=FORM)
    assert page.status_code == 200
    number = re.search(r'id="ticket-number">([^<]+)<', page.text).group(1)
    Mailer(facade).send_pending()
    [mail] = smtp.to("zhou@demo-customer.example")
    text = body(mail)
    assert number in text
    status_path = re.search(r"http://testserver(/s/\S+)", text).group(1)
    status = client.get(status_path)
    assert status.status_code == 200 and number in status.text and "待分类" in status.text
    assert client.get(status_path[:-2] + "xx").status_code == 404
    admin = Desk(facade, facade.clock).actor("admin")
    assert [t["name"] for t in facade.list_tasks(actor=admin)] == ["triage"]


def test_portal_complaint_goes_to_the_service_manager(client: TestClient, facade: Aftercare) -> None:
    form = client.get("/portal")
    assert 'name="kind" value="complaint"' in form.text
    page = client.post("/portal", data={**FORM, "kind": "complaint", "title": "工程师未按时到场"})
    assert page.status_code == 200
    desk = Desk(facade, facade.clock)
    tasks = facade.list_tasks(actor=desk.actor("admin"))
    assert [(t["name"], t["role"]) for t in tasks] == [("complaint_investigation", "manager")]
    wrong = client.post("/portal", data={**FORM, "kind": "praise"})
    assert wrong.status_code == 422 and 'id="err-kind"' in wrong.text


def test_portal_validates_and_rate_limits(client: TestClient) -> None:
    missing = client.post("/portal", data={**FORM, "title": ""})
    assert missing.status_code == 422 and 'id="err-title"' in missing.text
    bad = client.post("/portal", data={**FORM, "contact_email": "zhou at demo"})  # the address finds the customer
    assert bad.status_code == 422 and 'id="err-contact_email"' in bad.text
    assert client.post("/portal", data={**FORM, "website": "http://spam"}).status_code == 400
    codes = [client.post("/portal", data={**FORM, "title": f"问题 {n}"}).status_code for n in range(4)]
    assert codes[-1] == 429 and 200 in codes


def test_sending_the_same_form_again_is_not_counted_against_the_limit(client: TestClient) -> None:
    first = client.post("/portal", data=FORM)  # a customer who presses Send again, or Back then Send
    assert first.status_code == 200
    number = re.search(r'id="ticket-number">([^<]+)<', first.text).group(1)
    for n in range(4):  # four other requests from the same address reach the limit of five
        assert client.post("/portal", data={**FORM, "title": f"另一个问题 {n}"}).status_code == 200
    assert client.post("/portal", data={**FORM, "title": "第六个问题"}).status_code == 429
    again = client.post("/portal", data=FORM)  # still told which ticket it is, not "too many requests"
    assert again.status_code == 200 and f'id="ticket-number">{number}<' in again.text
    assert 'id="already-received"' in again.text


def test_survey_is_answered_in_one_click_with_an_optional_comment(client: TestClient, facade: Aftercare,
                                                                  clock: FakeClock, smtp: SmtpSink) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    desk.triage(tid, category="question")
    desk.complete(tid, "answer_question", {"answer": "请清除浏览器缓存"})
    desk.complete(tid, "customer_acceptance", {"accepted": True}, role="service_desk")
    Mailer(facade).send_pending()
    survey = next(m for m in smtp.to("wang@demo-customer.example") if "?score=" in body(m))
    four = re.search(r"http://testserver(/c/\S+\?score=4)", body(survey)).group(1)
    page = client.get(four)  # what a mail scanner does: fetch (or render) the page, recording nothing
    assert page.status_code == 200 and re.search(r'name="score" value="4" required checked', page.text)
    assert desk.ticket(tid)["survey_score"] is None
    token_path = four.split("?")[0]
    key = re.search(r'name="key" value="([^"]+)"', page.text).group(1)
    assert client.post(token_path, data={"score": "4", "key": key}).status_code == 200  # the person's one tap
    assert desk.ticket(tid)["survey_score"] == 4
    assert client.post(token_path + "/comment", data={"comment": "响应很快"}).status_code == 200
    assert desk.events(tid, "survey_comment")[0]["comment"] == "响应很快"
    assert client.post(token_path + "/comment", data={"comment": "again"}).status_code == 410
    again = client.post(token_path, data={"score": "1"})
    assert again.status_code == 410 and desk.ticket(tid)["survey_score"] == 4
