"""The knowledge base (知识库): staff write articles (from a resolved ticket or from scratch), the kb_article
procedure reviews and publishes them, customers search and read the published ones in the portal."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import kb, repository
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import HumanTask, KbArticle, Ticket
from ..users import Actor, may_work_on
from .base import Service

WRITERS = ("engineer", "expert", "admin")  # write and edit drafts
RETIRERS = ("expert", "manager", "admin")  # take a published article back from customers
REVISABLE = ("published", "retired")  # a writer starts a revision of these
PER_PAGE = 50


class KbService(Service):
    """Articles: write, review through the kb_article case, search, read, count."""

    # --- staff ---------------------------------------------------------------------------------------------------

    def list_articles(self, *, actor: Actor, q: str = "", status: str = "", page: int = 1,
                      per_page: int = PER_PAGE) -> dict[str, Any]:
        """Articles of every status for staff (`status` narrows), matching `q`, with views and deflections."""
        _staff(actor)
        if status and status not in kb.STATUSES:
            raise ValidationFailed("unknown status", [{"field": "status",
                                                       "message": f"one of {', '.join(kb.STATUSES)}"}])
        page, per_page = max(1, min(page, 100_000)), max(1, min(per_page, 200))
        with self.uow(write=False) as session:
            rows, total = kb.search(session, q, statuses=(status,) if status else kb.LISTED, limit=per_page,
                                    offset=(page - 1) * per_page)
            figures = kb.counts(session, [a.id for a in rows], self.clock.now())
            items = [kb.article_dict(a, figures[a.id], html=False) for a in rows]
            return {"items": items, "total": total, "page": page, "per_page": per_page}

    def get_article(self, *, article_id: int, actor: Actor) -> dict[str, Any]:
        """One article as staff see it: any status, with its figures, review comments and what `actor` may do."""
        _staff(actor)
        with self.uow(write=False) as session:
            article = _article(session, article_id)
            out = kb.article_dict(article, kb.counts(session, [article.id], self.clock.now())[article.id])
            task = _open_task(session, article)
            source = session.get(Ticket, article.source_ticket_id) if article.source_ticket_id else None
            case = session.get(Ticket, article.ticket_id) if article.ticket_id else None
            revision = _open_revision(session, article.id) if article.status in REVISABLE else None
            revised = session.get(KbArticle, article.revises_id) if article.revises_id else None
            return {**out, "reviews": kb.review_comments(session, article.ticket_id),
                    "revises": {"id": revised.id, "title": revised.title, "status": revised.status,
                                "retired_meanwhile": revised.status == "retired"
                                and article.revised_status == "published"} if revised else None,
                    "open_revision": revision.id if revision else None,
                    "can_revise": article.status in REVISABLE and actor.role in WRITERS,
                    "source_ticket": {"id": source.id, "number": source.number, "title": source.title}
                    if source else None, "case_number": case.number if case else None,
                    "task_id": task.id if task else None,
                    "can_edit": article.status == "draft" and actor.role in WRITERS,
                    "can_review": article.status == "review" and task is not None
                    and may_work_on(actor.role, task.role),
                    "can_retire": article.status == "published" and actor.role in RETIRERS}

    def ticket_draft(self, *, ticket_id: int, actor: Actor, language: str = "zh-CN") -> dict[str, Any]:
        """A first draft from a resolved or closed ticket (title, problem, cause, solution, module, tags)."""
        _writer(actor)
        with self.uow(write=False) as session:
            ticket = session.get(Ticket, ticket_id) if _fits(ticket_id) else None
            if ticket is None:
                raise NotFound("no such ticket", ticket_id=ticket_id)
            if not kb.can_write_from(ticket):
                raise Conflict("an article is written from a resolved or closed ticket", ticket_id=ticket_id)
            return kb.draft_from_ticket(session, ticket, language)

    def create_article(self, *, actor: Actor, title: str, body: str, module: str = "", tags: Any = "",
                       source_ticket_id: int | None = None) -> dict[str, Any]:
        """A new draft and its review case (ticket prefix KB); the engineer's draft step is its first task."""
        _writer(actor)
        fields = _fields(title, body, module, tags)
        with self.uow() as session:
            if source_ticket_id is not None:
                source = session.get(Ticket, source_ticket_id) if _fits(source_ticket_id) else None
                if source is None or not kb.can_write_from(source):
                    raise ValidationFailed("not a resolved ticket", [{
                        "field": "source_ticket_id",
                        "message": "只能从已解决或已关闭的工单编写文章 "
                                   "Articles are written from resolved or closed tickets"}])
            return self._start(session, fields, actor, source_ticket_id=source_ticket_id)

    def revise_article(self, *, article_id: int, actor: Actor) -> dict[str, Any]:
        """A revision of a published or retired article: a draft of the article's text with a review case of its own
        (engine/kb.py: approved, its text replaces the article's at the same address). While one is open, asking
        again gives that one (`existing`), so two writers never revise the same article apart."""
        _writer(actor)
        with self.uow() as session:
            original = _article(session, article_id, for_update=True)  # two revise requests queue here
            if original.status not in REVISABLE:
                raise Conflict("only a published or retired article can be revised", article_id=article_id,
                               status=original.status)
            revision = _open_revision(session, original.id)
            if revision is not None:
                case = session.get(Ticket, revision.ticket_id) if revision.ticket_id else None
                return {"id": revision.id, "ticket_id": revision.ticket_id, "number": case.number if case else None,
                        "status": revision.status, "revises_id": original.id, "existing": True}
            fields = {"title": original.title, "body": original.body, "module": original.module,
                      "tags": list(original.tags or [])}
            started = self._start(session, fields, actor, source_ticket_id=original.source_ticket_id,
                                  revises=original)
            return {**started, "revises_id": original.id, "existing": False}

    def _start(self, session: Session, fields: dict[str, Any], actor: Actor, *, source_ticket_id: int | None,
               revises: KbArticle | None = None) -> dict[str, Any]:
        """Add a draft (a revision of `revises`, if given) and start its review case (ticket prefix KB) in the
        caller's unit of work."""
        now = self.clock.now()
        revises_id = revises.id if revises is not None else None
        article = KbArticle(**fields, status="draft", source_ticket_id=source_ticket_id, author=actor.name[:100],
                            revises_id=revises_id, revised_status=revises.status if revises is not None else None,
                            views=0, deflections=0, created_at=now, updated_at=now)
        session.add(article)
        session.flush()
        what = f"知识库文章 #{revises_id} 的修订 Revision of article #{revises_id}" if revises_id else \
            f"知识库文章 #{article.id} Knowledge-base article #{article.id}"
        ticket = self.kernel.start_case(
            session, process_id=kb.KB_PROCESS, customer=kb.kb_customer(session, now), contact_name=actor.name,
            contact_email="", channel=kb.KB_CATEGORY, title=f"知识库文章 KB · {fields['title']}"[:300],
            description=what, actor=actor, prefix=kb.KB_PREFIX, extra={"article_id": article.id})
        article.ticket_id = ticket.id
        return {"id": article.id, "ticket_id": ticket.id, "number": ticket.number, "status": article.status}

    def update_article(self, *, article_id: int, actor: Actor, title: str, body: str, module: str = "",
                       tags: Any = "") -> dict[str, Any]:
        """Save a draft without submitting it."""
        _writer(actor)
        fields = _fields(title, body, module, tags)
        with self.uow() as session:
            article = self._locked_draft(session, article_id)
            for name, value in fields.items():
                setattr(article, name, value)
            article.updated_at = self.clock.now()
            return {"id": article.id, "status": article.status}

    def submit_article(self, *, article_id: int, actor: Actor, title: str, body: str, module: str = "",
                       tags: Any = "") -> dict[str, Any]:
        """Save a draft and complete its draft step: the expert team gets it to review."""
        _writer(actor)
        fields = _fields(title, body, module, tags)
        with self.uow() as session:
            article = self._locked_draft(session, article_id)
            task = _open_task(session, article)
            if task is None or task.bpmn_id != kb.DRAFT_STEP:
                raise Conflict("this article is not waiting for its draft", article_id=article_id)
            data = {"article_title": fields["title"], "article_body": fields["body"],
                    "article_module": fields["module"] or "", "article_tags": "、".join(fields["tags"])}
            self.kernel.complete(session, task, data, actor)
            return {"id": article.id, "status": article.status}

    def review_article(self, *, article_id: int, actor: Actor, decision: str, comment: str = "") -> dict[str, Any]:
        """The expert's decision: approve (published) or send back with a comment (draft again)."""
        _staff(actor)
        with self.uow() as session:
            article = _article(session, article_id)
            if article.ticket_id is not None:
                repository.lock_instance(session, _instance_id(session, article))
            session.refresh(article)
            task = _open_task(session, article)
            if article.status != "review" or task is None or task.bpmn_id != kb.REVIEW_STEP:
                raise Conflict("this article is not waiting for a review", article_id=article_id)
            if not may_work_on(actor.role, task.role):
                raise Forbidden("only the expert team approves articles")
            data = {"decision": decision, **({"review_comment": comment.strip()} if comment.strip() else {})}
            self.kernel.complete(session, task, data, actor)
            return {"id": article.id, "status": article.status}

    def retire_article(self, *, article_id: int, actor: Actor) -> dict[str, Any]:
        """Take a published article back from customers (it stays for staff)."""
        if actor.role not in RETIRERS:
            raise Forbidden("only experts and managers retire articles")
        with self.uow() as session:
            article = _article(session, article_id, for_update=True)
            if article.status != "published":
                raise Conflict("only a published article can be retired", article_id=article_id)
            article.status, article.updated_at = "retired", self.clock.now()
            return {"id": article.id, "status": article.status}

    def article_for_case(self, *, ticket_id: int) -> dict[str, Any] | None:
        """The article a KB review case is about (its ticket and task pages show it), or None for other tickets."""
        with self.uow(write=False) as session:
            article = kb.article_of_case(session, ticket_id)
            return kb.article_dict(article) if article else None

    def picker(self, *, actor: Actor, q: str, limit: int = 8) -> list[dict[str, Any]]:
        """Published articles matching `q` for the reply box's "insert article link", each with its public URL."""
        _staff(actor)
        with self.uow(write=False) as session:
            rows, _ = kb.search(session, q, statuses=("published",), limit=max(1, min(limit, 20)))
            base = self.settings.base_url.rstrip("/")
            return [{"id": a.id, "title": a.title, "url": f"{base}/kb/{a.id}", "excerpt": kb.excerpt(a.body, 80)}
                    for a in rows]

    # --- customers -----------------------------------------------------------------------------------------------

    def public_search(self, *, q: str, page: int = 1, per_page: int = 20) -> dict[str, Any]:
        """Published articles matching `q` (all when empty), for the portal."""
        page, per_page = max(1, min(page, 10_000)), max(1, min(per_page, 50))
        with self.uow(write=False) as session:
            rows, total = kb.search(session, q, statuses=("published",), limit=per_page, offset=(page - 1) * per_page)
            return {"items": [kb.public_dict(a, html=False) for a in rows], "total": total, "page": page,
                    "per_page": per_page}

    def suggest(self, *, q: str, limit: int = 5) -> list[dict[str, Any]]:
        """Published articles for a request's title while the customer types it (nothing under 2 characters)."""
        with self.uow(write=False) as session:
            return [{**kb.public_dict(a, html=False), "excerpt": kb.excerpt(a.body, 60)}
                    for a in kb.suggest(session, q, max(1, min(limit, 10)))]

    def public_article(self, *, article_id: int) -> dict[str, Any]:
        """A published article; NotFound for any other (a draft is never shown to customers)."""
        with self.uow(write=False) as session:
            article = session.get(KbArticle, article_id) if _fits(article_id) else None
            if article is None or article.status != "published":
                raise NotFound("no such article", article_id=article_id)
            return kb.public_dict(article)

    def record_reading(self, *, article_id: int, visit: str, source: str) -> None:
        """Count one reading of a published article in portal visit `visit` (from search, suggestion or a link)."""
        if not kb.valid_visit(visit):
            raise ValidationFailed("invalid visit", [{"field": "visit", "message": "16-64 letters, digits, - or _"}])
        if source not in kb.SOURCES:
            raise ValidationFailed("invalid source", [{"field": "source",
                                                       "message": f"one of {', '.join(kb.SOURCES)}"}])
        with self.uow() as session:
            article = session.get(KbArticle, article_id) if _fits(article_id) else None
            if article is None or article.status != "published":
                raise NotFound("no such article", article_id=article_id)
            kb.record_view(session, article, visit=visit, source=source, now=self.clock.now())

    def mark_filed(self, *, visit: str, ticket_id: int) -> int:
        """The readings of `visit` led to request `ticket_id` (its own unit of work; inside one use kb.mark_filed)."""
        with self.uow() as session:
            return kb.mark_filed(session, visit, ticket_id)

    # --- helpers -------------------------------------------------------------------------------------------------

    def _locked_draft(self, session: Session, article_id: int) -> KbArticle:
        article = _article(session, article_id)
        if article.ticket_id is not None:  # the case's row lock: an edit and a submit or review queue
            repository.lock_instance(session, _instance_id(session, article))
            session.refresh(article)
        if article.status != "draft":
            raise Conflict("only a draft can be edited", article_id=article_id, status=article.status)
        return article


