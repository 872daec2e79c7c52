"""Attaching a file on a task page keeps what was typed into the task's form (the upload happens in place)."""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.browser.conftest import login
from tests.support import Desk


def test_uploading_on_a_task_page_keeps_the_typed_form(page: Page, live_url: str, facade: Aftercare,
                                                      clock: FakeClock, tmp_path: Path) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    triage = desk.task(tid, "triage")["id"]
    log = tmp_path / "服务器日志.log"
    log.write_text("2026-11-23 10:00:01 ERROR login failed\n", encoding="utf-8")
    login(page, live_url, "service_desk")
    page.goto(f"{live_url}/tasks/{triage}")
    page.check("input[name=category][value=fault]")
    page.check("input[name=severity][value='2']")
    page.fill("#f-note", "客户说从今早 9 点开始所有人都无法登录")
    page.set_input_files("#attachment-file", str(log))
    page.click("form[data-attach] button[type=submit]")
    expect(page.locator("ul.attachments")).to_contain_text("服务器日志.log")
    expect(page.locator("form[data-attach] [role=status]")).to_have_text("文件已添加。")
    assert page.url.endswith(f"/tasks/{triage}")
    expect(page.locator("#f-note")).to_have_value("客户说从今早 9 点开始所有人都无法登录")
    expect(page.locator("input[name=category][value=fault]")).to_be_checked()
    expect(page.locator("input[name=severity][value='2']")).to_be_checked()
    assert [a["filename"] for a in facade.list_attachments(ticket_id=tid)] == ["服务器日志.log"]

    page.check("input[name=onsite][value=false]")  # the form goes on from where it was
    page.click(".task-form button[type=submit]")
    expect(page.locator(".notice.ok")).to_be_visible()
    assert desk.ticket(tid)["severity"] == 2


def test_a_refused_upload_says_why_in_place(page: Page, live_url: str, facade: Aftercare, clock: FakeClock,
                                           tmp_path: Path) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    login(page, live_url, "service_desk")
    page.goto(f"{live_url}/tasks/{desk.task(tid, 'triage')['id']}")
    page.fill("#f-note", "先记下来")
    page.set_input_files("#attachment-file", str(empty))
    page.click("form[data-attach] button[type=submit]")
    expect(page.locator("form[data-attach] .attach-status.error")).to_have_text("文件为空")
    expect(page.locator("#f-note")).to_have_value("先记下来")
