"""Contacts: who a sender is (a contact, a customer's own domain, or nobody yet), the contacts the service desk
keeps, and matching a ticket from an unknown sender to its customer."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine import contacts
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Conflict, Forbidden, ValidationFailed
from engine.users import Actor
from tests.support import Desk

SH = ZoneInfo("Asia/Shanghai")
DESK = Actor("service_desk", "service_desk")


def _sender(facade: Aftercare, address: str) -> tuple[str | None, str | None]:
    def work(session: object) -> tuple[str | None, str | None]:
        customer, contact = contacts.find_sender(session, address)  # type: ignore[arg-type]
        return (customer.name if customer else None), (contact.email if contact else None)
    return facade.run_in_unit(work)  # type: ignore[no-any-return]


def _customer_id(facade: Aftercare, name: str) -> int:
    return next(c["id"] for c in facade.contacts.customers_overview(actor=DESK) if c["name"] == name)


def test_a_sender_is_a_contact_or_of_a_customers_domain_and_public_domains_never_match(facade: Aftercare) -> None:
    assert _sender(facade, "Li@Qingshan-Hospital.example") == ("青山医院", "li@qingshan-hospital.example")
    assert _sender(facade, "new.person@qingshan-hospital.example") == ("青山医院", None)
    assert _sender(facade, "pacs@Radiology.Qingshan-Hospital.example") == ("青山医院", None)  # a subdomain
    assert _sender(facade, "someone@fake-qingshan-hospital.example") == (None, None)
    assert _sender(facade, "stranger@unknown-firm.example") == (None, None)
    cid = _customer_id(facade, "青山医院")
    with pytest.raises(ValidationFailed) as refused:
        facade.contacts.set_domains(actor=DESK, customer_id=cid, domains="qingshan-hospital.example, qq.com")
    assert refused.value.errors == [{"field": "domains", "value": "qq.com",
                                     "message": "A public mail provider cannot identify a customer"}]
    assert _sender(facade, "someone@qq.com") == (None, None)
    # a contact at a public provider is still known by the whole address
    facade.contacts.save_contact(actor=DESK, customer_id=cid, name="夜班 张工", email="ZhangYe@163.com",
                                 phone="13800138000")
    assert _sender(facade, "zhangye@163.com") == ("青山医院", "zhangye@163.com")
    assert _sender(facade, "other@163.com") == (None, None)


def test_the_placeholder_customer_is_made_once(facade: Aftercare, clock: FakeClock) -> None:
    def twice(session: object) -> tuple[int, int]:
        first = contacts.unmatched_customer(session, clock.now())  # type: ignore[arg-type]
        return first.id, contacts.unmatched_customer(session, clock.now()).id  # type: ignore[arg-type]
    a, b = facade.run_in_unit(twice, write=True)
    assert a == b and facade.run_in_unit(twice, write=True) == (a, a)
    assert contacts.UNMATCHED_CUSTOMER not in [c["name"] for c in facade.contacts.customers_overview(actor=DESK)]


def test_contacts_are_kept_by_the_desk_with_errors_naming_the_field(facade: Aftercare) -> None:
    cid = _customer_id(facade, "Demo Customer")
    added = facade.contacts.save_contact(actor=DESK, customer_id=cid, name="陈工", email=" Chen@Demo-Customer.example ",
                                         phone="0571-8865 2399 转 12", language="en")
    assert added["email"] == "chen@demo-customer.example" and added["language"] == "en"
    with pytest.raises(ValidationFailed) as bad:
        facade.contacts.save_contact(actor=DESK, customer_id=cid, name="", email="not-an-address", phone="call me",
                                     language="fr")
    assert {e["field"] for e in bad.value.errors} == {"name", "email", "phone", "language"}
    other = _customer_id(facade, "青山医院")
    with pytest.raises(ValidationFailed) as taken:
        facade.contacts.save_contact(actor=DESK, customer_id=other, name="陈工", email="chen@demo-customer.example")
    assert taken.value.errors == [{"field": "email", "value": "陈工 (Demo Customer)",
                                   "message": "This e-mail address already belongs to another contact"}]
    edited = facade.contacts.save_contact(actor=DESK, customer_id=cid, contact_id=added["id"], name="陈工程师",
                                          email="chen@demo-customer.example", phone="")
    assert edited["name"] == "陈工程师" and edited["phone"] is None
    facade.contacts.set_contact_active(actor=DESK, contact_id=added["id"], active=False)
    assert _sender(facade, "chen@demo-customer.example") == ("Demo Customer", None)  # the domain still knows them
    with pytest.raises(Forbidden):
        facade.contacts.save_contact(actor=Actor("engineer", "engineer"), customer_id=cid, name="x",
                                     email="x@demo-customer.example")


def test_a_ticket_remembers_its_contact_and_phone(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    known = desk.ticket(desk.create())  # wang@demo-customer.example is a demo contact
    assert known["contact_id"] is not None and known["contact_phone"] == "0571-8865 2301"
    typed = desk.ticket(desk.create(contact_phone="139 0000 1111"))
    assert typed["contact_id"] == known["contact_id"] and typed["contact_phone"] == "139 0000 1111"
    stranger = desk.ticket(desk.create(contact_email="visitor@demo.example"))
    assert stranger["contact_id"] is None and stranger["contact_phone"] is None
    with pytest.raises(ValidationFailed) as bad:
        desk.create(contact_phone="ring ring")
    assert bad.value.errors[0]["field"] == "contact_phone"


def test_an_unknown_senders_ticket_is_matched_to_its_customer_before_triage(facade: Aftercare,
                                                                             clock: FakeClock) -> None:
    submitted = facade.submit_from_portal(contact_name="周医生", contact_email="zhou.doc@gmail.com",
                                          contact_phone="0591 8756 1188", title="挂号系统打不开",
                                          description="门诊挂号页面白屏", organization="青山医院门诊部")
    assert submitted["matched"] is False
    desk = Desk(facade, clock)
    tid = submitted["id"]
    before = desk.ticket(tid)
    assert before["customer"] == contacts.UNMATCHED_CUSTOMER and before["customer_unmatched"] is True
    assert "青山医院门诊部" in before["description"] and before["contract_number"] is None
    with pytest.raises(Forbidden):
        facade.match_ticket(actor=Actor("engineer", "engineer"), ticket_id=tid,
                            customer_id=_customer_id(facade, "华东电网信息中心"))
    result = facade.match_ticket(actor=DESK, ticket_id=tid, customer_id=_customer_id(facade, "华东电网信息中心"),
                                 save_contact=True)
    assert result["sla_kept"] is False and result["contract"] == "HT-2026-003"
    after = desk.ticket(tid)
    assert (after["customer"], after["tier"]) == ("华东电网信息中心", "premium")
    assert after["contract_number"] == "HT-2026-003"
    assert after["contact_id"] is not None
    assert _sender(facade, "zhou.doc@gmail.com") == ("华东电网信息中心", "zhou.doc@gmail.com")
    # triage now runs on the matched contract: its severity-1 override of 2 h applies
    desk.triage(tid, severity=1, onsite=True)
    resolve = datetime.fromisoformat(desk.ticket(tid)["sla"]["resolve_due"])
    assert resolve == datetime(2026, 11, 23, 12, 0, tzinfo=SH)
    [matched] = desk.events(tid, "customer_matched")
    assert matched["actor"] == "service_desk" and matched["customer"] == "华东电网信息中心"
    with pytest.raises(Conflict):
        facade.match_ticket(actor=DESK, ticket_id=tid, customer_id=_customer_id(facade, "青山医院"))


def test_matching_after_triage_keeps_the_deadlines_already_set(facade: Aftercare, clock: FakeClock) -> None:
    submitted = facade.submit_from_portal(contact_name="某人", contact_email="someone@outlook.com", title="无法导出",
                                          description="导出按钮无反应")
    desk = Desk(facade, clock)
    desk.triage(submitted["id"], severity=2)
    due = desk.ticket(submitted["id"])["sla"]["resolve_due"]
    result = facade.match_ticket(actor=DESK, ticket_id=submitted["id"], customer_id=_customer_id(facade, "青山医院"))
    assert result["sla_kept"] is True
    after = desk.ticket(submitted["id"])
    assert after["customer"] == "青山医院" and after["sla"]["resolve_due"] == due and after["contact_id"] is None


def test_neither_placeholder_customer_is_listed_chosen_matched_or_given_contacts(facade: Aftercare,
                                                                               clock: FakeClock) -> None:
    from engine import kb
    from engine.errors import NotFound

    def placeholders(session: object) -> tuple[int, int]:
        return (contacts.unmatched_customer(session, clock.now()).id,  # type: ignore[arg-type]
                kb.kb_customer(session, clock.now()).id)  # type: ignore[arg-type]
    unmatched, knowledge = facade.run_in_unit(placeholders, write=True)
    names = {contacts.UNMATCHED_CUSTOMER, "知识库 Knowledge base"}
    for listed in (facade.contacts.customers_overview(actor=DESK), facade.contacts.match_choices(actor=DESK),
                   facade.list_customers()):
        assert "青山医院" in [c["name"] for c in listed] and not names & {c["name"] for c in listed}
    submitted = facade.submit_from_portal(contact_name="周医生", contact_email="zhou.doc@gmail.com",
                                          title="挂号系统打不开", description="门诊挂号页面白屏")
    for customer_id in (unmatched, knowledge):
        with pytest.raises(NotFound):
            facade.match_ticket(actor=DESK, ticket_id=submitted["id"], customer_id=customer_id)
        with pytest.raises(NotFound):
            facade.contacts.save_contact(actor=DESK, customer_id=customer_id, name="某人", email="x@kb.example")
        with pytest.raises(NotFound):
            facade.contacts.list_contacts(actor=DESK, customer_id=customer_id)
    with pytest.raises(ValidationFailed):  # nor is one chosen on intake
        Desk(facade, clock).create(customer="知识库 Knowledge base")
    assert Desk(facade, clock).ticket(submitted["id"])["customer_unmatched"] is True
