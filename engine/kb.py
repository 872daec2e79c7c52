"""The knowledge base (知识库): articles in Markdown rendered to safe HTML, their search (Chinese substrings on
SQLite and PostgreSQL alike), the readings customers make in the portal and what the review case writes back.

Counting. Every reading of a published article in the portal is a `KbView` carrying the portal visit's random key.
When a request is filed in that visit, `mark_filed` marks the visit's readings with the new ticket. A portal reading
(search or suggestion) counts as a deflection once it is an hour old (`DEFLECTION_AFTER`) and its visit filed no
request: the customer read, and did not need to ask. The figures are computed when shown, from the readings;
`KbArticle.views` and `.deflections` keep the values as of the article's last reading or filed request.
Readings from a link in a reply (`source="link"`) count as views, never as deflections: that customer already has
a ticket.
"""
from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

import nh3
from markdown_it import MarkdownIt
from sqlalchemy import ColumnElement, String, and_, case, cast, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from . import clock, figures
from .contacts import KB_CUSTOMER  # review cases belong to no customer; the ticket table needs one
from .models import Customer, HumanTask, KbArticle, KbView, Ticket, TimelineEvent
from .queries import iso

KB_PROCESS = "kb_article"
KB_CATEGORY = figures.KB_CATEGORY  # the review cases' tickets: no service ticket, in no figure
KB_PREFIX = "KB"
DRAFT_FORM, REVIEW_FORM = "kb_draft.json", "kb_review.json"
DRAFT_STEP, REVIEW_STEP = "draft_article", "review_article"
STATUSES = ("draft", "review", "published", "retired", "merged")  # merged: an approved revision (its text moved)
OPEN_REVISION = ("draft", "review")
LISTED = ("draft", "review", "published", "retired")  # the staff list without a status: merged revisions left out
PORTAL_SOURCES = ("search", "suggestion")
SOURCES = (*PORTAL_SOURCES, "link")
DEFLECTION_AFTER = timedelta(hours=1)
RESOLUTION_STEPS = ("engineer_resolution", "expert_resolution", "fault_resolution", "answer_question",
                    "implement_change")
MAX_TITLE, MAX_BODY, MAX_MODULE, MAX_TAGS, MAX_TAG = 300, 50_000, 100, 10, 40
MAX_QUERY, MAX_TERMS = 100, 5
VISIT = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

_markdown = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])
_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre", "blockquote",
         "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "img"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"},
               "th": {"style"}, "td": {"style"}}


