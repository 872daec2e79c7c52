"""Demo data: customers with realistic contracts, and one user per role named after it, password `demo`."""
from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Any

from engine.commands import Aftercare
from engine.effects import ROLES
from engine.users import Actor, hash_password

DEMO_PASSWORD = "demo"

CUSTOMERS = (
    ("Demo Customer", "standard", "it@demo-customer.example"),
    ("华东电网信息中心", "premium", "ops@east-grid.example"),
    ("青山医院", "standard", "it@qingshan-hospital.example"),
)
CONTRACTS: tuple[tuple[Any, ...], ...] = (
    # number, customer, tier, starts, ends, warranty end, free scope, inspection months, SLA overrides
    ("HT-2025-018", "Demo Customer", "standard", date(2025, 7, 1), date(2027, 6, 30), date(2027, 6, 30),
     ["bugfix", "configuration"], 3, {}),
    ("HT-2023-007", "青山医院", "standard", date(2023, 1, 1), date(2027, 12, 31), date(2025, 12, 31),
     ["bugfix"], 6, {}),
    ("HT-2026-003", "华东电网信息中心", "premium", date(2026, 3, 1), date(2029, 2, 28), date(2028, 2, 29),
     ["bugfix", "configuration", "report"], 3, {"1": {"resolve_within": "PT2H"}}),
)

DOMAINS = {"Demo Customer": "demo-customer.example", "华东电网信息中心": "east-grid.example",
           "青山医院": "qingshan-hospital.example"}
CONTACTS = (
    # customer, name, e-mail, phone, language: the people the demo stories and the tests write as
    ("Demo Customer", "王工", "wang@demo-customer.example", "0571-8865 2301", "zh-CN"),
    ("Demo Customer", "信息科 李工", "li@demo-customer.example", "0571-8865 2302", "zh-CN"),
    ("Demo Customer", "IT 部", "it@demo-customer.example", "0571-8865 2300", "zh-CN"),
    ("Demo Customer", "Alex Morgan", "alex@demo-customer.example", "+86 138 0571 2288", "en"),
    ("华东电网信息中心", "运维值班室", "ops@east-grid.example", "021-6321 8800 转 601", "zh-CN"),
    ("华东电网信息中心", "信息科 李工", "li@east-grid.example", "021-6321 8812", "zh-CN"),
    ("青山医院", "信息科", "it@qingshan-hospital.example", "0591-8756 1100", "zh-CN"),
    ("青山医院", "信息科 李工", "li@qingshan-hospital.example", "0591-8756 1123", "zh-CN"),
)
DEMO_ADMIN = Actor("admin", "admin")


def load_demo(facade: Aftercare) -> None:
    """Create (or refresh) the demo customers, contracts, contacts and users."""
    for name, tier, email in CUSTOMERS:
        facade.add_customer(name=name, tier=tier, email=email)
    for number, customer, tier, starts, ends, warranty, scope, months, overrides in CONTRACTS:
        facade.save_contract(number=number, customer=customer, tier=tier, starts_on=starts, ends_on=ends,
                             warranty_end=warranty, free_scope=scope, inspection_months=months,
                             sla_overrides=overrides)
    for role in ROLES:
        facade.add_user(username=role, role=role, password=DEMO_PASSWORD, email=f"{role}@aftercare.example",
                        password_hash=_demo_password_hash())
    load_contacts(facade)


def load_contacts(facade: Aftercare) -> None:
    """The demo customers' e-mail domains and contacts (a contact already there is left as it is)."""
    ids = {c["name"]: c["id"] for c in facade.contacts.customers_overview(actor=DEMO_ADMIN)}
    for customer, domain in DOMAINS.items():
        facade.contacts.set_domains(actor=DEMO_ADMIN, customer_id=ids[customer], domains=domain)
    known = {c["email"] for cid in set(ids.values())
             for c in facade.contacts.list_contacts(actor=DEMO_ADMIN, customer_id=cid)["contacts"]}
    for customer, name, email, phone, language in CONTACTS:
        if email not in known:
            facade.contacts.save_contact(actor=DEMO_ADMIN, customer_id=ids[customer], name=name, email=email,
                                         phone=phone, language=language)


@functools.cache
def _demo_password_hash() -> str:
    """One argon2 hash for every demo user: they share the password anyway, and argon2 is slow on purpose."""
    return hash_password(DEMO_PASSWORD)


def bring_first_inspection_forward(facade: Aftercare, number: str = "HT-2026-003",
                                   after: timedelta = timedelta(minutes=2)) -> None:
    """Let a new user see an inspection start by itself: the premium contract's first one falls due two
    minutes from now, unless it has had one already."""
    if facade.list_inspections(contract=number):
        return
    facade.schedule_inspection(number=number, at=facade.clock.now() + after)
