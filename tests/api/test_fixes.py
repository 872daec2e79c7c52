"""The smaller defects of issue 10, each as a user meets it: another role's task, the rework task's reason, files on
an archived ticket, the survey's one-tap score, and pages that speak one language (staff and customer)."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.mail import Mailer
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Conflict
from tests.api.test_attachments import staff_login, upload
from tests.support import Desk, SmtpSink, body, complete_as_customer, customer_token

CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def visible(html: str) -> str:
    """The text a reader sees: no tags, scripts or styles."""
    html = re.sub(r"(?s)<(script|style)\b.*?</\1>", "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def task_form(html: str) -> str:
    match = re.search(r'(?s)<form method="post" action="/tasks/[^"]+" class="task-form">.*?</form>', html)
    assert match, "no task form on the page"
    return visible(match.group(0))


def archived_question(desk: Desk, facade: Aftercare) -> int:
    tid = desk.create()
    desk.triage(tid, category="question")
    desk.complete(tid, "answer_question", {"answer": "请清除浏览器缓存"})
    complete_as_customer(facade, tid, {"accepted": True})
    desk.complete(tid, "callback", {"recurred": False, "satisfaction": 4})
    assert desk.ticket(tid)["status"] == "archived"
    return tid


# -- another role's task -----------------------------------------------------------------------------------------

def test_another_roles_task_shows_the_staff_error_page_in_the_readers_language(client: TestClient,
                                                                              desk: Desk) -> None:
    tid = desk.create()
    triage = desk.task(tid, "triage")
    staff_login(client, "engineer")
    page = client.get(f"/tasks/{triage['id']}")
    assert page.status_code == 403
    text = visible(page.text)
    assert "此任务由「服务台」角色处理" in text and "may not work on" not in text
    assert 'href="/tickets"' in page.text and "engineer" in text  # the menu and who is logged in
    assert f'href="/tickets/{tid}"' in page.text and "返回任务列表" in text  # ways back
    english = client.get(f"/tasks/{triage['id']}?lang=en").text
    notice = re.search(r'<div class="notice bad" role="alert">([^<]*)</div>', english).group(1)
    assert notice == "This task is work for the Service desk role; your role may not open it."


# -- the rework task ----------------------------------------------------------------------------------------------

def test_the_rework_task_shows_the_customers_reason_until_they_answer_again(client: TestClient, desk: Desk,
                                                                           facade: Aftercare) -> None:
    tid = desk.create()
    desk.triage(tid)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "缓存异常"})
    desk.complete(tid, "engineer_resolution", {"resolution": "清除缓存", "outcome": "resolved"})
    staff_login(client, "engineer")
    first = desk.task(tid, "customer_acceptance")  # not yet rejected: no banner anywhere
    complete_as_customer(facade, tid, {"accepted": False, "reason": "三楼的电脑仍然无法登录"})
    rework = client.get(f"/tasks/{desk.task(tid, 'engineer_resolution')['id']}")
    assert rework.status_code == 200
    banner = re.search(r'(?s)<div class="notice bad rework" role="alert">(.*?)</div>\s*</div>', rework.text)
    assert banner and "客户驳回了处理结果" in banner.group(1) and "三楼的电脑仍然无法登录" in banner.group(1)
    assert rework.text.index("三楼的电脑仍然无法登录") < rework.text.index('class="task-form"')  # above the form
    assert "The customer rejected the work" in client.get(
        f"/tasks/{desk.task(tid, 'engineer_resolution')['id']}?lang=en").text
    desk.complete(tid, "engineer_resolution", {"resolution": "更新三楼电脑的证书", "outcome": "resolved"})
    complete_as_customer(facade, tid, {"accepted": True})
    staff_login(client, "service_desk")
    callback = client.get(f"/tasks/{desk.task(tid, 'callback')['id']}")
    assert callback.status_code == 200 and "rework" not in callback.text and first["id"]


# -- files on an archived ticket ------------------------------------------------------------------------------------

def test_an_archived_ticket_takes_no_more_files(client: TestClient, desk: Desk, facade: Aftercare) -> None:
    tid = archived_question(desk, facade)
    with pytest.raises(Conflict):
        facade.add_attachment(ticket_id=tid, filename="late.log", content_type="text/plain", data=b"x",
                              actor=desk.actor("engineer"))
    csrf = staff_login(client)
    refused = upload(client, tid, csrf, "late.log", b"late", "text/plain")
    assert refused.status_code == 409 and "此工单已归档" in visible(refused.text)
    ticket_page = client.get(f"/tickets/{tid}")
    assert f'action="/tickets/{tid}/attachments"' not in ticket_page.text and "此工单已归档" in ticket_page.text
    in_place = client.post(f"/tickets/{tid}/attachments", data={"csrf": csrf}, files={"file": ("a.txt", b"a")},
                           headers={"Accept": "application/json"})
    assert in_place.status_code == 409 and "archived" in client.post(
        f"/tickets/{tid}/attachments?lang=en", data={"csrf": csrf}, files={"file": ("a.txt", b"a")},
        headers={"Accept": "application/json"}).json()["detail"]
    assert "late.log" not in client.get(f"/tickets/{tid}").text


def test_an_upload_in_place_answers_with_the_file(client: TestClient, desk: Desk) -> None:
    tid = desk.create()
    csrf = staff_login(client)
    added = client.post(f"/tickets/{tid}/attachments", data={"csrf": csrf},
                        files={"file": ("日志.txt", b"log", "text/plain")}, headers={"Accept": "application/json"})
    assert added.status_code == 201 and added.json()["filename"] == "日志.txt"
    assert client.get(added.json()["href"]).content == b"log"
    empty = client.post(f"/tickets/{tid}/attachments", data={"csrf": csrf}, files={"file": ("e.txt", b"")},
                        headers={"Accept": "application/json"})
    assert empty.status_code == 422 and empty.json()["detail"]


# -- the satisfaction survey ----------------------------------------------------------------------------------------

def test_fetching_a_survey_link_records_nothing_and_one_tap_does(client: TestClient, desk: Desk,
                                                                 facade: Aftercare) -> None:
    tid = archived_question(desk, facade)
    token = customer_token(facade, tid)
    for _ in range(2):  # a scanner fetches, and fetches again
        page = client.get(f"/c/{token}?score=2")
        assert page.status_code == 200 and "<script" not in page.text
    assert desk.ticket(tid)["survey_score"] is None
    assert re.search(r'value="2" required checked', page.text) and "确认评分" in page.text
    odd = client.get(f"/c/{token}?score=abc")  # a mangled link still shows the choice, nothing checked
    assert odd.status_code == 200 and "checked" not in odd.text
    forged = client.post(f"/c/{token}", data={"score": "1"})  # a POST without the page's key
    assert forged.status_code == 409 and desk.ticket(tid)["survey_score"] is None
    key = re.search(r'name="key" value="([^"]+)"', page.text).group(1)
    done = client.post(f"/c/{token}?score=2", data={"score": "2", "key": key, "comment": "很满意"})
    assert done.status_code == 200 and "2 分" in visible(done.text)
    assert desk.ticket(tid)["survey_score"] == 2
    assert client.post(f"/c/{token}", data={"score": "5", "key": key}).status_code == 410


# -- one language per page ------------------------------------------------------------------------------------------

def test_the_english_task_page_has_no_chinese_labels_and_errors_speak_the_readers_language(
        client: TestClient, desk: Desk) -> None:
    tid = desk.create()
    triage = desk.task(tid, "triage")["id"]
    csrf = staff_login(client, "service_desk")
    english = client.get(f"/tasks/{triage}?lang=en").text
    assert "<h1>Triage</h1>" in english and not CJK.search(task_form(english))
    assert re.search(r'class="task-link">Triage</a>', client.get("/?lang=en").text)  # the task list too
    bad = client.post(f"/tasks/{triage}?lang=en", data={"csrf": csrf, "category": "fault", "note": "x" * 5001})
    assert bad.status_code == 422
    form = task_form(bad.text)
    assert "This field is required" in form and "At most 5000 characters" in form and not CJK.search(form)
    assert "x' is too long" not in bad.text
    chinese = task_form(client.post(f"/tasks/{triage}?lang=zh-CN",
                                    data={"csrf": csrf, "category": "fault", "note": "x" * 5001}).text)
    assert "此项必填" in chinese and "最多 5000 个字符" in chinese and "required" not in chinese
    assert "现场" in chinese and "On-site" not in chinese


def test_customer_pages_speak_the_customers_language_and_switch_with_lang(client: TestClient, desk: Desk,
                                                                          facade: Aftercare) -> None:
    facade.add_customer(name="Demo Customer", tier="standard", email="it@demo-customer.example", language="en")
    tid = desk.create(contact_name="Alex Morgan", contact_email="alex@demo-customer.example",
                      title="Login fails", description="Every user gets error 500")
    desk.triage(tid, category="question")
    desk.complete(tid, "answer_question", {"answer": "Clear the browser cache"})
    token = customer_token(facade, tid)
    english = client.get(f"/c/{token}")
    assert english.status_code == 200 and '<html lang="en">' in english.text
    text = visible(english.text).replace("中文", "")  # the switch to Chinese names itself in Chinese
    assert "Customer acceptance" in text and "Accept" in text and "Submit" in text and not CJK.search(text)
    rejected = visible(client.post(f"/c/{token}", data={"accepted": "false"}).text).replace("中文", "")
    assert "This field is required" in rejected and not CJK.search(rejected)
    chinese = visible(client.get(f"/c/{token}?lang=zh-CN").text)
    assert "客户验收" in chinese and "提交" in chinese and "Submit" not in chinese


def test_customer_mail_speaks_the_customers_language(desk: Desk, facade: Aftercare, smtp: SmtpSink) -> None:
    facade.add_customer(name="Demo Customer", tier="standard", email="it@demo-customer.example", language="en")
    english = desk.create(contact_name="Alex Morgan", contact_email="alex@demo-customer.example",
                          title="Login fails", description="Every user gets error 500")
    desk.triage(english, category="question")
    desk.complete(english, "answer_question", {"answer": "Clear the browser cache"})
    Mailer(facade).send_pending()
    subjects = smtp.subjects("alex@demo-customer.example")
    assert any("We received your request" in s for s in subjects)
    assert any("Please confirm the work is done" in s for s in subjects)
    assert not any(CJK.search(s) for s in subjects)
    assert not any(CJK.search(body(m)) for m in smtp.to("alex@demo-customer.example"))
    facade.add_customer(name="Demo Customer", tier="standard", email="it@demo-customer.example", language="zh-CN")
    chinese = desk.create(contact_name="李工", contact_email="li@demo-customer.example")
    Mailer(facade).send_pending()
    [received], [subject] = smtp.to("li@demo-customer.example"), smtp.subjects("li@demo-customer.example")
    assert subject == f"[{desk.ticket(chinese)['number']}] 我们已收到您的服务请求"
    assert "We received" not in body(received)


def test_the_status_page_speaks_one_language_whichever_was_asked_first(client: TestClient, desk: Desk,
                                                                        facade: Aftercare) -> None:
    tid = desk.create(title="调度系统无法登录")
    desk.triage(tid, severity=3)
    page = f"/s/{facade.status_token(ticket_id=tid)}"
    chinese = visible(client.get(f"{page}?lang=zh-CN").text)
    assert "状态" in chinese and "Status" not in chinese and "完成步骤" in chinese
    english = visible(client.get(f"{page}?lang=en").text).replace("中文", "").replace("调度系统无法登录", "")
    assert "Status" in english and "Step done" in english and not CJK.search(english)


def test_a_customer_who_switched_language_keeps_it_on_the_next_customer_page(client: TestClient, desk: Desk,
                                                                              facade: Aftercare) -> None:
    tid = desk.create(title="调度系统无法登录")  # a Chinese-speaking customer's ticket
    desk.triage(tid, severity=3)
    page = f"/s/{facade.status_token(ticket_id=tid)}"
    assert "状态" in visible(client.get(page).text)  # the customer's language first
    client.get(f"{page}?lang=en")  # the reader switches once
    english = visible(client.get(page).text)  # ... and the next page, without ?lang, stays in English
    assert "Status" in english and "状态" not in english
