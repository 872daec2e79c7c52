"""A customer on a phone finds a knowledge-base article in the portal while typing a request's title, reads it in
place with the keyboard, and the desk sees the reading (and, an hour later, the deflection); staff insert an
article's link into a reply box. Real Chromium, real app."""
from __future__ import annotations

import time

from playwright.sync_api import Browser, Page, expect

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.users import Actor
from tests.browser.conftest import login
from tests.support import Desk

ENGINEER, DESK = Actor("engineer", "engineer"), Actor("service_desk", "service_desk")


def _publish(facade: Aftercare, clock: FakeClock, title: str, body: str, module: str = "统一认证") -> int:
    created = facade.kb.create_article(actor=ENGINEER, title=title, body=body, module=module)
    facade.kb.submit_article(article_id=created["id"], actor=ENGINEER, title=title, body=body, module=module)
    Desk(facade, clock).complete(created["ticket_id"], "review_article", {"decision": "approve"})
    return int(created["id"])


def _views(facade: Aftercare, article: int) -> tuple[int, int]:
    found = facade.kb.get_article(article_id=article, actor=DESK)
    return found["views"], found["deflections"]


def test_customer_finds_an_article_while_typing_on_a_phone(browser: Browser, live_url: str, facade: Aftercare,
                                                           clock: FakeClock) -> None:
    article = _publish(facade, clock, "系统无法登录", "## 解决方法\n\n1. 清除浏览器缓存\n2. 重新打开登录页面\n\n"
                       "<script>document.title='pwned'</script>")
    _publish(facade, clock, "打印机卡纸", "打开前盖，取出纸张。", module="处方打印")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                  has_touch=True)
    try:
        phone = context.new_page()
        phone.goto(f"{live_url}/portal")
        phone.locator("#title").tap()
        phone.keyboard.type("系统登录不了", delay=40)  # typed like a person: one debounced lookup at the end
        suggestions = phone.locator("#kb-suggestions .kb-suggest")
        expect(suggestions.get_by_role("heading", name="这些文章也许能解决您的问题")).to_be_visible()
        first = suggestions.get_by_role("button", name="系统无法登录")
        expect(first).to_be_visible()
        expect(suggestions.get_by_role("button")).to_have_count(1)  # the printer article does not match

        phone.keyboard.press("ArrowDown")  # from the title to the first suggestion, then open it with Enter
        expect(first).to_be_focused()
        phone.keyboard.press("Enter")
        reader = suggestions.locator(".kb-reader")
        expect(reader.get_by_role("heading", name="系统无法登录")).to_be_visible()
        expect(reader).to_contain_text("清除浏览器缓存")
        expect(first).to_have_attribute("aria-expanded", "true")
        assert phone.title() != "pwned" and reader.locator("script").count() == 0
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the portal is {width} px wide on a 390 px phone"

        visit = phone.locator("#portal-form input[name=kb_visit]").input_value()
        assert len(visit) >= 16  # sent with the request, should the customer still file one
        expect(phone.locator("#title")).to_have_value("系统登录不了")  # reading kept what was typed
        deadline = time.monotonic() + 10
        while _views(facade, article) != (1, 0) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _views(facade, article) == (1, 0)
        reader.get_by_role("button", name="关闭").click()
        expect(first).to_be_focused()
        first.press("Enter")  # read again in the same visit: still one reading
        expect(reader.get_by_role("heading", name="系统无法登录")).to_be_visible()
    finally:
        context.close()
    clock.advance(hours=1, minutes=5)  # the customer left without filing a request
    assert _views(facade, article) == (1, 1)


def test_customer_searches_the_knowledge_base_on_a_phone(browser: Browser, live_url: str, facade: Aftercare,
                                                         clock: FakeClock) -> None:
    article = _publish(facade, clock, "系统无法登录", "清除浏览器缓存后重新登录。")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    try:
        phone = context.new_page()
        phone.goto(f"{live_url}/kb")
        phone.get_by_role("searchbox", name="搜索文章").fill("登录")
        phone.get_by_role("button", name="搜索").click()
        phone.get_by_role("link", name="系统无法登录").click()
        phone.wait_for_url(f"{live_url}/kb/{article}?from=search")
        expect(phone.get_by_role("heading", name="系统无法登录")).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        deadline = time.monotonic() + 10
        while _views(facade, article)[0] != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _views(facade, article)[0] == 1
    finally:
        context.close()


def test_staff_insert_an_article_link_into_a_textarea(page: Page, live_url: str, facade: Aftercare,
                                                      clock: FakeClock) -> None:
    article = _publish(facade, clock, "系统无法登录", "清除浏览器缓存后重新登录。")
    login(page, live_url, "service_desk")
    page.goto(f"{live_url}/kb")
    # any textarea marked data-kb-picker gets the control (part of the reply box on the ticket page)
    page.evaluate("""() => {
        const area = document.createElement('textarea'); area.id = 'reply'; area.setAttribute('data-kb-picker', '');
        area.value = '您好，请参考：'; document.querySelector('main').appendChild(area);
        const s = document.createElement('script'); s.src = '/static/kb.js'; document.body.appendChild(s);
    }""")
    page.get_by_role("button", name="插入知识库文章链接").click()
    search = page.get_by_role("searchbox", name="搜索已发布的文章")
    expect(search).to_be_focused()
    search.fill("登录")
    choice = page.get_by_role("button", name=f"系统无法登录 {live_url}/kb/{article}")
    expect(choice).to_be_visible()
    search.press("ArrowDown")
    expect(choice).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#reply")).to_have_value(f"您好，请参考：\n系统无法登录 — {live_url}/kb/{article}")
    expect(page.locator("#reply")).to_be_focused()


def test_an_article_being_read_stays_open_when_later_suggestions_still_list_it(
        browser: Browser, live_url: str, facade: Aftercare, clock: FakeClock) -> None:
    _publish(facade, clock, "系统无法登录", "清除浏览器缓存后重新登录。")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    try:
        phone = context.new_page()
        phone.goto(f"{live_url}/portal")
        title = phone.locator("#title")
        title.fill("系统登录")  # a pause in typing: the suggestions for these words
        suggestions = phone.locator("#kb-suggestions .kb-suggest")
        suggestions.get_by_role("button", name="系统无法登录").click()
        reader = suggestions.locator(".kb-reader")
        expect(reader.get_by_role("heading", name="系统无法登录")).to_be_visible()
        with phone.expect_response(lambda r: "suggest.json" in r.url and "%E4%BA%86" in r.url):  # ...不了
            title.press("End")
            title.type("不了")  # the customer types on: a later lookup answers while the article is open
        expect(suggestions.get_by_role("button", name="系统无法登录")).to_have_attribute("aria-expanded", "true")
        expect(reader.get_by_role("heading", name="系统无法登录")).to_be_visible()
        reader.get_by_role("button", name="关闭").click()
        expect(reader).to_have_count(0)
        expect(suggestions.get_by_role("button", name="系统无法登录")).to_have_attribute("aria-expanded", "false")
        expect(suggestions.get_by_role("button", name="系统无法登录")).to_be_focused()
    finally:
        context.close()
