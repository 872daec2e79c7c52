"""The ticket page's timeline reads like the product, not its internals: form fields under their titles, choices
by their titles, yes/no, plain numbers, Beijing time, items as a table, and event details translated, in both
languages; severity and on-site only for faults."""
from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from api import i18n, timeline
from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.support import Desk, complete_as_customer

HOSPITAL = {"customer": "青山医院", "contact_name": "李工", "contact_email": "it@qingshan-hospital.example"}
ASSESSMENT = {"change_kind": "enhancement", "change_scope": "新增科室月度统计报表", "effort_days": 6,
              "change_impact": "仅报表模块", "affected_modules": "报表, 统计", "assessment_decision": "implement",
              "assessment_answer": "我们将按评估结果处理您的需求"}
ROUND_1 = {"quote_items": [{"description": "报表开发", "quantity": 5, "unit_price": 2000},
                           {"description": "上线支持", "unit_price": 1500}], "quote_validity_days": 10}
ROUND_2 = {"quote_items": [{"description": "报表开发", "quantity": 6.5, "unit_price": 2000}], "quote_validity_days": 10}


def _login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf, "next": "/"})




def _paid_change(facade: Aftercare, clock: FakeClock) -> int:
    """A change for an out-of-warranty customer: assessed, quoted twice after a counter-offer, accepted, done."""
    desk = Desk(facade, clock)
    tid = desk.create(title="新增科室月度报表", description="希望增加按科室统计的月度报表", **HOSPITAL)
    desk.triage(tid, category="change", severity=3)
    desk.complete(tid, "change_assessment", ASSESSMENT)
    desk.complete(tid, "prepare_quote", ROUND_1)
    complete_as_customer(facade, tid, {"quote_decision": "counter", "counter_offer": "开发按 4 人天"})
    desk.complete(tid, "prepare_quote", ROUND_2)
    complete_as_customer(facade, tid, {"quote_decision": "accept"})
    desk.complete(tid, "schedule_change", {"planned_start": "2026-12-01", "planned_end": "2026-12-04",
                                           "change_engineer": "engineer"})
    desk.complete(tid, "implement_change", {"resolution": "已上线", "release_version": "3.4.1"})
    return tid


def _section(html: str, start: str, end: str) -> str:
    return html[html.index(start):html.index(end, html.index(start))]


def _timeline(html: str) -> str:
    """The timeline's markup without the entries' classes (they name the event kinds)."""
    return re.sub(r' class="ev-[a-z_]+"', "", _section(html, '<ol class="timeline">', "</ol>"))


@pytest.fixture
def paid_change(client: TestClient, facade: Aftercare, clock: FakeClock) -> int:
    tid = _paid_change(facade, clock)
    _login(client, "manager")
    return tid


def test_the_timeline_shows_form_titles_and_readable_values_in_chinese(client: TestClient, paid_change: int) -> None:
    html = client.get(f"/tickets/{paid_change}?lang=zh-CN").text
    events = _timeline(html)
    assert "需求类型" in events and "功能增强" in events and "安排实施" in events and "工作量（人天）" in events
    assert "报价明细" in events and "<th>服务内容</th>" in events and "<td>6.5</td>" in events
    assert "13,000 元" in events and "11,500 元" in events  # amounts: thousands separators, no trailing .0
    assert "接受报价" in events and "还价" in events and "开发按 4 人天" in events
    # the customer's form speaks to the customer ("您的决定"); the staff timeline names whose answer it was
    assert "客户的决定" in events and "客户的还价说明" in events and "您的决定" not in events
    assert "待编制报价" in events and "等待客户验收" in events and "已过质保期" in events and "收费" in events
    assert "2026-12-07 10:00" in events  # the quote's validity end, in Beijing time
    for raw in ("change_kind", "enhancement", "implement<", "quote_items", "valid_until", "counter_offer",
                "assessment_decision", "True", "False", "13000.0", "6.0", "+00:00", "{'", "awaiting customer",
                "Warranty has ended", "paid<", "<dd></dd>"):
        assert raw not in events, raw
    assert "故障等级" not in events and "现场处理" not in events  # triage of a change: no severity, no on-site
    facts = _section(html, '<dl class="facts">', "</dl>")
    assert "需求建议" in facts and "等级" not in facts and "远程" not in facts


