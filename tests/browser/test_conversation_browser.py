"""A staff reply answered by the customer from the status page on a 390 px phone, in a real browser with real mail."""
from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from engine.commands import Aftercare
from tests.browser.conftest import login
from tests.support import SmtpSink, body

CONTACT = "wang@demo-customer.example"
PHONE = {"width": 390, "height": 844}


def wait_for(smtp: SmtpSink, address: str, subject_part: str, timeout: float = 10) -> str:
    """The body of the newest mail to `address` whose subject contains `subject_part`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m, s in zip(smtp.to(address), smtp.subjects(address), strict=True) if subject_part in s]
        if found:
            message = found[-1]
            parts = message.walk() if message.is_multipart() else [message]
            return "".join(body(p) for p in parts if p.get_content_type() == "text/plain" and not p.get_filename())
        time.sleep(0.1)
    raise AssertionError(f"no mail {subject_part!r} to {address}; got {smtp.subjects(address)}")


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_staff_reply_answered_from_the_status_page_on_a_phone(page: Page, browser: Browser, live_url: str,
                                                               smtp: SmtpSink, facade: Aftercare,
                                                               tmp_path: Path) -> None:
    ticket = facade.create_ticket(customer="Demo Customer", contact_name="王工", contact_email=CONTACT,
                                  channel="phone", title="报表导出失败", description="导出 Excel 时报错",
                                  actor=facade.actor(username="service_desk"))
    steps = tmp_path / "处理步骤.txt"
    steps.write_text("1. 清理缓存\n2. 重新导出\n", encoding="utf-8")

    # the engineer writes a note, then a reply with a file, on the ticket page
    login(page, live_url, "engineer")
    page.goto(f"{live_url}/tickets/{ticket['id']}")
    page.check("input[name=kind][value=note]")
    expect(page.locator(".reply-box")).to_have_class("reply-box no-print is-note")
    expect(page.get_by_role("button", name="添加内部备注")).to_be_visible()
    page.fill("#reply-body", "怀疑是模板版本问题 INTERNAL-ONLY")
    page.click(".reply-box button.primary")
    expect(page.locator(".notice.ok")).to_contain_text("客户看不到")
    expect(page.locator("li.msg-note")).to_contain_text("INTERNAL-ONLY")
    page.check("input[name=kind][value=reply]")
    expect(page.get_by_role("button", name="发送给客户")).to_be_visible()
    page.fill("#reply-body", "请按附件步骤操作后再试一次。")
    page.set_input_files("#reply-files", str(steps))
    page.click(".reply-box button.primary")
    expect(page.locator(".notice.ok")).to_contain_text("邮件")
    expect(page.locator("li.msg-staff")).to_contain_text("处理步骤.txt")

    # the customer reads the reply e-mail and answers from the status page on a phone
    mail = wait_for(smtp, CONTACT, "回复：报表导出失败")
    assert "请按附件步骤操作后再试一次。" in mail and "INTERNAL-ONLY" not in mail
    status_link = next(word for word in mail.split() if word.startswith("http") and "/s/" in word)
    phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
    phone.goto(status_link)
    expect(phone.locator(".conversation")).to_contain_text("请按附件步骤操作后再试一次。")
    expect(phone.locator(".conversation")).to_contain_text("处理步骤.txt")
    expect(phone.locator("body")).not_to_contain_text("INTERNAL-ONLY")
    no_sideways_scroll(phone)
    shot = tmp_path / "截图.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\n fake screenshot")
    phone.fill("#reply-body", "按步骤操作后仍然报错，截图见附件。")
    phone.set_input_files("#reply-files", str(shot))
    phone.click(".conversation button[type=submit]")
    expect(phone.locator(".conversation .notice.ok")).to_be_visible()
    expect(phone.locator(".conversation li.from-you")).to_contain_text("按步骤操作后仍然报错")
    expect(phone.locator(".conversation li.from-you")).to_contain_text("截图.png")
    no_sideways_scroll(phone)

    # staff hear of it and see it on the ticket, between the reply and nothing else hidden
    notice = wait_for(smtp, "service_desk@aftercare.example", "客户回复")
    assert "按步骤操作后仍然报错" in notice
    page.goto(f"{live_url}/tickets/{ticket['id']}")
    expect(page.locator("li.msg-customer")).to_contain_text("按步骤操作后仍然报错")
    page.click(".stream-filter a[data-show=notes]")
    expect(page.locator("li.msg-customer")).to_be_hidden()
    expect(page.locator("li.msg-note")).to_be_visible()
    page.click(".stream-filter a[data-show=messages]")
    expect(page.locator("li.msg-customer")).to_be_visible()
    expect(page.locator("li.msg-note")).to_be_hidden()

    # the staff page works on a phone too
    staff_phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
    login(staff_phone, live_url, "engineer")
    staff_phone.goto(f"{live_url}/tickets/{ticket['id']}#conversation")
    expect(staff_phone.locator("#reply-body")).to_be_visible()
    box = staff_phone.locator("#reply-body").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_choosing_too_many_files_is_refused_in_the_browser_and_the_text_stays(
        page: Page, live_url: str, facade: Aftercare, tmp_path: Path) -> None:
    """More files than a message takes: the browser says so in the page's language before anything is sent, and the
    message typed so far stays; with fewer files it goes."""
    from engine.conversation import MAX_FILES
    from tests.support import Desk

    ticket_id = Desk(facade, facade.clock).create()  # type: ignore[arg-type]
    files = []
    for i in range(MAX_FILES + 1):
        path = tmp_path / f"log{i}.txt"
        path.write_text(f"line {i}")
        files.append(str(path))
    page.set_viewport_size(PHONE)
    page.goto(f"{live_url}/s/{facade.status_token(ticket_id=ticket_id)}")
    page.fill("#reply-body", "日志见附件 KEEP")
    page.set_input_files("#reply-files", files)
    page.click("form[action*='/messages'] button[type=submit]")
    message = page.eval_on_selector("#reply-files", "e => e.validationMessage")
    assert message == f"每条消息最多 {MAX_FILES} 个文件。"
    assert page.url.endswith(facade.status_token(ticket_id=ticket_id))  # nothing was sent
    expect(page.locator("#reply-body")).to_have_value("日志见附件 KEEP")
    page.set_input_files("#reply-files", files[:2])
    page.click("form[action*='/messages'] button[type=submit]")
    expect(page.locator(".conversation li.from-you")).to_contain_text("日志见附件 KEEP")
    expect(page.locator(".conversation li.from-you a")).to_have_count(2)
