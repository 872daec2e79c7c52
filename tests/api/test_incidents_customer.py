"""Customers and diagram code that fails: an answer through a link (/c/{token}) changes nothing, parks the case and
shows a friendly page in the customer's language (409, never 500), and the link works again once the case is
retried; a message on the status page or by e-mail is kept while the case is parked; a procedure that cannot start
answers 409 with the element on the API, the staff intake page and the portal, and leaves nothing behind."""
from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.mail_in import MailInController, start_mail_in
from engine.commands import Aftercare
from engine.models import CustomerLink, HumanTask, InboundMail, Message, OutboxMessage, Ticket, TimelineEvent
from engine.users import Actor
from tests.api.conftest import login
from tests.api.test_attachments import staff_login
from tests.api.test_mail_in import mail, send
from tests.fixtures.incidents.diagrams import broken_start, limited, start
from tests.support import customer_token, free_port

pytestmark = pytest.mark.script_budget(0.2)  # a looping script costs a fraction of a second

OWNER = Actor("process_owner", "process_owner")
LOOP = "while True:\n    pass"
NOT_RECORDED = {"en": "We could not record your answer right now", "zh-CN": "暂时无法记录您的答复"}


def rows(facade: Aftercare, model: Any, **where: Any) -> list[Any]:
    return list(facade.run_in_unit(lambda s: list(s.scalars(select(model).filter_by(**where)))))


def incident_events(facade: Aftercare, ticket_id: int) -> list[dict[str, Any]]:
    return [e.data for e in rows(facade, TimelineEvent, ticket_id=ticket_id, kind="incident")]


def version_of(created: list[dict[str, Any]]) -> int:
    return int(next(c["version"] for c in created if c["process_id"] == "limited"))


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_customer_answer_that_fails_is_not_recorded_and_the_link_works_after_the_retry(
        client: TestClient, facade: Aftercare, lang: str) -> None:
    facade.deploy(files=limited(LOOP, first="task", lane="customer"), actor=OWNER)
    ticket_id = start(facade)
    token = customer_token(facade, ticket_id)
    assert client.get(f"/c/{token}?lang={lang}").status_code == 200

    answered = client.post(f"/c/{token}?lang={lang}", data={"answer": "7"})
    assert answered.status_code == 409
    assert NOT_RECORDED[lang] in answered.text and "CPU" not in answered.text and "calc" not in answered.text
    [step] = rows(facade, HumanTask, ticket_id=ticket_id)
    assert step.state == "open" and rows(facade, TimelineEvent, ticket_id=ticket_id, kind="task_completed") == []
    assert rows(facade, CustomerLink, task_id=step.id)[0].used_at is None, "the link is not spent"

    [incident] = facade.list_incidents(actor=OWNER)
    assert (incident["ticket_id"], incident["element_id"]) == (ticket_id, "calc")
    [parked] = incident_events(facade, ticket_id)
    assert parked["attempt"]["by"] == "customer" and parked["attempt"]["answer"] == {"answer": "7"}
    told = rows(facade, OutboxMessage, template="incident", ticket_id=ticket_id)
    assert sorted(m.recipient for m in told) == ["manager", "process_owner"]

    again = client.get(f"/c/{token}?lang={lang}")  # parked: the page says so instead of offering the form
    assert again.status_code == 409 and NOT_RECORDED[lang] in again.text and "<form" not in again.text
    assert client.post(f"/c/{token}?lang={lang}", data={"answer": "7"}).status_code == 409
    assert len(incident_events(facade, ticket_id)) == 1, "a parked case is not run again by the customer"

    fixed = version_of(facade.deploy(files=limited("x = 1", first="task", lane="customer"), actor=OWNER))
    retried = facade.retry_incident(instance_id=incident["instance_id"], actor=OWNER, to_version=fixed)
    assert retried["status"] == "running"
    assert client.get(f"/c/{token}?lang={lang}").status_code == 200
    done = client.post(f"/c/{token}?lang={lang}", data={"answer": "7"})
    assert done.status_code == 200, done.text
    assert [e.data["data"] for e in rows(facade, TimelineEvent, ticket_id=ticket_id, kind="task_completed")] \
        == [{"answer": 7}]


def answer_step_case(facade: Aftercare) -> tuple[int, str]:
    """A case waiting for the customer's answer, whose next script loops: its ticket id and number."""
    facade.deploy(files=limited(LOOP, first="task", lane="customer", answer=True), actor=OWNER)
    ticket_id = start(facade)
    number = facade.get_ticket(ticket_id=ticket_id, actor=Actor("admin", "admin"))["number"]
    return ticket_id, str(number)