def test_the_timeline_reads_in_english(client: TestClient, paid_change: int) -> None:
    events = _timeline(client.get(f"/tickets/{paid_change}?lang=en").text)
    assert "Kind of change" in events and "Enhancement" in events and "Effort (person-days)" in events
    assert "Quoted items" in events and "<th>Unit price (CNY)</th>" in events and "13,000 CNY" in events
    assert "Quote requested" in events and "Awaiting customer acceptance" in events
    assert "Warranty has ended" in events and "Accept the quote" in events
    said = html.unescape(events)
    assert "Customer's decision" in said and "Customer's counter-offer" in said and "Your decision" not in said
    assert "需求类型" not in events and "已过质保期" not in events and "change_kind" not in events


def test_severity_shows_only_for_faults(client: TestClient, facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    fault = desk.create(title="系统无法登录")
    desk.triage(fault, category="fault", severity=1, onsite=True)
    change = desk.create(title="新增报表")
    desk.triage(change, category="change", severity=3)
    _login(client, "admin")
    fault_facts = _section(client.get(f"/tickets/{fault}").text, '<dl class="facts">', "</dl>")
    assert "等级 1" in fault_facts and "现场" in fault_facts
    fault_events = _timeline(client.get(f"/tickets/{fault}").text)
    assert "一级：系统瘫痪或核心功能不可用" in fault_events and "现场" in fault_events and "On-site" not in fault_events
    rows = {m[0]: m[1] for m in re.findall(r'(系统无法登录|新增报表)</td>.*?</td>\s*<td>(.*?)</td>',
                                           client.get("/?view=all").text, re.S)}
    assert 'class="sev sev1"' in rows["系统无法登录"] and rows["新增报表"] == "—"


@pytest.mark.parametrize(("language", "expected"), [("zh-CN", "已过质保期"), ("en", "Warranty has ended")])
def test_a_bilingual_reason_shows_the_readers_half(language: str, expected: str) -> None:
    i18n.activate(language)
    try:
        [entry] = timeline.entries({"timeline": [{"kind": "entitlement", "at": "", "actor": "system",
                                                  "reason": "已过质保期 Warranty has ended", "charge": "paid"}]}, {})
    finally:
        i18n.activate(i18n.DEFAULT)
    assert entry["reason"] == expected


def test_values_are_formatted_and_unknown_keys_stay_visible() -> None:
    i18n.activate("zh-CN")
    event = {"kind": "something_new", "at": "", "actor": "system", "mystery_count": 1234567.0, "flag": False,
             "when": "2026-12-11T10:00:00+00:00", "empty": "", "nothing": None, "rows": [{"a": 1.5}, {"a": None}]}
    [entry] = timeline.entries({"timeline": [event]}, {})
    fields = {f.label: f for f in entry["fields"]}
    assert fields["Mystery count"].text == "1,234,567" and fields["Flag"].text == "否"
    assert fields["When"].time == "2026-12-11T10:00:00+00:00"  # the page shows it with its `local` filter
    assert fields["Rows"].columns == ("A",) and fields["Rows"].rows == (("1.5",),)
    assert "Empty" not in fields and "Nothing" not in fields


def test_a_customers_own_reason_is_never_translated() -> None:
    i18n.activate("zh-CN")
    events = [{"kind": "rejected", "at": "", "actor": "system", "reason": "No"},
              {"kind": "reopened", "at": "", "actor": "system", "reason": "recurred"}]
    assert [e["reason"] for e in timeline.entries({"timeline": events}, {})] == ["No", "问题复发"]


def test_a_long_run_of_routine_entries_folds_and_the_deadlines_stay_in_view(client: TestClient, facade: Aftercare,
                                                                            clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    tid = desk.create(title="报表服务偶发超时")
    desk.triage(tid, category="fault", severity=3)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "待复现"}, role="engineer")
    for _ in range(30):  # a week of waiting: the progress notice every 4 hours, the resolve deadline passing
        desk.travel(hours=6)
    _login(client, "manager")
    page = client.get(f"/tickets/{tid}").text
    fold = re.search(r'<li class="ev-folded"[^>]*>\s*<details><summary>(.*?)</summary>(.*?)</details>', page, re.S)
    assert fold, "the routine entries are folded"
    summary, inside = fold.groups()
    folded = int(re.search(r"(\d+) 条例行记录", summary).group(1))
    assert folded >= 4 and "定时器触发 每4小时 ×" in summary and "进度通报 ×" in summary
    assert inside.count("<li ") == folded
    after = page[page.index("</details>"):page.index("</ol>", page.index("</details>"))]
    assert after.count("每4小时 Every 4 h") >= 1  # the latest of the run left open
    assert "解决超时 Resolve due" not in inside and "解决超时 Resolve due" in page  # a deadline is never folded
    assert '<span class="count">' in page and f'流程 <span class="count">{len(desk.ticket(tid)["timeline"])}' in page
