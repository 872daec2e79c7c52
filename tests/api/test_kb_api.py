"""The knowledge base over HTTP: staff pages (write, edit, review, figures), the public pages customers read, the
portal's suggestions and reading counts, the reply box's picker, and the JSON API."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient

from engine.commands import Aftercare
from engine.users import Actor
from tests.api.conftest import login
from tests.support import Desk

VISIT = "portal-visit-0123456789"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no csrf field on the page"
    return match.group(1)


def _staff(client: TestClient, username: str) -> str:
    """Log in as a demo user on the staff pages; the session's CSRF token."""
    token = _csrf(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": "demo", "csrf": token, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303
    return _csrf(client.get("/kb").text)


def _new(client: TestClient, csrf: str, **fields: str) -> int:
    data = {"csrf": csrf, "title": "系统无法登录", "body": "## 解决方法\n\n清除缓存后重新登录。", "module": "统一认证",
            "tags": "登录, 缓存", **fields}
    response = client.post("/kb/new", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/")[2].split("?")[0])


def _published(client: TestClient, facade: Aftercare) -> int:
    """An article written, submitted and approved on the staff pages."""
    csrf = _staff(client, "engineer")
    article = _new(client, csrf)
    client.post(f"/kb/{article}/edit", data={"csrf": csrf, "action": "submit", "title": "系统无法登录",
                                              "body": "清除缓存后重新登录。", "module": "统一认证", "tags": "登录"})
    client.post("/logout", data={"csrf": csrf})
    csrf = _staff(client, "expert")
    response = client.post(f"/kb/{article}/review", data={"csrf": csrf, "decision": "approve"}, follow_redirects=False)
    assert response.status_code == 303
    client.post("/logout", data={"csrf": csrf})
    return article


def test_staff_write_send_back_and_publish_on_the_pages(client: TestClient, facade: Aftercare) -> None:
    csrf = _staff(client, "engineer")
    page = client.get("/kb/new")
    assert page.status_code == 200 and 'name="body"' in page.text
    refused = client.post("/kb/new", data={"csrf": csrf, "title": "", "body": ""})
    assert refused.status_code == 422 and 'id="err-title"' in refused.text and 'id="err-body"' in refused.text
    assert "此项必填" in refused.text and "This field is required" not in refused.text  # the reader's language only
    english = client.post("/kb/new?lang=en", data={"csrf": csrf, "title": "", "body": ""}).text
    assert "This field is required" in english and "此项必填" not in english
    client.get("/kb/new?lang=zh-CN")  # back to Chinese (the choice is remembered)
    assert client.post("/kb/new", data={"title": "x", "body": "y"}).status_code == 403  # no CSRF token
    article = _new(client, csrf)
    page = client.get(f"/kb/{article}")
    assert "系统无法登录" in page.text and "<h2>解决方法</h2>" in page.text and "草稿" in page.text
    client.post(f"/kb/{article}/edit", data={"csrf": csrf, "action": "save", "title": "系统无法登录（修订）",
                                              "body": "清除缓存。", "module": "", "tags": ""})
    assert "系统无法登录（修订）" in client.get(f"/kb/{article}/edit").text
    client.post(f"/kb/{article}/edit", data={"csrf": csrf, "action": "submit", "title": "系统无法登录",
                                              "body": "清除缓存。", "module": "统一认证", "tags": ""})
    assert "等待专家组审核" in client.get(f"/kb/{article}").text
    # an engineer may not review; the page refuses and nothing changes
    assert client.post(f"/kb/{article}/review", data={"csrf": csrf, "decision": "approve"}).status_code == 403
    client.post("/logout", data={"csrf": csrf})

    csrf = _staff(client, "expert")
    refused = client.post(f"/kb/{article}/review", data={"csrf": csrf, "decision": "send_back"})
    assert refused.status_code == 422 and 'id="err-review_comment"' in refused.text
    client.post(f"/kb/{article}/review", data={"csrf": csrf, "decision": "send_back", "review_comment": "补充截图"})
    client.post("/logout", data={"csrf": csrf})
    csrf = _staff(client, "engineer")
    edit = client.get(f"/kb/{article}/edit")
    assert "补充截图" in edit.text  # the comment is shown where the author works
    client.post(f"/kb/{article}/edit", data={"csrf": csrf, "action": "submit", "title": "系统无法登录",
                                              "body": "清除缓存，见截图。", "module": "统一认证", "tags": ""})
    client.post("/logout", data={"csrf": csrf})
    csrf = _staff(client, "expert")
    client.post(f"/kb/{article}/review", data={"csrf": csrf, "decision": "approve"})
    page = client.get(f"/kb/{article}")
    assert "已发布" in page.text and f"http://testserver/kb/{article}" in page.text
    assert client.get(f"/kb/{article}/edit", follow_redirects=False).status_code == 303  # no longer a draft
    moved = client.post(f"/kb/{article}/edit", data={"csrf": csrf, "title": "x", "body": "y"}, follow_redirects=False)
    assert moved.status_code == 303 and "moved=1" in moved.headers["location"]
    # the staff list, filtered by status, with the figures
    listed = client.get("/kb?status=published&q=登录")
    assert "系统无法登录" in listed.text and "阅读次数" in listed.text and "自助解决" in listed.text
    assert client.get("/kb?status=bogus").status_code == 422


def test_written_from_the_resolved_tickets_page(client: TestClient, facade: Aftercare, clock: object) -> None:
    desk = Desk(facade, clock)
    tid = desk.create(title="处方打印错位", description="更新驱动后处方打印错位")
    csrf = _staff(client, "engineer")
    assert "write-kb-article" not in client.get(f"/tickets/{tid}").text  # not resolved yet
    assert client.get(f"/kb/new?ticket={tid}").status_code == 409
    desk.triage(tid, severity=2)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    desk.complete(tid, "engineer_resolution", {"resolution": "调整页边距", "root_cause": "驱动更新",
                                               "module": "处方打印", "fault_type": "ui", "outcome": "resolved"})
    assert f'href="/kb/new?ticket={tid}"' in client.get(f"/tickets/{tid}").text
    form = client.get(f"/kb/new?ticket={tid}").text
    assert "处方打印错位" in form and "调整页边距" in form and "驱动更新" in form and f'value="{tid}"' in form
    article = _new(client, csrf, title="处方打印错位", source_ticket_id=str(tid))
    assert f'href="/tickets/{tid}"' in client.get(f"/kb/{article}").text
    case = facade.kb.get_article(article_id=article, actor=Actor("engineer", "engineer"))["ticket_id"]
    assert f'href="/kb/{article}"' in client.get(f"/tickets/{case}").text
    assert client.get("/kb/new?ticket=abc").status_code == 404
    client.post("/logout", data={"csrf": csrf})
    _staff(client, "service_desk")
    assert client.get("/kb/new").status_code == 403
    assert "write-kb-article" not in client.get(f"/tickets/{tid}").text


def test_customers_see_published_articles_only(client: TestClient, facade: Aftercare) -> None:
    published = _published(client, facade)
    csrf = _staff(client, "engineer")
    draft = _new(client, csrf, title="登录后白屏（草稿）")
    client.post("/logout", data={"csrf": csrf})
    page = client.get("/kb?q=登录")
    assert page.status_code == 200 and "系统无法登录" in page.text and "草稿" not in page.text
    assert f'href="/kb/{published}?from=search"' in page.text
    assert client.get(f"/kb/{draft}").status_code == 404
    assert client.get(f"/kb/articles/{draft}.json").status_code == 404
    assert client.get("/kb/nonsense").status_code == 404 and client.get("/kb/99999999999").status_code == 404
    article = client.get(f"/kb/{published}")
    assert article.status_code == 200 and "清除缓存后重新登录" in article.text
    assert f'data-kb-read="{published}"' in article.text
    assert client.get("/kb/new", follow_redirects=False).status_code == 303  # staff only: to the login page
    assert client.get("/kb/picker.json", follow_redirects=False).status_code == 303
    english = client.get("/kb?lang=en")
    assert "Knowledge base" in english.text and "知识库" not in english.text.split("<main>")[1]
    assert [a["id"] for a in client.get("/kb/suggest.json", params={"q": "登录"}).json()] == [published]
    assert client.get("/kb/suggest.json", params={"q": "登"}).json() == []
    assert client.get(f"/kb/articles/{published}.json").json()["html"].startswith("<p>")


def test_readings_and_deflections_are_counted(client: TestClient, facade: Aftercare, clock: object) -> None:
    article = _published(client, facade)
    assert client.post(f"/kb/{article}/read", json={"visit": VISIT, "source": "suggestion"}).status_code == 204
    assert client.post(f"/kb/{article}/read", json={"visit": "other-visit-0123456789", "source": "search"}
                       ).status_code == 204
    bad = client.post(f"/kb/{article}/read", json={"visit": "<script>", "source": "search"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "visit"
    assert client.post(f"/kb/{article}/read", json={"visit": VISIT, "source": "bot"}).status_code == 422
    assert client.post("/kb/424242/read", json={"visit": VISIT, "source": "search"}).status_code == 404
    assert client.post(f"/kb/{article}/read", content=b"not json").status_code == 422
    facade.kb.mark_filed(visit=VISIT, ticket_id=Desk(facade, clock).create())
    clock.advance(hours=1, minutes=1)  # type: ignore[attr-defined]
    csrf = _staff(client, "manager")
    page = client.get(f"/kb/{article}").text
    assert '<dd id="kb-views">2</dd>' in page and '<dd id="kb-deflections">1</dd>' in page
    assert client.get(f"/kb/{article}?view=customer").text.count("data-kb-read") == 0  # a preview counts nothing
    assert csrf


def test_reply_picker_and_json_api(client: TestClient, facade: Aftercare) -> None:
    article = _published(client, facade)
    _staff(client, "service_desk")
    found = client.get("/kb/picker.json", params={"q": "登录"}).json()
    assert found == [{"id": article, "title": "系统无法登录", "url": f"http://testserver/kb/{article}",
                      "excerpt": "清除缓存后重新登录。"}]
    assert "/static/kb.js" in client.get("/").text  # the staff layout carries the picker's script

    engineer, desk = login(client, "engineer"), login(client, "service_desk")
    created = client.post("/api/kb/articles", headers=engineer,
                          json={"title": "医保结算超时", "body": "重试", "tags": ["医保"]})
    assert created.status_code == 201 and created.json()["number"].startswith("KB-")
    new = created.json()["id"]
    assert client.post("/api/kb/articles", headers=desk, json={"title": "t", "body": "b"}).status_code == 403
    bad = client.post("/api/kb/articles", headers=engineer, json={"title": " ", "body": "b"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "title"
    assert client.post("/api/kb/articles", headers=engineer, json={"title": "t"}).status_code == 422
    updated = client.put(f"/api/kb/articles/{new}?submit=true", headers=engineer,
                         json={"title": "医保结算超时", "body": "稍后重试", "module": "医保"})
    assert updated.status_code == 200 and updated.json()["status"] == "review"
    assert client.put(f"/api/kb/articles/{new}", headers=engineer, json={"title": "x", "body": "y"}).status_code == 409
    listed = client.get("/api/kb/articles", headers=desk, params={"status": "review"}).json()
    assert [a["id"] for a in listed["items"]] == [new] and listed["total"] == 1
    one = client.get(f"/api/kb/articles/{new}", headers=desk).json()
    assert one["html"] == "<p>稍后重试</p>" and one["module"] == "医保" and one["tags"] == []
    assert client.get("/api/kb/articles/999", headers=desk).status_code == 404
    assert client.get(f"/api/kb/articles/{10**20}", headers=desk).status_code == 422  # api/deps.py DbId
    assert client.post("/api/kb/articles", headers=engineer,
                       json={"title": "t", "body": "b", "source_ticket_id": 10**15}).status_code == 422
    assert client.get("/api/kb/articles?page=-3&per_page=100000", headers=desk).status_code == 200
    assert client.get("/api/kb/articles").status_code == 401
    assert "/api/kb/articles" in client.get("/openapi.json").json()["paths"]


def test_demo_articles_are_published_once(client: TestClient, facade: Aftercare) -> None:
    from api.demo_kb import load_demo_articles

    assert load_demo_articles(facade) == 3 and load_demo_articles(facade) == 0
    titles = [a["title"] for a in client.get("/kb/suggest.json", params={"q": "系统登录不了"}).json()]
    assert titles[:1] == ["系统无法登录：提示用户名或密码错误"]


def test_the_review_task_page_shows_the_article(client: TestClient, facade: Aftercare, clock: object) -> None:
    created = facade.kb.create_article(actor=Actor("engineer", "engineer"), title="医保结算超时",
                                       body="## 解决方法\n\n等待 1 分钟后**重新结算**。")
    facade.kb.submit_article(article_id=created["id"], actor=Actor("engineer", "engineer"), title="医保结算超时",
                             body="## 解决方法\n\n等待 1 分钟后**重新结算**。")
    task = Desk(facade, clock).task(created["ticket_id"], "review_article")
    _staff(client, "expert")
    page = client.get(f"/tasks/{task['id']}")
    assert page.status_code == 200 and 'id="kb-task-article"' in page.text
    assert "<strong>重新结算</strong>" in page.text and "批准发布" in page.text


def test_a_published_article_is_revised_on_the_pages_and_through_the_api(client: TestClient, facade: Aftercare) -> None:
    article = _published(client, facade)
    csrf = _staff(client, "engineer")
    page = client.get(f"/kb/{article}").text
    assert f'action="/kb/{article}/revise"' in page and "修订：编写新版本" in page
    started = client.post(f"/kb/{article}/revise", data={"csrf": csrf}, follow_redirects=False)
    assert started.status_code == 303
    revision = int(started.headers["location"].split("/")[2])
    assert started.headers["location"] == f"/kb/{revision}/edit" and revision != article
    assert f"<h1>编辑 #{article} 的修订稿</h1>" in client.get(f"/kb/{revision}/edit").text
    draft = client.get(f"/kb/{revision}").text
    assert "这是一篇文章的修订稿" in draft and f'href="/kb/{article}"' in draft
    original = client.get(f"/kb/{article}").text
    assert "本文的修订稿正在编写或审核中" in original and f'action="/kb/{article}/revise"' not in original
    assert f"#{article} 的修订" in client.get("/kb").text  # told apart from the article in the list
    assert client.post(f"/kb/{article}/revise", data={"csrf": "forged"}).status_code == 403
    client.post(f"/kb/{revision}/edit", data={"csrf": csrf, "action": "submit", "title": "系统无法登录（新版）",
                                               "body": "升级客户端后重新登录。", "module": "统一认证", "tags": "登录"})
    engineer = login(client, "engineer")
    again = client.post(f"/api/kb/articles/{article}/revise", headers=engineer)
    assert again.status_code == 201 and again.json()["id"] == revision and again.json()["existing"] is True
    expert = login(client, "expert")
    case = client.get(f"/api/kb/articles/{revision}", headers=expert).json()["ticket_id"]
    [task] = [t for t in client.get("/api/tasks", params={"ticket_id": case}, headers=expert).json()]
    assert client.post(f"/api/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}},
                       headers=expert).status_code == 200
    public = client.get(f"/kb/articles/{article}.json").json()
    assert public["title"] == "系统无法登录（新版）" and "升级客户端" in public["html"]
    assert client.get(f"/api/kb/articles/{revision}", headers=expert).json()["status"] == "merged"
    merged = client.get("/kb", params={"status": "merged"}).text
    assert f'href="/kb/{revision}"' in merged and '<option value="merged" selected' in merged
    assert client.post(f"/api/kb/articles/{revision}/revise", headers=engineer).status_code == 409
    assert client.post(f"/api/kb/articles/{article}/revise", headers=login(client, "service_desk")).status_code == 403
