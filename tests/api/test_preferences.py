"""Notification settings over HTTP: the staff page (both languages, CSRF, deadlines never switched off), its
JSON twin, and that a saved choice decides what mail the user gets."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.mail import Mailer
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.users import Actor
from tests.api.conftest import login
from tests.api.test_attachments import csrf_of, staff_login
from tests.support import Desk, SmtpSink

PAGE = "/account/notifications"


def radios(html: str) -> dict[str, list[str]]:
    """The radio buttons of the page: kind → the modes offered."""
    found: dict[str, list[str]] = {}
    for kind, mode in re.findall(r'type="radio" name="mode_(\w+)" value="(\w+)"', html):
        found.setdefault(kind, []).append(mode)
    return found


def checked(html: str) -> dict[str, str]:
    """kind → the mode checked on the page."""
    return dict(re.findall(r'type="radio" name="mode_(\w+)" value="(\w+)" checked', html))


def test_the_page_needs_a_staff_login(client: TestClient) -> None:
    response = client.get(PAGE, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=/account/")


def test_the_page_offers_each_kind_but_never_none_for_deadlines(client: TestClient) -> None:
    staff_login(client, "manager")
    html = client.get(PAGE).text
    assert radios(html) == {"task": ["immediate", "digest", "none"], "deadline": ["immediate", "digest"],
                            "reminder": ["immediate", "digest", "none"]}
    assert checked(html) == {"task": "immediate", "deadline": "immediate", "reminder": "immediate"}
    assert "通知设置" in html and "超时与升级" in html and "此类通知不能关闭" in html and "10 分钟" in html
    assert '<span class="visually-hidden">新任务: 汇总发送</span>' in html  # every radio has a name
    assert 'href="/account/notifications"' in client.get("/").text  # reachable from every staff page
    english = client.get(PAGE, params={"lang": "en"}).text
    assert "Deadlines and escalations" in english and "In a digest" in english and "within 10 minutes" in english


def test_a_one_minute_digest_window_reads_as_one_minute(client: TestClient, facade: Aftercare) -> None:
    facade.settings.digest_minutes = 1  # AFTERCARE_DIGEST_MINUTES=1
    staff_login(client, "manager")
    english = client.get(PAGE, params={"lang": "en"}).text
    assert "within one minute" in english and "when the minute is over" in english
    assert "1 minutes" not in english
    assert "在这 1 分钟结束时" in client.get(PAGE, params={"lang": "zh-CN"}).text


def test_saving_the_form_keeps_the_choice(client: TestClient) -> None:
    csrf = staff_login(client, "engineer")
    response = client.post(PAGE, data={"csrf": csrf, "mode_task": "digest", "mode_deadline": "digest",
                                       "mode_reminder": "none"}, follow_redirects=False)
    assert response.status_code == 303
    html = client.get(response.headers["location"]).text
    assert "通知设置已保存" in html
    assert checked(html) == {"task": "digest", "deadline": "digest", "reminder": "none"}


def test_the_form_refuses_none_for_deadlines_and_posts_without_csrf(client: TestClient, facade: Aftercare) -> None:
    csrf = staff_login(client, "manager")
    refused = client.post(PAGE, data={"csrf": csrf, "mode_task": "none", "mode_deadline": "none"})
    assert refused.status_code == 422 and "超时与升级通知不能关闭" in refused.text
    assert facade.notification_preferences(actor=Actor("manager", "manager"))["modes"]["task"] == "immediate"
    forged = client.post(PAGE, data={"mode_task": "none"})
    assert forged.status_code == 403
    assert checked(client.get(PAGE).text)["task"] == "immediate"
    assert csrf_of(client.get(PAGE).text) == csrf


def test_the_json_twin_reads_and_saves_and_refuses_none_for_deadlines(client: TestClient) -> None:
    assert client.get(f"/api{PAGE}").status_code == 401
    headers = login(client, "engineer")
    read = client.get(f"/api{PAGE}", headers=headers).json()
    assert read["modes"] == {"task": "immediate", "deadline": "immediate", "reminder": "immediate"}
    assert read["digest_minutes"] == 10
    assert {k["kind"]: k["choices"] for k in read["kinds"]}["deadline"] == ["immediate", "digest"]
    saved = client.put(f"/api{PAGE}", json={"modes": {"task": "digest"}}, headers=headers)
    assert saved.status_code == 200 and saved.json()["modes"]["task"] == "digest"
    refused = client.put(f"/api{PAGE}", json={"modes": {"deadline": "none"}}, headers=headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "deadline"
    unknown = client.put(f"/api{PAGE}", json={"modes": {"gossip": "none"}}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "gossip"
    assert client.get(f"/api{PAGE}", headers=headers).json()["modes"] == {
        "task": "digest", "deadline": "immediate", "reminder": "immediate"}


def test_a_choice_made_on_the_page_decides_the_mail(client: TestClient, facade: Aftercare, clock: FakeClock,
                                                    smtp: SmtpSink) -> None:
    csrf = staff_login(client, "service_desk")
    client.post(PAGE, data={"csrf": csrf, "mode_task": "none", "mode_deadline": "immediate"})
    desk = Desk(facade, clock)
    tid = desk.create()
    desk.travel(minutes=15, seconds=1)  # triage overdue: the manager hears, the desk chose no task mail
    mailer = Mailer(facade)
    while mailer.send_pending():
        pass
    assert smtp.to("service_desk@aftercare.example") == []
    assert any(desk.ticket(tid)["number"] in s for s in smtp.subjects("manager@aftercare.example"))
