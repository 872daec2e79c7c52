"""The knowledge base (知识库): the kb_article procedure (draft, send back, approve, publish), what customers see,
Chinese substring search, readings and deflections, and Markdown that cannot carry a script."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

from engine import kb
from engine.commands import Aftercare
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.users import Actor
from tests.support import Desk

ENGINEER, EXPERT, DESK = Actor("engineer", "engineer"), Actor("expert", "expert"), Actor("service_desk", "service_desk")
VISIT = "visit-0123456789abcdef"


@pytest.fixture
def desk(facade: Aftercare, clock: object) -> Desk:
    return Desk(facade, clock)


def _write(facade: Aftercare, title: str = "系统无法登录怎么办") -> dict:
    return facade.kb.create_article(actor=ENGINEER, title=title, body="## 解决方法\n\n清除浏览器缓存后重新登录。",
                                    module="统一认证", tags="登录、缓存")


def _publish(facade: Aftercare, desk: Desk, title: str = "系统无法登录怎么办", body: str = "清除浏览器缓存后重新登录。",
             tags: str = "") -> int:
    created = facade.kb.create_article(actor=ENGINEER, title=title, body=body, module="统一认证", tags=tags)
    facade.kb.submit_article(article_id=created["id"], actor=ENGINEER, title=title, body=body, module="统一认证",
                             tags=tags)
    desk.complete(created["ticket_id"], "review_article", {"decision": "approve"})
    return int(created["id"])


def test_draft_send_back_approve_publish(facade: Aftercare, desk: Desk) -> None:
    created = _write(facade)
    article_id, case = created["id"], created["ticket_id"]
    assert created["number"].startswith("KB-") and created["status"] == "draft"
    assert desk.names(case) == ["draft_article"] and desk.task(case, "draft_article")["role"] == "engineer"
    # the draft step's form starts from the article as it stands
    task = facade.get_task(task_id=desk.task(case, "draft_article")["id"], actor=ENGINEER)
    assert task["form"]["properties"]["article_title"]["default"] == "系统无法登录怎么办"
    assert task["form"]["properties"]["article_tags"]["default"] == "登录、缓存"

    facade.kb.update_article(article_id=article_id, actor=ENGINEER, title="系统无法登录", body="清除缓存。",
                             module="统一认证", tags="登录")
    facade.kb.submit_article(article_id=article_id, actor=ENGINEER, title="系统无法登录", body="清除缓存后重新登录。",
                             module="统一认证", tags="登录, 缓存")
    article = facade.kb.get_article(article_id=article_id, actor=EXPERT)
    assert article["status"] == "review" and article["can_review"] and not article["can_edit"]
    assert desk.names(case) == ["review_article"] and desk.task(case, "review_article")["role"] == "expert"
    with pytest.raises(Conflict):  # no editing under review
        facade.kb.update_article(article_id=article_id, actor=ENGINEER, title="x", body="y")
    with pytest.raises(NotFound):
        facade.kb.public_article(article_id=article_id)

    with pytest.raises(ValidationFailed) as refused:  # sending back needs a comment
        facade.kb.review_article(article_id=article_id, actor=EXPERT, decision="send_back")
    assert [e["field"] for e in refused.value.errors] == ["review_comment"]
    with pytest.raises(Forbidden):
        facade.kb.review_article(article_id=article_id, actor=ENGINEER, decision="approve")
    facade.kb.review_article(article_id=article_id, actor=EXPERT, decision="send_back", comment="请补充截图说明")
    article = facade.kb.get_article(article_id=article_id, actor=ENGINEER)
    assert article["status"] == "draft" and article["can_edit"]
    reviews = [(r["decision"], r["comment"], r["by"]) for r in article["reviews"]]
    assert reviews == [("send_back", "请补充截图说明", "expert")]
    assert desk.names(case) == ["draft_article"]

    # the generic task page works too: its form starts from the article, the projection copies it back
    task = facade.get_task(task_id=desk.task(case, "draft_article")["id"], actor=ENGINEER)
    data = {k: p["default"] for k, p in task["form"]["properties"].items() if "default" in p}
    desk.complete(case, "draft_article", {**data, "article_body": "1. 清除缓存\n2. 重新登录"})
    desk.complete(case, "review_article", {"decision": "approve"})
    article = facade.kb.get_article(article_id=article_id, actor=ENGINEER)
    assert article["status"] == "published" and article["published_at"] and article["reviewed_by"] == "expert"
    assert article["body"] == "1. 清除缓存\n2. 重新登录" and article["tags"] == ["登录", "缓存"]
    assert desk.ticket(case)["status"] == "closed" and desk.names(case) == []
    assert facade.kb.public_article(article_id=article_id)["title"] == "系统无法登录"


def test_only_writers_write_and_review_cases_are_no_service_tickets(facade: Aftercare, desk: Desk) -> None:
    with pytest.raises(Forbidden):
        facade.kb.create_article(actor=DESK, title="x", body="y")
    with pytest.raises(ValidationFailed) as refused:
        facade.kb.create_article(actor=ENGINEER, title=" ", body="", module="m" * 101)
    assert sorted(e["field"] for e in refused.value.errors) == ["body", "module", "title"]
    before = facade.month_figures(customer=None, month="2026-11", actor=Actor("manager", "manager"))
    _publish(facade, desk)
    after = facade.month_figures(customer=None, month="2026-11", actor=Actor("manager", "manager"))
    assert after["tickets"] == before["tickets"]  # the review case is no service ticket


def test_only_published_articles_reach_customers(facade: Aftercare, desk: Desk) -> None:
    published = _publish(facade, desk, title="系统无法登录", body="清除缓存")
    _write(facade, title="登录页面空白（草稿）")
    found = facade.kb.public_search(q="登录")
    assert [a["id"] for a in found["items"]] == [published] and found["total"] == 1
    assert [a["id"] for a in facade.kb.suggest(q="登录")] == [published]
    staff = facade.kb.list_articles(actor=DESK, q="登录")
    assert staff["total"] == 2
    assert facade.kb.list_articles(actor=DESK, status="draft")["items"][0]["title"] == "登录页面空白（草稿）"
    facade.kb.retire_article(article_id=published, actor=EXPERT)
    assert facade.kb.public_search(q="登录")["total"] == 0
    with pytest.raises(NotFound):
        facade.kb.public_article(article_id=published)
    with pytest.raises(NotFound):
        facade.kb.record_reading(article_id=published, visit=VISIT, source="search")


def test_chinese_substring_search(facade: Aftercare, desk: Desk) -> None:
    login = _publish(facade, desk, title="系统无法登录", body="清除缓存后重试")
    printing = _publish(facade, desk, title="Prescription printing margins", body="打印机驱动更新后页边距变化")
    percent = _publish(facade, desk, title="100% CPU 占用", body="定时任务与高峰重叠")
    assert [a["id"] for a in facade.kb.public_search(q="登录")["items"]] == [login]
    assert [a["id"] for a in facade.kb.public_search(q="页边距")["items"]] == [printing]  # in the body
    assert [a["id"] for a in facade.kb.public_search(q="PRINTING")["items"]] == [printing]  # case-insensitive
    assert [a["id"] for a in facade.kb.public_search(q="打印 驱动")["items"]] == [printing]  # every word
    assert facade.kb.public_search(q="登录 打印")["total"] == 0
    assert [a["id"] for a in facade.kb.public_search(q="100%")["items"]] == [percent]  # LIKE wildcards escaped
    assert facade.kb.public_search(q="%")["total"] == 1 and facade.kb.public_search(q="_")["total"] == 0
    assert facade.kb.public_search(q="统一认证")["total"] == 3  # the module
    assert [a["id"] for a in facade.kb.public_search(q="")["items"]] == [percent, printing, login]  # newest first
    # a tag, stored as JSON
    tagged = facade.kb.create_article(actor=ENGINEER, title="t", body="b", tags="医保结算")
    assert [a["id"] for a in facade.kb.list_articles(actor=DESK, q="医保")["items"]] == [tagged["id"]]
    # suggestions for a whole sentence fall back to any of its words
    assert [a["id"] for a in facade.kb.suggest(q="今天 登录")] == [login]
    # Chinese is written without spaces: a title typed in other words still finds the article by its pairs
    assert [a["id"] for a in facade.kb.suggest(q="系统登录不了")][:1] == [login]
    assert [a["id"] for a in facade.kb.suggest(q="打印出来的页边距不对")][:1] == [printing]
    assert facade.kb.suggest(q="完全无关的话题") == []
    assert facade.kb.suggest(q="登") == []


def test_views_and_deflections(facade: Aftercare, desk: Desk, clock: object) -> None:
    article = _publish(facade, desk)
    other_visit = "visit-fedcba9876543210"
    facade.kb.record_reading(article_id=article, visit=VISIT, source="suggestion")
    facade.kb.record_reading(article_id=article, visit=other_visit, source="search")
    facade.kb.record_reading(article_id=article, visit="link-visit-0000000000", source="link")
    with pytest.raises(ValidationFailed):
        facade.kb.record_reading(article_id=article, visit="short", source="search")
    with pytest.raises(ValidationFailed):
        facade.kb.record_reading(article_id=article, visit=VISIT, source="crawler")
    figures = facade.kb.get_article(article_id=article, actor=DESK)
    assert (figures["views"], figures["deflections"]) == (3, 0)  # not an hour yet

    ticket = desk.create(title="还是无法登录")
    assert facade.kb.mark_filed(visit=VISIT, ticket_id=ticket) == 1
    assert facade.kb.mark_filed(visit="not a visit", ticket_id=ticket) == 0
    clock.advance(minutes=61)  # type: ignore[attr-defined]
    figures = facade.kb.get_article(article_id=article, actor=DESK)
    assert (figures["views"], figures["deflections"]) == (3, 1)  # the search reading whose visit filed nothing
    listed = facade.kb.list_articles(actor=DESK)["items"][0]
    assert (listed["views"], listed["deflections"]) == (3, 1)


def test_mark_filed_in_the_callers_unit_of_work(facade: Aftercare, desk: Desk, clock: object) -> None:
    article = _publish(facade, desk)
    facade.kb.record_reading(article_id=article, visit=VISIT, source="search")
    ticket = desk.create()
    assert facade.run_in_unit(lambda session: kb.mark_filed(session, VISIT, ticket), write=True) == 1
    clock.advance(hours=2)  # type: ignore[attr-defined]
    assert facade.kb.get_article(article_id=article, actor=DESK)["deflections"] == 0


def test_written_from_a_resolved_ticket(facade: Aftercare, desk: Desk) -> None:
    tid = desk.create(title="门诊收费无法登录", description="收费员登录时提示密码错误")
    with pytest.raises(Conflict):
        facade.kb.ticket_draft(ticket_id=tid, actor=ENGINEER)
    desk.triage(tid, severity=2)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    desk.complete(tid, "engineer_resolution", {"resolution": "重置角色同步任务", "root_cause": "角色同步任务失败",
                                               "fault_type": "login", "module": "统一认证", "outcome": "resolved"})
    draft = facade.kb.ticket_draft(ticket_id=tid, actor=ENGINEER)
    assert draft["title"] == "门诊收费无法登录" and draft["module"] == "统一认证" and draft["tags"] == ["login"]
    assert "收费员登录时提示密码错误" in draft["body"] and "角色同步任务失败" in draft["body"] \
        and "重置角色同步任务" in draft["body"] and draft["body"].index("原因") < draft["body"].index("解决方法")
    assert "## Cause" in facade.kb.ticket_draft(ticket_id=tid, actor=ENGINEER, language="en")["body"]
    created = facade.kb.create_article(actor=ENGINEER, title=draft["title"], body=draft["body"],
                                       module=draft["module"], tags=draft["tags"], source_ticket_id=tid)
    assert facade.kb.get_article(article_id=created["id"], actor=ENGINEER)["source_ticket"]["id"] == tid
    with pytest.raises(ValidationFailed):  # a ticket still open is no source
        facade.kb.create_article(actor=ENGINEER, title="t", body="b", source_ticket_id=desk.create())


class _Tags(HTMLParser):
    """Every element and attribute of a piece of HTML, as a browser would parse it."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def test_markdown_comes_out_harmless() -> None:
    html = kb.render("# 标题\n\n<script>alert(1)</script>\n\n[点我](javascript:alert(1)) "
                     "[ok](https://example.com/a?b=1) <img src=x onerror=alert(1)>\n\n"
                     "![x](javascript:alert(2)) <a href=\"javascript:alert(3)\">a</a> [J](JaVaScRiPt:alert(1)) "
                     "[d](data:text/html;base64,PHNjcmlwdD4=) <javascript:alert(4)>\n\n**粗体** `code`")
    elements = _Tags(html).found
    assert {tag for tag, _ in elements} <= {"h1", "p", "a", "strong", "code"}  # no script, no img
    links = [attrs for tag, attrs in elements if tag == "a"]
    assert links == [{"href": "https://example.com/a?b=1", "rel": "noopener noreferrer nofollow"}]
    assert not [name for _, attrs in elements for name in attrs if name.startswith("on")]
    assert "<h1>标题</h1>" in html and "<strong>粗体</strong>" in html and "&lt;script&gt;" in html  # text, not run
    assert kb.render("| a | b |\n|---|---|\n| 1 | 2 |").count("<td>") == 2


