"""Demo knowledge-base articles (知识库), published through the kb_article procedure like any other, so the portal
suggests them while a request's title is typed (try 系统登录不了 on /portal)."""
from __future__ import annotations

from engine.commands import Aftercare
from engine.users import Actor

ENGINEER, EXPERT = Actor("engineer", "engineer"), Actor("expert", "expert")
ARTICLES = (
    ("系统无法登录：提示用户名或密码错误", "统一认证", ["登录", "密码"],
     "## 问题现象\n\n登录时提示“用户名或密码错误”，但密码确认无误。\n\n"
     "## 原因\n\n浏览器保存了旧密码，或连续输错 5 次后账号被锁定 30 分钟。\n\n"
     "## 解决方法\n\n1. 清除浏览器保存的密码和缓存后重新输入；\n2. 如提示账号已锁定，30 分钟后再试；\n"
     "3. 仍无法登录，请联系本单位系统管理员重置密码。"),
    ("处方打印页边距错位", "处方打印", ["打印"],
     "## 问题现象\n\n打印机驱动更新后，处方内容偏出纸张边缘。\n\n"
     "## 解决方法\n\n1. 打开“打印设置 → 页边距”，选择“恢复默认”；\n2. 纸张类型选 A5；\n3. 重新打印一张测试页。"),
    ("医保结算返回超时", "医保接口", ["医保", "超时"],
     "## 问题现象\n\n医保结算时提示“接口超时”，几分钟后自动恢复。\n\n"
     "## 原因\n\n医保中心接口在高峰时段偶发延迟。\n\n"
     "## 解决方法\n\n等待 1 分钟后重新结算；不要重复点击“结算”。连续 10 分钟失败请报修并注明时间。"),
)


def load_demo_articles(facade: Aftercare) -> int:
    """Publish the demo articles once (nothing when the knowledge base has articles); the number published."""
    if facade.kb.list_articles(actor=EXPERT, per_page=1)["total"]:
        return 0
    for title, module, tags, body in ARTICLES:
        created = facade.kb.create_article(actor=ENGINEER, title=title, body=body, module=module, tags=tags)
        facade.kb.submit_article(article_id=created["id"], actor=ENGINEER, title=title, body=body, module=module,
                                 tags=tags)
        facade.kb.review_article(article_id=created["id"], actor=EXPERT, decision="approve")
    return len(ARTICLES)
