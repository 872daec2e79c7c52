"""The task list in Chromium: the filter form at its defaults and at each choice answers the page, paging keeps the
filters and the sort, and on a phone the list fits the screen in both languages."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.browser.conftest import login
from tests.support import Desk

HOSPITAL = {"customer": "青山医院", "contact_name": "李工", "contact_email": "it@qingshan-hospital.example"}
PHONE: ViewportSize = {"width": 390, "height": 844}
# Everything inside the page that reaches past the right edge of the window, as "tag.class right"
OVERFLOWING = """() => [...document.querySelectorAll('body *')].filter(e => e.getClientRects().length)
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


@pytest.fixture
def tickets(facade: Aftercare, clock: FakeClock) -> None:
    """An untriaged ticket left past its 15 minutes; then 27 severity-2 faults and one of severity 1 and 3."""
    desk = Desk(facade, clock)
    desk.create(title="等待分类的工单")
    desk.travel(hours=1)
    for n in range(1, 28):
        desk.triage(desk.create(title=f"报表导出失败 {n:02d}", **HOSPITAL), severity=2)
    desk.triage(desk.create(title="数据库无法连接", **HOSPITAL), severity=1)
    desk.triage(desk.create(title="按钮文字错位", **HOSPITAL), severity=3)


def _titles(page: Page) -> list[str]:
    return page.locator("tbody td:nth-child(3)").all_inner_texts()


def _filter(page: Page) -> None:
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("h1")).to_be_visible()  # a page, not a JSON error


def test_the_filter_form_at_its_defaults_and_each_choice(page: Page, live_url: str, tickets: None) -> None:
    login(page, live_url, "manager")
    _filter(page)  # everything at its default: severity "" and breached unticked
    expect(page).to_have_url(re.compile(r"severity=&"))
    expect(page.locator("h1")).to_have_text("全部待办")
    expect(page.locator(".pager")).to_contain_text("共 30 项任务")
    assert len(_titles(page)) == 25

    page.get_by_label("等级").select_option("1")
    _filter(page)
    assert _titles(page) == ["数据库无法连接"]
    expect(page.get_by_label("等级")).to_have_value("1")

    page.get_by_label("等级").select_option("")
    page.get_by_label("仅看超时").check()
    _filter(page)
    assert _titles(page) == ["等待分类的工单"]
    expect(page.get_by_label("仅看超时")).to_be_checked()

    page.get_by_label("等级").select_option("2")
    _filter(page)  # breached and severity 2: none
    expect(page.locator("td.empty")).to_have_text("这里没有待办任务。")

    page.get_by_label("仅看超时").uncheck()
    page.get_by_label("排序").select_option("number")
    page.get_by_label("顺序").select_option("true")
    _filter(page)
    assert _titles(page) == [f"报表导出失败 {n:02d}" for n in range(27, 2, -1)]
    expect(page.locator(".pager")).to_contain_text("第 1 / 2 页")

    page.get_by_role("link", name="下一页").click()
    expect(page.locator(".pager")).to_contain_text("第 2 / 2 页")
    assert _titles(page) == ["报表导出失败 02", "报表导出失败 01"]  # still severity 2, still by number downwards
    expect(page.get_by_label("等级")).to_have_value("2")
    expect(page.get_by_label("排序")).to_have_value("number")
    expect(page.get_by_label("顺序")).to_have_value("true")
    expect(page.get_by_label("仅看超时")).not_to_be_checked()

    page.get_by_role("button", name="认领").first.click()  # claiming comes back to the same page and filters
    expect(page.locator(".pager")).to_contain_text("第 2 / 2 页")
    expect(page.get_by_label("等级")).to_have_value("2")
    expect(page.get_by_role("button", name="放回")).to_have_count(1)


def test_an_address_with_values_that_mean_nothing_still_shows_the_list(page: Page, live_url: str,
                                                                       tickets: None) -> None:
    login(page, live_url, "manager")
    page.goto(f"{live_url}/?severity=9&page=abc&breached=maybe&sort=&desc=")
    expect(page.locator(".notice")).to_contain_text("等级 “9”")
    expect(page.locator(".notice")).to_contain_text("页码 “abc”")
    assert len(_titles(page)) == 25


@pytest.mark.parametrize(("language", "switch"), [("zh", None), ("en", "English")])
def test_the_list_fits_a_phone(browser: Browser, live_url: str, tickets: None, tmp_path: Path, language: str,
                               switch: str | None) -> None:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    phone = context.new_page()
    login(phone, live_url, "engineer")
    if switch:
        phone.get_by_role("link", name=switch).click()
        expect(phone.locator("h1")).to_have_text("My queue")
    expect(phone.locator("tr.sla-on_track").first).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.evaluate(OVERFLOWING) == []
    card = phone.locator("tbody tr").first.bounding_box()
    assert card and card["x"] >= 0 and card["x"] + card["width"] <= PHONE["width"]
    expect(phone.locator("tbody tr").first.get_by_role("button")).to_be_visible()
    phone.screenshot(path=str(tmp_path / f"tasks-390x844-{language}.png"), full_page=True)
    context.close()
