"""Small faults a tester found clicking through the app in English and Chinese: error pages that name the reason in
both languages, an incident's error framed in the reader's language, Chinese punctuation on the portal, a repeated
portal form that says its first sending arrived, the staff users form's labels and address after a refusal, and task
lists that never carry a raw instructions template."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from engine import script_limits
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.users import Actor
from tests.api.conftest import login
from tests.api.test_attachments import staff_login
from tests.fixtures.incidents.diagrams import limited, start
from tests.support import Desk

PORTAL = {"contact_name": "周工", "contact_email": "zhou@demo-customer.example", "title": "打印模板错位",
          "description": "升级后打印出来的单据错位"}
# ASCII punctuation touching a Chinese character: "工单号：AC-1." or "状态: 待分类"
ASCII_IN_CHINESE = re.compile(r"[\u3400-\u9fff\uff09\u3002][.,:;!?]|[.,:;!?]\s*[\u3400-\u9fff]")


def visible(html: str) -> str:
    """The page's text as a reader sees it (scripts, styles and tags dropped, spaces collapsed)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"</?(strong|span|a|code|em|b)\b[^>]*>", "", html)  # inline: no space where they start and end
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def notice(html: str, element_id: str) -> str:
    """The text of the element with `element_id`, or '' when the page has none."""
    match = re.search(rf'<div[^>]* id="{element_id}"[^>]*>(.*?)</div>', html, re.S)
    return visible(match.group(1)) if match else ""


# --- 1. error pages name the reason in English as in Chinese ------------------------------------------------------

@pytest.mark.parametrize(("path", "status", "chinese", "english"), [
    ("/tickets/999999", 404, "没有这个工单", "No such ticket."),
    ("/tasks/abc", 404, "没有这个待办任务", "No such open task."),
    ("/admin/users", 403, "只有管理员可以管理员工用户", "Only admins may manage staff users."),
    ("/workbench", 403, "只有流程负责人、经理和管理员可以查看流程", "Only process owners, managers and admins may see"),
])
def test_error_pages_name_the_reason_in_both_languages(client: TestClient, path: str, status: int, chinese: str,
                                                       english: str) -> None:
    staff_login(client, "engineer")
    zh, en = client.get(f"{path}?lang=zh-CN"), client.get(f"{path}?lang=en")
    assert zh.status_code == en.status_code == status
    assert chinese in notice(zh.text, "main") or chinese in visible(zh.text)
    assert english in visible(en.text)
    assert "may not open this page" not in en.text and "does not exist" not in en.text  # not the generic words
    assert 'href="/tickets/999999"' not in en.text  # no link to the ticket that is not there


# --- 2. an incident's error: the framing translated, the engine's text labelled ----------------------------------

@pytest.fixture
def parked(facade: Aftercare, clock: FakeClock) -> Iterator[int]:
    """A ticket whose case ran over the CPU budget in its timer's script (a `while True`), so it is parked."""
    script_limits.configure(cpu_seconds=0.2)
    try:
        facade.deploy(files=limited("while True:\n    pass"), actor=Actor("process_owner", "process_owner"))
        ticket_id = start(facade)
        clock.advance(hours=2)
        facade.fire_due_timers()
        yield ticket_id
    finally:
        script_limits.configure(cpu_seconds=1.0)


def test_an_incidents_error_is_framed_in_the_readers_language(client: TestClient, parked: int) -> None:
    staff_login(client, "process_owner")
    page = client.get(f"/tickets/{parked}?lang=zh-CN").text
    banner = notice(page, "incident-banner")
    assert "超出脚本资源限制：代码运行超过了 0.2 秒的 CPU 时间上限。" in banner
    assert "原始错误信息：" in banner and "over budget: CPU time over 0.2 s" in banner  # the raw text, labelled
    [entry] = re.findall(r'<li class="ev-incident".*?</li>', page, re.S)
    assert "超出脚本资源限制" in visible(entry) and "原始错误信息：" in visible(entry)
    assert "元素" in visible(entry) and "Element" not in visible(entry)

    english = notice(client.get(f"/tickets/{parked}?lang=en").text, "incident-banner")
    assert "Over budget: the code ran longer than its CPU time of 0.2 s." in english
    assert "Error text as recorded:" in english and "超出" not in english


def test_staff_who_cannot_retry_see_the_framed_error_on_the_timeline_only(client: TestClient, parked: int) -> None:
    staff_login(client, "engineer")
    page = client.get(f"/tickets/{parked}?lang=zh-CN").text
    assert "over budget" not in notice(page, "incident-banner")  # the banner tells them to wait, not the error
    [entry] = re.findall(r'<li class="ev-incident".*?</li>', page, re.S)
    assert "超出脚本资源限制" in visible(entry)


# --- 3. and 4. the portal: Chinese punctuation, and a repeated form names the ticket its first sending opened ----

def _key(client: TestClient) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', client.get("/portal").text)
    assert match
    return match.group(1)


