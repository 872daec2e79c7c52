"""The served app runs its own scheduler and mail sender: no cron, no second process."""
from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api.app import create_app
from engine.commands import Aftercare
from tests.api.conftest import login
from tests.support import SmtpSink


def test_served_app_sends_the_acknowledgement_by_itself(facade: Aftercare, smtp: SmtpSink) -> None:
    facade.settings.scheduler_interval = 0.05
    with TestClient(create_app(facade, run_worker=True)) as client:
        desk = login(client, "service_desk")
        ticket = client.post("/api/tickets", headers=desk, json={
            "customer": "Demo Customer", "contact_name": "赵", "contact_email": "zhao@demo-customer.example",
            "channel": "email", "title": "无法打印", "description": ""}).json()
        deadline = time.monotonic() + 10
        while not smtp.to("zhao@demo-customer.example") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert ticket["number"] in smtp.subjects("zhao@demo-customer.example")[0]
