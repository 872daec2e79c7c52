"""Demo data: customers and one user per role, named after the role, password `demo`."""
from __future__ import annotations

from engine.commands import Aftercare
from engine.effects import ROLES

CUSTOMERS = (
    ("Demo Customer", "standard", "it@demo-customer.example"),
    ("华东电网信息中心", "premium", "ops@east-grid.example"),
    ("青山医院", "standard", "it@qingshan-hospital.example"),
)


def load_demo(facade: Aftercare) -> None:
    """Create (or refresh) the demo customers and users."""
    for name, tier, email in CUSTOMERS:
        facade.add_customer(name=name, tier=tier, email=email)
    for role in ROLES:
        facade.add_user(username=role, role=role, password="demo", email=f"{role}@aftercare.example")
