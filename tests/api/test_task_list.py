"""The staff task list (`/`) through the real app: the filter form answers a page at its defaults and at each
choice, with the right tasks; what the address holds that means nothing is left out with a notice, never a JSON
error; paging and sorting links keep every filter; the page has a heading and labelled inputs."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.support import Desk

HOSPITAL = {"customer": "青山医院", "contact_name": "李工", "contact_email": "it@qingshan-hospital.example"}
# What a browser sends for the form untouched: every select and the search box, empty; no unticked checkbox.
FORM_DEFAULTS = {"view": "all", "role": "", "severity": "", "customer": "", "sort": "due", "desc": ""}
ALL = {"待分类", "一级故障", "二级故障", "三级故障"}


def _find(pattern: str, text: str) -> str:
    """The first group of `pattern` in `text`, which must be there."""
    match = re.search(pattern, text, re.S)
    assert match, pattern
    return match.group(1)


def _login(client: TestClient, username: str) -> None:
    csrf = _find(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    client.post("/login", data={"username": username, "password": "demo", "csrf": csrf, "next": "/"})


def _submit(client: TestClient, **choices: str) -> Response:
    """The filter form submitted with `choices` made and everything else at its default."""
    response = client.get("/", params={**FORM_DEFAULTS, **choices})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response


def _titles(response: Response) -> list[str]:
    """The ticket titles of the listed tasks, in order."""
    rows = re.findall(r'<tr class="sla-\w+">\s*<td>.*?</td>\s*<td>.*?</td>\s*<td>(.*?)</td>', response.text, re.S)
    return [html.unescape(title) for title in rows]


def _link(response: Response, rel: str) -> str:
    return html.unescape(_find(rf'<a href="([^"]+)" rel="{rel}">', response.text))


@pytest.fixture
def desk(client: TestClient, facade: Aftercare, clock: FakeClock) -> Desk:
    """A ticket left untriaged past its 15 minutes, then three faults of the hospital, one per severity."""
    desk = Desk(facade, clock)
    desk.create(title="待分类")
    desk.travel(hours=1)
    for severity, title in ((1, "一级故障"), (2, "二级故障"), (3, "三级故障")):
        desk.triage(desk.create(title=title, **HOSPITAL), severity=severity)
    _login(client, "manager")
    return desk


@pytest.mark.parametrize(("choices", "expected"), [
    ({}, ALL),
    ({"severity": "1"}, {"一级故障"}),
    ({"severity": "2"}, {"二级故障"}),
    ({"severity": "3"}, {"三级故障"}),
    ({"breached": "true"}, {"待分类"}),
    ({"breached": "true", "severity": "2"}, set()),
    ({"role": "service_desk"}, {"待分类"}),
    ({"role": "engineer"}, {"二级故障", "三级故障"}),
    ({"role": "expert"}, {"一级故障"}),
    ({"role": "manager"}, set()),
    ({"customer": "青山"}, {"一级故障", "二级故障", "三级故障"}),
    ({"customer": "nobody"}, set()),
    ({"view": "mine"}, set()),
    ({"sort": "created"}, ALL),
    ({"sort": "severity", "desc": "true"}, ALL),
    ({"sort": "number"}, ALL),
])
def test_each_filter_at_its_default_and_each_choice_answers_the_page(
        client: TestClient, desk: Desk, choices: dict[str, str], expected: set[str]) -> None:
    response = _submit(client, **choices)
    assert set(_titles(response)) == expected
    assert "<h1" in response.text and 'class="notice"' not in response.text
    if not expected:
        assert "这里没有待办任务。" in response.text
    for name, value in choices.items():  # the form shows what was chosen
        if name == "customer":
            assert f'name="customer" value="{value}"' in response.text
        elif name == "breached":
            assert re.search(r'id="f-breached"[^>]* checked', response.text)
        elif name != "view":
            assert re.search(rf'<select id="f-{name}" name="{name}">.*?<option value="{value}" selected>',
                             response.text, re.S), name


def test_sorting_orders_the_rows(client: TestClient, desk: Desk) -> None:
    assert _titles(_submit(client, sort="number")) == ["待分类", "一级故障", "二级故障", "三级故障"]
    assert _titles(_submit(client, sort="number", desc="true")) == ["三级故障", "二级故障", "一级故障", "待分类"]
    assert _titles(_submit(client, sort="severity", desc="true"))[:3] == ["三级故障", "二级故障", "一级故障"]
    assert _titles(_submit(client))[0] == "待分类"  # the earliest deadline first


def test_an_engineer_sees_the_queue_of_the_role_by_default(client: TestClient, desk: Desk) -> None:
    _login(client, "engineer")
    response = client.get("/", params={**FORM_DEFAULTS, "view": ""})
    assert set(_titles(response)) == {"二级故障", "三级故障"}
    assert set(_titles(client.get("/"))) == {"二级故障", "三级故障"}


@pytest.mark.parametrize(("name", "value", "label"), [
    ("severity", "9", "等级"), ("severity", "abc", "等级"), ("severity", "-1", "等级"), ("severity", "1.5", "等级"),
    ("page", "0", "页码"), ("page", "abc", "页码"), ("page", "-2", "页码"), ("page", "1" * 30, "页码"),
    ("breached", "maybe", "仅看超时"), ("sort", "bogus", "排序"), ("desc", "2", "顺序"), ("view", "everything", "视图"),
    ("role", "nobody", "角色"),
])
def test_a_value_that_means_nothing_is_left_out_with_a_notice(client: TestClient, desk: Desk, name: str, value: str,
                                                              label: str) -> None:
    response = _submit(client, **{name: value})
    assert set(_titles(response)) == ALL
    notice = _find(r'<p class="notice" role="status">(.*?)</p>', response.text)
    assert "无法识别" in notice and label in notice and value[:20] in html.unescape(notice)


def test_case_and_spaces_are_forgiven_and_a_page_past_the_end_shows_the_last(client: TestClient, desk: Desk) -> None:
    response = _submit(client, severity=" 2 ", breached="on", role="Engineer", page="99")
    assert 'class="notice"' not in response.text and _titles(response) == []  # severity 2 is not breached
    assert set(_titles(_submit(client, severity=" 2 ", role="Engineer", page="99"))) == {"二级故障"}
    assert "第 1 / 1 页" in _submit(client, page="99").text


def test_paging_keeps_every_filter_and_the_sort(client: TestClient, desk: Desk) -> None:
    for n in range(1, 28):
        desk.triage(desk.create(title=f"批量 {n:02d}", **HOSPITAL), severity=2)
    desk.triage(desk.create(title="批量 三级", **HOSPITAL), severity=3)
    first = _submit(client, severity="2", customer="青山", sort="number", desc="true")
    assert _titles(first) == [f"批量 {n:02d}" for n in range(27, 2, -1)] and "第 1 / 2 页" in first.text
    query = dict(re.findall(r"(\w+)=([^&]*)", _link(first, "next").split("?", 1)[1]))
    assert query == {"view": "all", "severity": "2", "customer": "%E9%9D%92%E5%B1%B1", "sort": "number",
                     "desc": "true", "page": "2"}
    second = client.get("/" + _link(first, "next"))
    assert _titles(second) == ["批量 02", "批量 01", "二级故障"] and "第 2 / 2 页" in second.text
    assert re.search(r'<option value="2" selected>', second.text)  # the form keeps its values
    assert re.search(r'<option value="number" selected>', second.text)
    assert re.search(r'<option value="true" selected>', second.text)
    assert 'name="customer" value="青山"' in second.text
    assert 'name="back" value="/?view=all&amp;severity=2&amp;customer=%E9%9D%92%E5%B1%B1&amp;sort=number' \
           '&amp;desc=true&amp;page=2"' in second.text  # claiming a task comes back to this page
    assert _titles(client.get("/" + _link(second, "prev"))) == _titles(first)
    ascending = client.get("/" + html.unescape(_find(r'<th><a href="([^"]+)">工单 ▼', second.text)))
    assert _titles(ascending)[:3] == ["二级故障", "批量 01", "批量 02"] and "第 1 / 2 页" in ascending.text
    breached_pages = _submit(client, breached="true", sort="number", desc="true")
    assert _titles(breached_pages) == ["待分类"] and 'rel="next"' not in breached_pages.text


class _Controls(HTMLParser):
    """The page's h1s, visible form controls and the `for` of its labels."""

    def __init__(self) -> None:
        super().__init__()
        self.h1 = 0
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str | None] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.h1 += tag == "h1"
        if tag == "label" and found.get("for"):
            self.label_for.add(found["for"])
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append(found)


def test_the_page_has_a_heading_and_every_control_a_label(client: TestClient, desk: Desk) -> None:
    parser = _Controls()
    parser.feed(_submit(client).text)
    assert parser.h1 == 1 and len(parser.controls) >= 6
    unlabelled = [c for c in parser.controls if c.get("id") not in parser.label_for and not c.get("aria-label")]
    assert unlabelled == []


def test_a_step_that_is_the_customers_says_so_and_offers_no_claim(client: TestClient, facade: Aftercare,
                                                                  clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    asked = desk.create(title="如何导出报表")
    desk.triage(asked, category="question")
    desk.complete(asked, "answer_question", {"answer": "在报表页点导出"})
    acceptance = desk.task(asked, "customer_acceptance")["id"]
    _login(client, "manager")
    page = _submit(client).text
    row = _find(rf'(<a href="/tasks/{acceptance}" class="task-link">.*?</tr>)', page)
    assert "等待客户处理" in row and f'action="/tasks/{acceptance}/claim"' not in row
