"""A customer link that cannot be used (not valid, used, expired, step done, no comments, page too old) is explained
in the reader's language only, though the engine writes each reason once in both ("此链接已使用过。This link …")."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import i18n
from api.timeline import in_language
from engine.clock import FakeClock
from engine.commands import Aftercare
from tests.support import Desk, customer_token

ENGINE = Path(__file__).resolve().parents[2] / "engine"
CJK = re.compile(r"[\u3400-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")


def _link_error_messages() -> list[str]:
    """Every message the engine gives a LinkError, read from the source: a new one is checked without a new test."""
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "LinkError":
                assert isinstance(node.args[1], ast.Constant), f"{path}:{node.lineno}: a message that is not a literal"
                found.append(str(node.args[1].value))
    return found


def test_every_link_error_splits_into_one_language_per_reader() -> None:
    messages = _link_error_messages()
    assert len([m for m in messages if CJK.search(m)]) >= 9  # engine/links.py, services/links.py, portal, ...
    try:
        for message in messages:
            i18n.activate("zh-CN")
            chinese = in_language(message)
            i18n.activate("en")
            english = in_language(message)
            if not CJK.search(message):  # English only (the self-service sign-in: its page words it by reason)
                assert chinese == english == message
                continue
            assert CJK.search(chinese) and not LATIN.search(chinese), message
            assert english[0].isupper() and not CJK.search(english), message
            assert message.startswith(chinese) and message[len(chinese):].strip() == english, message  # nothing lost
    finally:
        i18n.activate(i18n.DEFAULT)


def _alert(page: str) -> str:
    match = re.search(r'<div class="notice bad" role="alert">(.*?)</div>', page, re.S)
    assert match, page
    return match.group(1).strip()


def _only(page: str, expected: str) -> None:
    """The page's notice is `expected`, with nothing of the other language beside it."""
    shown = _alert(page)
    assert shown == expected
    assert not (LATIN if CJK.search(expected) else CJK).search(shown)


def _acceptance(facade: Aftercare, clock: FakeClock) -> tuple[Desk, int, str]:
    desk = Desk(facade, clock)
    tid = desk.create()
    desk.triage(tid, severity=2)
    desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "d"})
    desk.complete(tid, "engineer_resolution", {"resolution": "已修复", "outcome": "resolved"})
    return desk, tid, f"/c/{customer_token(facade, tid)}"


def _survey(facade: Aftercare, clock: FakeClock) -> tuple[Desk, int, str]:
    desk = Desk(facade, clock)
    tid = desk.create()
    desk.triage(tid, category="question")
    desk.complete(tid, "answer_question", {"answer": "请清除浏览器缓存"})
    clock.advance(minutes=1)  # the survey's link is the newest: the acceptance link stays unused
    desk.complete(tid, "customer_acceptance", {"accepted": True}, role="service_desk")
    return desk, tid, f"/c/{customer_token(facade, tid)}"


LANGS = ["zh-CN", "en"]


@pytest.mark.parametrize("lang", LANGS)
def test_a_used_link_says_so_in_one_language(client: TestClient, facade: Aftercare, clock: FakeClock,
                                             lang: str) -> None:
    _, _, path = _acceptance(facade, clock)
    assert client.post(path, data={"accepted": "true"}).status_code == 200
    again = client.post(f"{path}?lang={lang}", data={"accepted": "false", "reason": "x"})
    assert again.status_code == 410
    _only(again.text, {"zh-CN": "此链接已使用过。", "en": "This link has already been used."}[lang])


@pytest.mark.parametrize("lang", LANGS)
def test_a_link_not_valid_or_expired_says_so_in_one_language(client: TestClient, facade: Aftercare,
                                                             clock: FakeClock, lang: str) -> None:
    _, _, path = _acceptance(facade, clock)
    invalid = {"zh-CN": "此链接无效，可能被误输入或篡改。",
               "en": "This link is not valid. It may have been mistyped or altered."}[lang]
    for wrong in (path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb"), "/c/garbage"):
        page = client.get(f"{wrong}?lang={lang}")
        assert page.status_code == 404
        _only(page.text, invalid)
    clock.advance(days=30)
    expired = client.get(f"{path}?lang={lang}")
    assert expired.status_code == 410
    _only(expired.text, {"zh-CN": "此链接已过期，请联系服务台。",
                         "en": "This link has expired. Please contact the service desk."}[lang])
    # not a dead end: the customer's own tickets, the portal and the other language are a click away
    assert 'href="/my"' in expired.text and 'href="/portal"' in expired.text
    assert ('href="?lang=zh-CN">中文' if lang == "en" else 'href="?lang=en">English') in expired.text


@pytest.mark.parametrize("lang", LANGS)
def test_a_step_done_by_staff_says_so_in_one_language(client: TestClient, facade: Aftercare, clock: FakeClock,
                                                      lang: str) -> None:
    desk, tid, path = _acceptance(facade, clock)
    desk.complete(tid, "customer_acceptance", {"accepted": True}, role="service_desk")  # the customer phoned
    page = client.get(f"{path}?lang={lang}")
    assert page.status_code == 409
    _only(page.text, {"zh-CN": "此步骤已完成，无需再次操作。",
                      "en": "This step is already done; nothing more is needed from this link."}[lang])


@pytest.mark.parametrize("lang", LANGS)
def test_survey_comments_and_a_stale_survey_page_speak_one_language(client: TestClient, facade: Aftercare,
                                                                    clock: FakeClock, lang: str) -> None:
    _, _, acceptance = _acceptance(facade, clock)
    no_comments = client.post(f"{acceptance}/comment?lang={lang}", data={"comment": "hello"})
    _only(no_comments.text, {"zh-CN": "此链接不能用于留言。", "en": "This link does not take comments."}[lang])
    desk, tid, survey = _survey(facade, clock)
    stale = client.post(f"{survey}?lang={lang}", data={"score": "4", "key": "1.forged"})
    assert stale.status_code == 409 and desk.ticket(tid)["survey_score"] is None
    _only(stale.text, {"zh-CN": "此页面已过期，请重新打开邮件中的链接。",
                       "en": "This page has expired; please open the link in the e-mail again."}[lang])
    key = re.search(r'name="key" value="([^"]+)"', stale.text).group(1)
    assert client.post(survey, data={"score": "4", "key": key}).status_code == 200
    assert client.post(f"{survey}/comment", data={"comment": "响应很快"}).status_code == 200
    twice = client.post(f"{survey}/comment?lang={lang}", data={"comment": "again"})
    assert twice.status_code == 410
    _only(twice.text, {"zh-CN": "您已留言，谢谢！", "en": "You have already left a comment, thank you!"}[lang])


def test_a_link_that_names_nothing_speaks_the_browsers_language(client: TestClient) -> None:
    english = client.get("/c/garbage.x", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert english.status_code == 404
    _only(english.text, "This link is not valid. It may have been mistyped or altered.")
    chinese = client.get("/c/garbage.x", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    _only(chinese.text, "此链接无效，可能被误输入或篡改。")
