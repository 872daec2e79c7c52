"""Changing a procedure in the workbench's modeler: a boundary timer added from the palette to a user task, the
checker's complaint about its unquoted ISO literal marked on the diagram, fixed in the properties panel, deployed,
compared with the old version, and a running case migrated to the new version with its open task kept."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import login
from tests.browser.test_workbench_sla import Api, triaged_fault

DOCS = Path(__file__).resolve().parents[2] / "docs"
PHONE = {"width": 390, "height": 844}
TIMER = "resolution_reminder"


def shape(element_id: str) -> str:
    """The selector of a shape on the modeler's canvas."""
    return f'#canvas .djs-element.djs-shape[data-element-id="{element_id}"]'


def add_reminder_timer(page: Page) -> None:
    """From the palette, a boundary event dropped on the task engineer_resolution, named, made a non-interrupting
    timer with the wrench, an end event appended from the context pad, then its ID and timer in the panel."""
    page.evaluate("aftercareEditor.selectElement('engineer_resolution')")  # scrolls the canvas to it
    task = page.locator(shape("engineer_resolution")).bounding_box()
    assert task
    page.click('.djs-palette .entry[data-action="create.intermediate-event"]')
    x, y = task["x"] + task["width"] / 2, task["y"] + task["height"]  # on the task's lower border: attached
    page.mouse.move(x - 40, y + 40, steps=5)
    page.mouse.move(x, y, steps=10)
    page.mouse.down()
    page.mouse.up()
    page.keyboard.type("2小时提醒 2 h reminder")  # the new event's label is being edited
    page.keyboard.press("Enter")
    page.click('.djs-context-pad.open .entry[data-action="replace"]')
    page.click('.djs-popup [data-id="replace-with-non-interrupting-timer-boundary"]')
    page.click('.djs-context-pad.open .entry[data-action="append.end-event"]')
    page.keyboard.type("已提醒 Reminded")
    page.keyboard.press("Enter")

    timer_id = page.evaluate("""aftercareEditor.modeler.get('elementRegistry')
        .filter(e => e.type === 'bpmn:BoundaryEvent' && e.host.id === 'engineer_resolution')[0].id""")
    page.click(shape(timer_id))
    panel = page.locator("#panel")
    expect(panel.locator(".wb-panel-head")).to_contain_text("边界事件")
    panel.locator("input[data-field=id]").fill(TIMER)
    panel.locator("input[data-field=id]").press("Enter")
    expect(panel.locator(".wb-panel-head code")).to_have_text(TIMER)
    expect(panel.locator("[data-field=timerType]")).to_have_value("timeDuration")
    expect(panel.locator("[data-field=interrupting]")).not_to_be_checked()
    panel.locator("[data-field=expression]").fill("PT2H")  # as Camunda Modeler writes it: not Python
    panel.locator("[data-field=expression]").press("Enter")