def customer_messages(facade: Aftercare, ticket_id: int) -> list[str]:
    return [m.body for m in rows(facade, Message, ticket_id=ticket_id, author_kind="customer")]


def test_a_status_page_message_is_kept_while_the_case_is_parked(client: TestClient, facade: Aftercare) -> None:
    ticket_id, _number = answer_step_case(facade)
    token = facade.status_token(ticket_id=ticket_id)
    for text in ("第一条答复", "第二条答复"):
        page = client.get(f"/s/{token}")
        key = re.search(r'name="key" value="([^"]+)"', page.text)
        assert key, page.text
        sent = client.post(f"/s/{token}/messages", data={"body": text, "key": key.group(1)}, follow_redirects=False)
        assert sent.status_code == 303, sent.text
    assert customer_messages(facade, ticket_id) == ["第一条答复", "第二条答复"]
    [step] = rows(facade, HumanTask, ticket_id=ticket_id)
    assert step.state == "open", "the step waits for the retry; the messages wait in the conversation"
    [parked] = incident_events(facade, ticket_id)  # the second message did not run the parked case again
    assert parked["element"] == "calc" and parked["attempt"]["by"] == "customer_message"
    assert len(facade.list_incidents(actor=OWNER)) == 1


@pytest.fixture
def listener(facade: Aftercare) -> Iterator[MailInController]:
    controller = start_mail_in(facade, host="127.0.0.1", port=free_port())
    yield controller
    controller.stop()


def test_an_email_reply_is_accepted_and_the_case_parked(facade: Aftercare, listener: MailInController) -> None:
    ticket_id, number = answer_step_case(facade)
    send(listener, mail("我们已经重启过了。", subject=f"Re: [{number}] 请补充信息"))  # 250: smtplib raises otherwise
    assert customer_messages(facade, ticket_id) == ["我们已经重启过了。"]
    [incident] = facade.list_incidents(actor=OWNER)
    assert incident["ticket_id"] == ticket_id and "CPU time" in incident["error"]
    assert rows(facade, HumanTask, ticket_id=ticket_id)[0].state == "open"
    [logged] = rows(facade, InboundMail, ticket_id=ticket_id)
    assert logged.outcome == "reply"


def ticket_count(facade: Aftercare) -> int:
    return int(facade.run_in_unit(lambda s: s.scalar(select(func.count(Ticket.id)))))


def test_a_new_ticket_by_email_that_cannot_start_is_deferred_451(facade: Aftercare,
                                                                  listener: MailInController) -> None:
    facade.deploy(files=broken_start(LOOP), actor=OWNER)
    before = ticket_count(facade)
    message = mail("收银机无法开机", subject="收银机故障", Message_ID="<start-fails@demo-customer.example>")
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        send(listener, message)
    assert deferred.value.smtp_code == 451, "temporary: the forwarding server keeps the mail and tries again"
    assert ticket_count(facade) == before and rows(facade, InboundMail) == []

    facade.deploy(files=broken_start("x = 1"), actor=OWNER)  # fixed: the server's next try opens the ticket
    send(listener, message)
    assert ticket_count(facade) == before + 1


def test_a_ticket_that_cannot_start_answers_409_everywhere(client: TestClient, facade: Aftercare) -> None:
    facade.deploy(files=broken_start("n = 10\nx = n**n**n"), actor=OWNER)
    before = ticket_count(facade)
    fields = {"customer": "Demo Customer", "contact_name": "王工", "contact_email": "wang@demo-customer.example",
              "channel": "phone", "title": "收银机无法开机", "description": "门店 3"}
    api = client.post("/api/tickets", json=fields, headers=login(client, "service_desk"))
    assert api.status_code == 409, api.text
    [error] = api.json()["errors"]
    assert error["element_id"] == "acknowledge" and "bits" in error["message"]

    csrf = staff_login(client, "service_desk")
    intake = client.post("/intake?lang=en", data={**fields, "csrf": csrf}, follow_redirects=False)
    assert intake.status_code == 409
    assert 'id="err-form"' in intake.text and "could not start" in intake.text and "acknowledge" in intake.text
    assert 'value="收银机无法开机"' in intake.text, "what was typed is kept"

    portal = client.post("/portal?lang=zh-CN", data={
        "contact_name": "王工", "contact_email": "wang@demo-customer.example", "title": "收银机无法开机",
        "description": "门店 3", "kind": "request", "idempotency_key": "portal-start-fails"})
    assert portal.status_code == 409 and "暂时无法受理您的请求" in portal.text and "bits" not in portal.text
    assert ticket_count(facade) == before
