"""What the overseers read of an incident: the notice says what the customer tried when it failed, and a digest
names a held incident notice in words, in both languages (not the bare template name "incident")."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.mail import Mailer
from engine import script_limits
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.incidents import CaseParked
from engine.users import Actor
from tests.fixtures.incidents.diagrams import limited, start
from tests.support import SmtpSink, body, customer_token

OWNER = Actor("process_owner", "process_owner")
MANAGER = "manager@aftercare.example"  # a demo user, reading Chinese
OLIVIA = "olivia@aftercare.example"


@pytest.fixture(autouse=True)
def short_budget(facade: Aftercare) -> Iterator[None]:
    script_limits.configure(cpu_seconds=0.2)
    yield
    script_limits.configure(cpu_seconds=1.0)


def send_all(facade: Aftercare) -> None:
    mailer = Mailer(facade)
    while mailer.send_pending():
        pass


def test_the_incident_notice_says_what_the_customer_tried(facade: Aftercare, smtp: SmtpSink) -> None:
    facade.add_user(username="olivia", role="manager", password="pw", email=OLIVIA, language="en")
    facade.deploy(files=limited("x = 1 // 0", first="task", lane="customer"), actor=OWNER)
    ticket_id = start(facade)
    with pytest.raises(CaseParked):
        facade.complete_by_link(token=customer_token(facade, ticket_id), data={"answer": "42"})
    send_all(facade)
    [english] = smtp.to(OLIVIA)
    text = body(english)
    assert "The customer was answering \"Step\"" in text and "answer=42" in text and "ZeroDivisionError" in text
    [chinese] = smtp.to(MANAGER)
    assert "出错时客户正在提交「Step」" in body(chinese) and "answer=42" in body(chinese)


def test_a_digest_names_held_incident_notices_in_both_languages(facade: Aftercare, clock: FakeClock,
                                                                smtp: SmtpSink) -> None:
    facade.add_user(username="olivia", role="manager", password="pw", email=OLIVIA, language="en")
    for name in ("olivia", "manager"):
        facade.set_notification_preferences(actor=Actor(name, "manager"), modes={"deadline": "digest"})
    facade.deploy(files=limited("n = 10\nx = n**n**n"), actor=OWNER)
    tickets = [start(facade, title=f"Limited {n}") for n in range(2)]
    clock.advance(hours=2)
    facade.fire_due_timers()  # both cases parked: two incident notices for every manager, held
    send_all(facade)
    assert smtp.to(OLIVIA) == [] and smtp.to(MANAGER) == []
    clock.advance(minutes=10)
    send_all(facade)
    [english], [chinese] = smtp.to(OLIVIA), smtp.to(MANAGER)
    assert body(english).count("Case parked as an incident: diagram code failed at calc") == 2
    assert body(chinese).count("流程异常，工单流程已挂起：流程图代码出错（元素 calc）") == 2
    for text in (body(english), body(chinese)):
        assert "\n   incident\n" not in text.replace("\r\n", "\n")
        assert all(f"/tickets/{tid}" in text for tid in tickets)