def render(markdown: str) -> str:
    """An article's Markdown as HTML safe to put in a page: no raw HTML, no scripts, links only to http(s)/mailto."""
    html = _markdown.render(markdown or "")
    return nh3.clean(html.strip(), tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow", filter_style_properties={"text-align"})


def excerpt(markdown: str, length: int = 160) -> str:
    """The first words of an article as plain text (search results, suggestions)."""
    text = re.sub(r"[#>*_`~|\[\]()!-]+", " ", markdown or "")
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= length else text[:length].rstrip() + "…"


def clean_tags(value: Any) -> list[str]:
    """Tags from a list or a comma/、/whitespace separated text: trimmed, each once, at most MAX_TAGS."""
    parts = value if isinstance(value, list) else re.split(r"[,，、;；\n]+", str(value or ""))
    out: dict[str, None] = {}
    for part in parts:
        tag = unicodedata.normalize("NFKC", str(part)).strip()[:MAX_TAG]
        if tag:
            out[tag] = None
    return list(out)[:MAX_TAGS]


# --- search ------------------------------------------------------------------------------------------------------


def terms(query: str | None) -> list[str]:
    """The words of a search, lower-cased: every one must occur somewhere in the article."""
    text = unicodedata.normalize("NFKC", query or "").strip().lower()[:MAX_QUERY]
    return [t for t in text.split() if t][:MAX_TERMS]


def matches(words: list[str]) -> ColumnElement[bool]:
    """Articles holding every word as a substring of title, body, module or a tag (LIKE, escaped; the same on
    SQLite and PostgreSQL: Chinese needs no tokenizer this way, and the table is small)."""
    conditions = []
    for word in words:
        as_json = json.dumps(word)[1:-1]  # tags are stored as JSON, non-ASCII escaped
        conditions.append(or_(func.lower(KbArticle.title).contains(word, autoescape=True),
                              func.lower(KbArticle.body).contains(word, autoescape=True),
                              func.lower(func.coalesce(KbArticle.module, "")).contains(word, autoescape=True),
                              func.lower(cast(KbArticle.tags, String)).contains(as_json, autoescape=True)))
    return and_(True, *conditions)


def search(session: Session, query: str | None, *, statuses: tuple[str, ...] | None = None, limit: int = 20,
           offset: int = 0) -> tuple[list[KbArticle], int]:
    """Articles matching `query` (all when empty) in `statuses`, title matches first, then most read; and the total."""
    words = terms(query)
    condition = matches(words)
    if statuses is not None:
        condition = and_(condition, KbArticle.status.in_(statuses))
    total = session.scalar(select(func.count()).select_from(KbArticle).where(condition)) or 0
    in_title = and_(True, *(func.lower(KbArticle.title).contains(w, autoescape=True) for w in words))
    order = [case((in_title, 0), else_=1), KbArticle.views.desc(), KbArticle.id.desc()] if words else \
        [KbArticle.updated_at.desc(), KbArticle.id.desc()]
    rows = session.scalars(select(KbArticle).where(condition).order_by(*order).limit(limit).offset(offset)).all()
    return list(rows), int(total)


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")


def suggestion_terms(query: str | None) -> list[str]:
    """What a request's title is matched on when it is not found whole: its words, and for Chinese (written without
    spaces: 系统登录不了) the character pairs of each run (系统 统登 登录 录不 不了), of which a title holds some."""
    out: dict[str, None] = {}
    for word in terms(query):
        runs = _CJK.findall(word)
        if not runs and len(word) >= 2:
            out[word] = None
        for run in runs:
            for i in range(len(run) - 1):
                out[run[i:i + 2]] = None
    return list(out)[:30]


def suggest(session: Session, query: str | None, limit: int = 5) -> list[KbArticle]:
    """Published articles for what a customer is typing: those holding every word first; otherwise those holding
    the most of its words and character pairs (title matches count double), most read first."""
    if len((query or "").strip()) < 2:
        return []
    found, _ = search(session, query, statuses=("published",), limit=limit)
    if found:
        return found
    words = suggestion_terms(query)
    if not words:
        return []
    candidates = session.scalars(select(KbArticle).where(
        KbArticle.status == "published", or_(*(matches([w]) for w in words))).limit(200)).all()

    def score(article: KbArticle) -> tuple[int, int, int]:
        title = article.title.lower()
        text = " ".join([article.body, article.module or "", *(article.tags or [])]).lower()
        points = sum(2 if w in title else 1 if w in text else 0 for w in words)
        return (-points, -article.views, -article.id)

    return sorted(candidates, key=score)[:limit]


# --- readings ----------------------------------------------------------------------------------------------------


def valid_visit(visit: str | None) -> bool:
    """Whether `visit` looks like a portal visit key (random, URL-safe, 16-64 characters)."""
    return bool(visit) and bool(VISIT.match(str(visit)))


def record_view(session: Session, article: KbArticle, *, visit: str, source: str, now: datetime) -> KbView:
    """One reading of a published article by a customer."""
    view = KbView(article_id=article.id, visit=visit, source=source if source in SOURCES else "search", at=now)
    session.add(view)
    session.flush()
    _refresh_counts(session, [article.id], now)
    return view


def mark_filed(session: Session, visit: str, ticket_id: int) -> int:
    """Mark the readings of portal visit `visit` as followed by request `ticket_id` (the portal calls this when it
    files a request in a visit that read articles); the number of readings marked. Unknown or malformed visits
    mark nothing. Runs in the caller's unit of work."""
    if not valid_visit(visit):
        return 0
    article_ids = list(session.scalars(select(KbView.article_id).where(
        KbView.visit == visit, KbView.filed_ticket_id.is_(None)).distinct()))
    if not article_ids:
        return 0
    result = session.execute(update(KbView).where(KbView.visit == visit, KbView.filed_ticket_id.is_(None))
                             .values(filed_ticket_id=ticket_id).execution_options(synchronize_session=False))
    _refresh_counts(session, article_ids, clock.now())
    return int(getattr(result, "rowcount", 0) or 0)


def counts(session: Session, article_ids: list[int], now: datetime) -> dict[int, dict[str, int]]:
    """{article id: {"views", "deflections", "filed"}} as of `now`: readings; portal readings at least an hour old
    whose visit filed no request; readings whose visit went on to file one."""
    if not article_ids:
        return {}
    other = aliased(KbView)
    visit_filed = exists().where(other.visit == KbView.visit, other.filed_ticket_id.is_not(None))
    deflected = and_(KbView.source.in_(PORTAL_SOURCES), KbView.at <= now - DEFLECTION_AFTER, ~visit_filed)
    rows = session.execute(select(KbView.article_id, func.count(),
                                  func.sum(case((deflected, 1), else_=0)),
                                  func.sum(case((visit_filed, 1), else_=0)))
                           .where(KbView.article_id.in_(article_ids)).group_by(KbView.article_id)).all()
    found = {int(a): {"views": int(v), "deflections": int(d or 0), "filed": int(f or 0)} for a, v, d, f in rows}
    return {a: found.get(a, {"views": 0, "deflections": 0, "filed": 0}) for a in article_ids}


def _refresh_counts(session: Session, article_ids: list[int], now: datetime) -> None:
    for article_id, figure in counts(session, article_ids, now).items():
        session.execute(update(KbArticle).where(KbArticle.id == article_id).values(
            views=figure["views"], deflections=figure["deflections"]).execution_options(synchronize_session=False))


# --- the review case ---------------------------------------------------------------------------------------------


def kb_customer(session: Session, now: datetime) -> Customer:
    """The customer the review cases' tickets belong to (created on first use)."""
    found = session.scalar(select(Customer).where(Customer.name == KB_CUSTOMER))
    if found is None:
        found = Customer(name=KB_CUSTOMER, tier="standard", email=None, language="zh-CN", domains=[], created_at=now)
        session.add(found)
        session.flush()
    return found


def article_of_case(session: Session, ticket_id: int | None) -> KbArticle | None:
    """The article a review case (ticket) is about."""
    if ticket_id is None:
        return None
    return session.scalar(select(KbArticle).where(KbArticle.ticket_id == ticket_id))


def project_article(session: Session, ticket: Ticket, data: dict[str, Any], now: datetime, actor: str) -> None:
    """Copy what the review case decided into its article: the draft as submitted, the review, publication."""
    article = article_of_case(session, ticket.id)
    if article is None:
        return
    status = data.get("kb_status")
    if data.get("kb_submitted"):
        for name, limit in (("title", MAX_TITLE), ("body", MAX_BODY)):
            value = data.get("article_" + name)
            if isinstance(value, str) and value.strip():
                setattr(article, name, value.strip()[:limit])
        module = data.get("article_module")
        article.module = (str(module).strip()[:MAX_MODULE] or None) if module is not None else article.module
        article.tags = clean_tags(data.get("article_tags", article.tags))
    if status in STATUSES and status != article.status:
        if status == "published":
            article.published_at = now
            article.reviewed_by = str(data.get("reviewed_by") or actor)[:100]
        elif status == "draft" and article.status == "review":
            article.reviewed_by = str(data.get("reviewed_by") or actor)[:100]
        article.status = status
        article.updated_at = now
        if status == "published" and article.revises_id is not None:
            _merge(session, article, now)


def _merge(session: Session, revision: KbArticle, now: datetime) -> None:
    """An approved revision: its text becomes the revised article's at the same address with its figures, and the
    revision is kept as "merged" (who wrote and approved it, and when). The article is published: again, if it
    was retired when the revision began; but one retired while the revision was written stays retired (whoever
    retired it meant it), with the new text for when it is published again."""
    original = session.get(KbArticle, revision.revises_id, with_for_update=True, populate_existing=True)
    if original is None:
        return
    original.title, original.body, original.module = revision.title, revision.body, revision.module
    original.tags = list(revision.tags or [])
    retired_meanwhile = original.status == "retired" and revision.revised_status == "published"
    original.status = "retired" if retired_meanwhile else "published"
    original.reviewed_by, original.updated_at = revision.reviewed_by, now
    original.published_at = original.published_at or now
    revision.status = "merged"


def form_prefill(session: Session, row: HumanTask) -> dict[str, Any]:
    """The draft step's form starts from the article as it stands (edited in the knowledge base or not)."""
    if row.form_key != DRAFT_FORM:
        return {}
    article = article_of_case(session, row.ticket_id)
    if article is None:
        return {}
    return {"article_title": article.title, "article_body": article.body, "article_module": article.module or "",
            "article_tags": "、".join(article.tags or [])}


def review_comments(session: Session, ticket_id: int | None) -> list[dict[str, Any]]:
    """The experts' decisions on an article, oldest first (send-back comments shown to the author)."""
    if ticket_id is None:
        return []
    out = []
    for event in session.scalars(select(TimelineEvent).where(
            TimelineEvent.ticket_id == ticket_id, TimelineEvent.kind == "task_completed").order_by(TimelineEvent.id)):
        data = event.data or {}
        if data.get("task") == REVIEW_STEP:
            answer = data.get("data") or {}
            out.append({"at": iso(event.at), "by": event.actor, "decision": answer.get("decision"),
                        "comment": answer.get("review_comment") or ""})
    return out


# --- from a resolved ticket --------------------------------------------------------------------------------------


def can_write_from(ticket: Ticket) -> bool:
    """Whether an article may be written from `ticket`: a service ticket that was resolved or closed."""
    return ticket.category not in (KB_CATEGORY, "monthly_report") and (
        ticket.resolved_at is not None or ticket.closed_at is not None or ticket.status in ("closed", "archived"))


def draft_from_ticket(session: Session, ticket: Ticket, language: str = "zh-CN") -> dict[str, Any]:
    """An article's first draft from a resolved ticket: its title, the problem from its description, the root cause
    and the resolution from the completed resolution forms (latest wins), module and fault type as tags."""
    found: dict[str, Any] = {}
    for event in session.scalars(select(TimelineEvent).where(
            TimelineEvent.ticket_id == ticket.id, TimelineEvent.kind == "task_completed").order_by(TimelineEvent.id)):
        data = event.data or {}
        if data.get("task") in RESOLUTION_STEPS:
            found.update({k: v for k, v in (data.get("data") or {}).items() if v not in (None, "")})
    en = language == "en"
    sections = [("Problem" if en else "问题现象", ticket.description),
                ("Cause" if en else "原因", found.get("root_cause")),
                ("Solution" if en else "解决方法", found.get("resolution") or found.get("answer")),
                ("Prevention" if en else "预防措施", found.get("preventive_action"))]
    body = "\n\n".join(f"## {head}\n\n{str(text).strip()}" for head, text in sections if text and str(text).strip())
    tags = clean_tags([found.get("fault_type") or ""])
    return {"title": ticket.title[:MAX_TITLE], "body": body[:MAX_BODY],
            "module": str(found.get("module") or "")[:MAX_MODULE], "tags": tags, "source_ticket_id": ticket.id,
            "source_number": ticket.number}


def article_dict(article: KbArticle, figures: dict[str, int] | None = None, *, html: bool = True) -> dict[str, Any]:
    """An article as staff read it."""
    out = {"id": article.id, "title": article.title, "body": article.body, "module": article.module,
           "tags": list(article.tags or []), "status": article.status, "author": article.author,
           "reviewed_by": article.reviewed_by, "source_ticket_id": article.source_ticket_id,
           "revises_id": article.revises_id,
           "ticket_id": article.ticket_id, "published_at": iso(article.published_at),
           "created_at": iso(article.created_at), "updated_at": iso(article.updated_at),
           "views": (figures or {}).get("views", article.views),
           "deflections": (figures or {}).get("deflections", article.deflections),
           "excerpt": excerpt(article.body)}
    if html:
        out["html"] = render(article.body)
    return out


def public_dict(article: KbArticle, *, html: bool = True) -> dict[str, Any]:
    """A published article as customers read it (no author, no figures, no review)."""
    out = {"id": article.id, "title": article.title, "module": article.module, "tags": list(article.tags or []),
           "published_at": iso(article.published_at), "updated_at": iso(article.updated_at),
           "excerpt": excerpt(article.body)}
    if html:
        out["html"] = render(article.body)
    return out