def test_the_portal_pages_use_chinese_punctuation_in_chinese(client: TestClient) -> None:
    client.get("/portal?lang=zh-CN")
    sent = client.post("/portal", data={**PORTAL, "idempotency_key": _key(client)})
    assert sent.status_code == 200
    number = re.search(r'id="ticket-number">([^<]+)<', sent.text).group(1)  # type: ignore[union-attr]
    assert f"已收到您的请求，工单号：{number}。" in visible(sent.text)
    status_link = re.search(r'href="(/s/[^"]+)"', sent.text).group(1)  # type: ignore[union-attr]
    status = client.get(status_link)
    assert "状态：" in visible(status.text)
    for page in (client.get("/portal").text, sent.text, status.text):
        assert not ASCII_IN_CHINESE.findall(visible(page).replace(number, "N"))
    english = client.post("/portal?lang=en", data={**PORTAL, "title": "Print", "idempotency_key": _key(client)})
    assert re.search(r"We received your request\. Ticket number: AC-[\d-]+\. A confirmation", visible(english.text))
    assert "Status: " in visible(client.get(status_link).text)


def test_a_form_sent_again_says_its_first_sending_arrived(client: TestClient) -> None:
    client.get("/portal?lang=zh-CN")
    key = _key(client)
    first = client.post("/portal", data={**PORTAL, "idempotency_key": key})
    number = re.search(r'id="ticket-number">([^<]+)<', first.text).group(1)  # type: ignore[union-attr]
    assert not notice(first.text, "already-received")

    again = client.post("/portal", data={**PORTAL, "idempotency_key": key})  # a double click, or Back then Send
    assert again.status_code == 200 and f"我们已收到此请求（工单 {number}），不会重复创建工单。" in notice(
        again.text, "already-received")
    changed = client.post("/portal", data={**PORTAL, "title": "另一件事", "idempotency_key": key})
    assert changed.status_code == 422 and "此表单已用其他内容提交过" in changed.text
    assert f"我们已收到此请求（工单 {number}）。" in notice(changed.text, "already-received")
    wrong = client.post("/portal?lang=en", data={**PORTAL, "contact_email": "not-an-address", "idempotency_key": key})
    assert wrong.status_code == 422 and "Not an e-mail address" in wrong.text
    assert f"We already received this request (ticket {number})." in notice(wrong.text, "already-received")
    fresh = client.post("/portal", data={**PORTAL, "title": "", "idempotency_key": _key(client)})
    assert fresh.status_code == 422 and not notice(fresh.text, "already-received")  # another form: nothing said


# --- 5. staff users: the labels of the form that was sent, and the page's own address -----------------------------

def test_a_password_mismatch_names_the_field_of_the_form_that_was_sent(client: TestClient) -> None:
    csrf = staff_login(client, "admin")
    added = client.post("/admin/users?lang=en", data={"csrf": csrf, "username": "lily", "role": "engineer",
                                                      "language": "en", "password": "long-enough-1",
                                                      "password2": "long-enough-2"})
    assert added.status_code == 422
    errors = visible(re.search(r'<div class="notice bad".*?</div></div>', added.text, re.S).group(0))  # type: ignore
    assert errors == "First password again: The two passwords differ."
    assert 'data-replace-url="/admin/users#add"' in added.text  # the address bar shows the page, not the form's

    reset = client.post("/admin/users/password?lang=zh-CN", data={"csrf": csrf, "username": "engineer",
                                                                  "password": "long-enough-1",
                                                                  "password2": "long-enough-2"})
    assert reset.status_code == 422 and "再次输入新密码：两次输入的密码不一致" in visible(reset.text).replace(" ", "")
    assert 'data-replace-url="/admin/users#user-engineer"' in reset.text
    assert "data-replace-url" not in client.get("/admin/users").text  # only a refused form's page moves the address


# --- 6. task lists carry no raw instructions template ---------------------------------------------------------

def test_task_lists_never_carry_a_raw_instructions_template(client: TestClient, facade: Aftercare,
                                                            clock: FakeClock) -> None:
    ticket_id = Desk(facade, clock).create()
    headers = login(client, "service_desk")
    listed = client.get("/api/tasks", headers=headers).json()
    [triage] = [t for t in listed if t["ticket_id"] == ticket_id]
    assert {"id", "ticket_id", "name", "title", "role", "form_key", "due_at", "created_at"} <= set(triage)
    assert triage["has_instructions"] is True and "instructions" not in triage
    assert "{{" not in str(listed)
    ticket = client.get(f"/api/tickets/{ticket_id}", headers=headers).json()
    assert ticket["tasks"] and "{{" not in str(ticket["tasks"]) and ticket["tasks"][0]["has_instructions"] is True
    one = client.get(f"/api/tasks/{triage['id']}", headers=headers).json()  # the filled text is one GET away
    assert one["instructions"] and "{{" not in one["instructions"] and one["instructions_html"]