def test_a_published_article_is_revised_through_its_own_review_and_keeps_its_address(
        facade: Aftercare, desk: Desk) -> None:
    article_id = _publish(facade, desk)
    facade.kb.record_reading(article_id=article_id, visit=VISIT, source="search")
    revision = facade.kb.revise_article(article_id=article_id, actor=ENGINEER)
    assert revision["revises_id"] == article_id and revision["id"] != article_id and not revision["existing"]
    assert revision["number"].startswith("KB-") and desk.names(revision["ticket_id"]) == ["draft_article"]
    draft = facade.kb.get_article(article_id=revision["id"], actor=ENGINEER)
    assert draft["status"] == "draft" and draft["body"] == "清除浏览器缓存后重新登录。" and draft["can_edit"]
    assert draft["revises"] == {"id": article_id, "title": "系统无法登录怎么办", "status": "published",
                                "retired_meanwhile": False}
    # asked again (another writer, a double click): the same revision, not a second one
    assert facade.kb.revise_article(article_id=article_id, actor=EXPERT)["id"] == revision["id"]
    original = facade.kb.get_article(article_id=article_id, actor=ENGINEER)
    assert original["open_revision"] == revision["id"] and original["can_revise"]
    # customers keep reading the published text while the revision is written and reviewed
    facade.kb.submit_article(article_id=revision["id"], actor=ENGINEER, title="系统无法登录怎么办（新版）",
                             body="升级到 5.3 后重新登录。", module="统一认证", tags="登录")
    assert facade.kb.public_article(article_id=article_id)["title"] == "系统无法登录怎么办"
    desk.complete(revision["ticket_id"], "review_article", {"decision": "approve"})
    public = facade.kb.public_article(article_id=article_id)
    assert public["title"] == "系统无法登录怎么办（新版）" and "升级到 5.3" in public["html"]
    merged = facade.kb.get_article(article_id=revision["id"], actor=ENGINEER)
    assert merged["status"] == "merged" and not merged["can_edit"] and not merged["can_revise"]
    original = facade.kb.get_article(article_id=article_id, actor=ENGINEER)
    assert original["status"] == "published" and original["views"] == 1 and original["open_revision"] is None
    listed = facade.kb.list_articles(actor=ENGINEER)["items"]
    assert [a["id"] for a in listed] == [article_id]  # the merged revision is history, not a second article
    assert [a["id"] for a in facade.kb.list_articles(actor=ENGINEER, status="merged")["items"]] == [revision["id"]]
    with pytest.raises(NotFound):
        facade.kb.public_article(article_id=revision["id"])