def test_boundary_timer_checked_fixed_deployed_and_case_migrated(page: Page, browser: Browser,
                                                                 live_url: str) -> None:
    admin = Api(page.request, live_url, "admin")
    ticket = triaged_fault(Api(page.request, live_url, "service_desk"), "报表导出失败")
    before = admin.get(f"/api/tickets/{ticket}")
    assert before["process"] == {"process_id": "maintenance_request", "version": 1}
    [task] = before["tasks"]
    assert task["name"] == "engineer_response"

    login(page, live_url, "process_owner")
    page.goto(f"{live_url}/workbench/edit/maintenance_request.bpmn")
    expect(page.locator("#canvas[data-ready=true]")).to_be_attached()
    add_reminder_timer(page)

    page.get_by_role("button", name="检查").click()
    problems = page.locator("ul.wb-problems")
    expect(problems).to_be_visible()
    expect(problems.locator("li")).to_have_count(1)
    expect(problems).to_contain_text(f"{TIMER}: 定时器 'PT2H' 是未加引号的 ISO 字面量")
    expect(page.locator(".wb-status")).to_have_text("1 个问题")
    expect(page.locator(f"{shape(TIMER)}.wb-problem")).to_be_attached()
    expect(page.locator(".wb-problem-badge")).to_be_visible()
    expect(page.locator("#panel .wb-panel-problems")).to_contain_text("未加引号的 ISO 字面量")
    for _ in range(2):
        page.click(".wb-canvas-tools [data-action=zoomIn]")
    problems.locator("li.link").click()  # selects the element and brings it into view
    expect(page.locator("#panel .wb-panel-head code")).to_have_text(TIMER)
    expression = page.locator("#panel [data-field=expression]")
    expression.scroll_into_view_if_needed()
    page.screenshot(path=str(DOCS / "workbench-modeler-problem.png"))

    expression.fill('"PT2H"')
    expression.press("Enter")
    page.fill("input[name=note]", "故障处理 2 小时未完成时提醒")
    page.get_by_role("button", name="检查").click()
    expect(page.locator(".wb-status")).to_have_text("没有问题，可以部署。")
    expect(problems).to_be_hidden()
    expect(page.locator(f"{shape(TIMER)}.wb-problem")).to_have_count(0)

    page.get_by_role("button", name="部署").click()
    expect(page.locator(".wb-status")).to_have_text("已部署：fault_handling v2, maintenance_request v2")

    phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
    login(phone, live_url, "process_owner")  # on a phone: the versions and a dry run, which changes nothing
    phone.goto(f"{live_url}/workbench/processes/maintenance_request")
    expect(phone.locator("#diagram[data-ready=true]")).to_be_attached()
    expect(phone.locator('#versions tr[data-version="1"] td.running')).to_have_text("1")
    expect(phone.locator('#versions tr[data-version="2"] td.running')).to_be_visible()
    phone.get_by_role("button", name="试运行").click()
    expect(phone.locator("#migration tbody tr td").nth(1)).to_have_text("可迁移")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing overflows sideways
    phone.screenshot(path=str(DOCS / "workbench-phone.png"), full_page=True)
    phone.context.close()

    page.goto(f"{live_url}/workbench/processes/maintenance_request")
    versions = page.locator("#versions tbody tr")
    expect(versions.first.locator("td").nth(4)).to_have_text("故障处理 2 小时未完成时提醒")
    migration = page.locator("#migration")
    expect(migration.locator("select[name=from_version]")).to_have_value("1")
    expect(migration.locator("select[name=to_version]")).to_have_value("2")
    migration.get_by_role("button", name="试运行").click()
    rows = migration.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").nth(1)).to_have_text("可迁移")
    expect(migration.locator(".progress-text")).to_have_text("试运行：1 / 1 个工单可迁移。")
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()
    page.on("dialog", answer)
    migration.get_by_role("button", name="迁移可迁移的工单").click()  # asked, and cancelled: nothing moves
    expect(migration.locator(".progress-text")).to_have_text("试运行：1 / 1 个工单可迁移。")
    assert asked == ["将 1 个运行中的工单从 v1 迁移到 v2？它们此后按 v2 运行，待办任务与定时器保留。"]
    migration.get_by_role("button", name="迁移可迁移的工单").click()  # asked again, and confirmed
    expect(migration.locator(".progress-text")).to_have_text("已迁移 1 个工单。")
    page.remove_listener("dialog", answer)
    expect(rows.first.locator("td").nth(1)).to_have_text("已迁移")
    expect(page.locator('#versions tr[data-version="2"] td.running')).to_have_text("1")
    expect(page.locator('#versions tr[data-version="1"] td.running')).to_have_text("0")
    page.screenshot(path=str(DOCS / "workbench-migration.png"), full_page=True)

    page.reload()
    expect(page.locator('#versions tr[data-version="2"] td.running')).to_have_text("1")
    expect(page.locator("#migration")).to_contain_text("所有运行中的工单都在最新版本上。")
    moved = admin.get(f"/api/tickets/{ticket}")
    assert [{k: e[k] for k in ("actor", "procedure", "from_version", "to_version")} for e in moved["timeline"]
            if e["kind"] == "case_migrated"] == [{"actor": "process_owner", "procedure": "维护请求 Maintenance request",
                                                  "from_version": 1, "to_version": 2}]
    assert moved["process"] == {"process_id": "maintenance_request", "version": 2}
    assert [(t["id"], t["name"], t["due_at"]) for t in moved["tasks"]] == [(task["id"], task["name"], task["due_at"])]

    page.goto(f"{live_url}/workbench/processes/maintenance_request/compare?old=1&new=2")
    expect(page.locator("#changed-files")).to_contain_text("maintenance_request.bpmn")
    expect(page.locator(".wb-diff-legend")).to_contain_text("新增 3")
    page.screenshot(path=str(DOCS / "workbench-compare.png"), full_page=True)
    page.goto(f"{live_url}/workbench/processes/maintenance_request/compare?old=1&new=2&lang=en")
    expect(page.locator("h1")).to_have_text("Compare v1 → v2")
    expect(page.locator(".wb-diff-legend")).to_contain_text("Added 3")
