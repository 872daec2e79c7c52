"""The managers' dashboard in a real Chromium: the charts are drawn from the JSON API, the breached figure opens
the breached tickets, which export to XLSX; a bar opens its own list; on a 390-px phone nothing scrolls sideways.
Screenshots go to /tmp/dash-*.png."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.api.test_dashboard import build_history
from tests.browser.conftest import login

CHARTS = 7


def charts_drawn(page: Page) -> None:
    """Every chart holds a canvas ECharts painted on."""
    expect(page.locator("#dashboard.drawn")).to_be_visible()
    expect(page.locator(".chart[data-chart] canvas")).to_have_count(CHARTS)


def bar_point(page: Page, chart: str, index: int) -> dict[str, float]:
    """The page coordinates of the middle of bar `index` (first series) of `chart`, from ECharts' own layout."""
    point: dict[str, float] = page.evaluate("""([name, index]) => {
        const el = document.querySelector(`.chart[data-chart="${name}"]`);
        const chart = echarts.getInstanceByDom(el);
        const item = chart.getOption().series[0].data[index];
        const value = typeof item === 'object' ? item.value : item;
        const [x, top] = chart.convertToPixel({seriesIndex: 0}, [index, value]);
        const [, bottom] = chart.convertToPixel({seriesIndex: 0}, [index, 0]);
        const box = el.getBoundingClientRect();
        return {x: box.left + x, y: box.top + (top + bottom) / 2};
    }""", [chart, index])
    return point


def test_manager_follows_the_breached_figure_to_the_list_and_exports_it(page: Page, live_url: str,
                                                                        facade: Aftercare, clock: FakeClock) -> None:
    history = build_history(facade, clock)
    late_number = facade.get_ticket(ticket_id=history["late"], actor=facade.actor(username="admin"))["number"]
    login(page, live_url, "manager")
    page.get_by_role("link", name="仪表板").click()
    page.wait_for_url(f"{live_url}/dashboard")
    expect(page.get_by_role("heading", level=1, name="仪表板")).to_be_visible()
    charts_drawn(page)
    expect(page.locator("#dash-status")).to_be_empty()
    page.screenshot(path="/tmp/dash-zh-laptop.png", full_page=True)

    page.get_by_role("link", name="1 当前已超时的未结工单").click()
    page.wait_for_url(f"{live_url}/tickets?breached=true&status=open&service=true")
    rows = page.locator("table.ticket-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(late_number)
    expect(rows.first).to_contain_text("核心系统宕机")
    expect(page.get_by_label("仅看超时")).to_be_checked()
    with page.expect_download() as download:
        page.get_by_role("link", name="Excel (XLSX)").click()
    path = download.value.path()
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(path, "rb") as handle:
        sheet = load_workbook(io.BytesIO(handle.read())).active
    rows_out = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1]) for r in rows_out] == [(late_number, "核心系统宕机")]


def test_a_bar_opens_its_ticket_list(page: Page, live_url: str, facade: Aftercare, clock: FakeClock) -> None:
    build_history(facade, clock)
    login(page, live_url, "process_owner")
    page.goto(f"{live_url}/dashboard")
    charts_drawn(page)
    severities = page.evaluate("echarts.getInstanceByDom(document.querySelector('[data-chart=by_severity]'))"
                               ".getOption().xAxis[0].data")
    assert severities == ["等级 1", "等级 2"]
    point = bar_point(page, "by_severity", 0)
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(f"{live_url}/tickets?status=unclosed&severity=1")
    expect(page.locator("table.ticket-list tbody tr")).to_have_count(1)
    expect(page.locator("table.ticket-list tbody tr").first).to_contain_text("核心系统宕机")

    page.goto(f"{live_url}/dashboard")
    charts_drawn(page)
    page.get_by_role("link", name="1 等待客户决定的报价").click()
    page.wait_for_url(f"{live_url}/tickets?task=quote_decision")
    expect(page.get_by_text("等待步骤：客户决定报价")).to_be_visible()
    expect(page.locator("table.ticket-list tbody tr")).to_have_count(1)
    page.get_by_role("link", name="移除筛选条件：等待步骤 客户决定报价").click()
    page.wait_for_url(f"{live_url}/tickets")
    expect(page.locator(".chip")).to_have_count(0)
    expect(page.locator("table.ticket-list")).to_contain_text("核心系统宕机")  # the whole list again


def test_the_dashboard_fits_a_phone_in_both_languages(browser: Browser, live_url: str, facade: Aftercare,
                                                      clock: FakeClock) -> None:
    build_history(facade, clock)
    for language, heading, tile in (("zh-CN", "仪表板", "1 当前已超时的未结工单"),
                                    ("en", "Dashboard", "1 Open tickets breached now")):
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale=language, is_mobile=True,
                                      has_touch=True)
        try:
            phone = context.new_page()
            login(phone, live_url, "manager")
            phone.goto(f"{live_url}/dashboard?lang={language}")
            expect(phone.get_by_role("heading", level=1, name=heading)).to_be_visible()
            charts_drawn(phone)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the dashboard is {width} px wide on a 390 px phone ({language})"
            boxes = phone.locator(".chart[data-chart]").evaluate_all(
                "els => els.map(e => { const b = e.getBoundingClientRect(); return [b.left, b.right, b.top]; })")
            assert all(left >= 0 and right <= 390 for left, right, _top in boxes)
            tops = [top for _left, _right, top in boxes]
            assert tops == sorted(tops) and len(set(tops)) == CHARTS, "one chart under another"
            expect(phone.get_by_role("link", name=tile)).to_be_visible()
            phone.screenshot(path=f"/tmp/dash-{language}-phone.png", full_page=True)
        finally:
            context.close()