def test_only_a_published_or_retired_article_is_revised_and_only_by_writers(facade: Aftercare, desk: Desk) -> None:
    draft = _write(facade)
    with pytest.raises(Conflict):
        facade.kb.revise_article(article_id=draft["id"], actor=ENGINEER)
    article_id = _publish(facade, desk, title="打印机脱机")
    with pytest.raises(Forbidden):
        facade.kb.revise_article(article_id=article_id, actor=DESK)
    facade.kb.retire_article(article_id=article_id, actor=EXPERT)
    revision = facade.kb.revise_article(article_id=article_id, actor=EXPERT)  # a retired one, brought up to date
    facade.kb.submit_article(article_id=revision["id"], actor=EXPERT, title="打印机脱机", body="重新安装驱动。")
    desk.complete(revision["ticket_id"], "review_article", {"decision": "approve"})
    assert facade.kb.public_article(article_id=article_id)["html"].count("重新安装驱动") == 1


def test_an_article_retired_while_its_revision_was_written_stays_retired(facade: Aftercare, desk: Desk) -> None:
    article_id = _publish(facade, desk)
    revision = facade.kb.revise_article(article_id=article_id, actor=ENGINEER)
    facade.kb.submit_article(article_id=revision["id"], actor=ENGINEER, title="新标题", body="新的解决方法。")
    facade.kb.retire_article(article_id=article_id, actor=EXPERT)  # taken back from customers meanwhile
    assert facade.kb.get_article(article_id=revision["id"], actor=EXPERT)["revises"]["retired_meanwhile"]
    desk.complete(revision["ticket_id"], "review_article", {"decision": "approve"})
    article = facade.kb.get_article(article_id=article_id, actor=ENGINEER)
    assert article["status"] == "retired" and article["title"] == "新标题"  # the new text, for when it comes back
    with pytest.raises(NotFound):
        facade.kb.public_article(article_id=article_id)