def _open_revision(session: Session, article_id: int) -> KbArticle | None:
    """The revision of an article still being written or reviewed, if any."""
    return session.scalar(select(KbArticle).where(KbArticle.revises_id == article_id,
                                                  KbArticle.status.in_(kb.OPEN_REVISION)).limit(1))


def _fits(number: int | None) -> bool:
    """Whether an id can be in the table at all (a bigger one would overflow the database's integer)."""
    return number is None or 0 < number < 2**31


def _article(session: Session, article_id: int, *, for_update: bool = False) -> KbArticle:
    if not _fits(article_id):
        raise NotFound("no such article", article_id=article_id)
    stmt = select(KbArticle).where(KbArticle.id == article_id)
    article = session.scalar(stmt.with_for_update() if for_update else stmt)
    if article is None:
        raise NotFound("no such article", article_id=article_id)
    return article


def _instance_id(session: Session, article: KbArticle) -> int:
    ticket = session.get(Ticket, article.ticket_id)
    return int(ticket.instance_id) if ticket is not None and ticket.instance_id is not None else 0


def _open_task(session: Session, article: KbArticle) -> HumanTask | None:
    if article.ticket_id is None:
        return None
    return session.scalar(select(HumanTask).where(HumanTask.ticket_id == article.ticket_id,
                                                  HumanTask.state == "open").order_by(HumanTask.created_at).limit(1))


def _fields(title: str, body: str, module: str, tags: Any) -> dict[str, Any]:
    """The article's fields, trimmed; ValidationFailed naming each bad one."""
    title, body, module = (title or "").strip(), (body or "").strip(), (module or "").strip()
    errors = []
    for name, value, limit in (("title", title, kb.MAX_TITLE), ("body", body, kb.MAX_BODY)):
        if not value:
            errors.append({"field": name, "message": "此项必填 This field is required"})
        elif len(value) > limit:
            errors.append({"field": name, "message": f"最多 {limit} 个字符 At most {limit} characters"})
    if len(module) > kb.MAX_MODULE:
        errors.append({"field": "module", "message": f"最多 {kb.MAX_MODULE} 个字符 At most {kb.MAX_MODULE} characters"})
    if errors:
        raise ValidationFailed("the article has errors", errors)
    return {"title": title, "body": body, "module": module or None, "tags": kb.clean_tags(tags)}


def _staff(actor: Actor) -> None:
    if actor.kind != "staff":
        raise Forbidden("the knowledge base's drafts are for staff")


def _writer(actor: Actor) -> None:
    if actor.kind != "staff" or actor.role not in WRITERS:
        raise Forbidden("engineers and experts write knowledge-base articles")
