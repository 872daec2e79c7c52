"""The knowledge base (知识库): staff pages to write, review and manage articles; public pages where customers
search and read the published ones; the suggestions the portal shows while a request's title is typed; the JSON API.

`/kb` and `/kb/{id}` serve both: a logged-in staff user sees every article with its status and figures, anyone
else the published articles only (the link staff put in a reply is the customer's link)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from engine.errors import AftercareError, Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from engine.services.kb import WRITERS
from engine.users import Actor

from . import i18n
from .deps import ApiActor, ApiRoute, DbId, Facade
from .security import StaffActor, check_csrf, staff_actor
from .staff import page as staff_page
from .templating import templates

router = APIRouter(dependencies=[Depends(staff_actor)])  # staff only; included before the public router
public_kb_router = APIRouter()
api_router = APIRouter(prefix="/api/kb", tags=["knowledge base"], route_class=ApiRoute)
_ = i18n.gettext
FIELDS = ("title", "body", "module", "tags")


def _optional_staff(request: Request, facade: Facade) -> Actor | None:
    """The logged-in staff user, or None for a customer."""
    username = request.session.get("user")
    if not username:
        return None
    try:
        return facade.actor(username=str(username))
    except Unauthorized:
        return None


MaybeStaff = Annotated[Actor | None, Depends(_optional_staff)]


def _id(text: str, what: str = "article") -> int:
    """A path's id; 404 for anything but a small number."""
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise NotFound(f"no such {what}")
    return int(text)


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) <= 6 else 1


def _customer_page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, f"customer/{name}.html", {"lang": i18n.current(), **context},
                                      status_code=status)


# --- staff -------------------------------------------------------------------------------------------------------


@router.get("/kb/new", response_class=HTMLResponse)
def new_article(request: Request, facade: Facade, actor: StaffActor, ticket: str = "") -> HTMLResponse:
    """A new article, from scratch or pre-filled from a resolved ticket (`?ticket=ID`)."""
    if actor.role not in WRITERS:
        raise Forbidden("engineers and experts write knowledge-base articles")
    values: dict[str, Any] = {"title": "", "body": "", "module": "", "tags": ""}
    if ticket:
        draft = facade.kb.ticket_draft(ticket_id=_id(ticket, "ticket"), actor=actor, language=i18n.current())
        values = {**draft, "tags": "、".join(draft["tags"]), "source_ticket_id": draft["source_ticket_id"]}
    return staff_page(request, "kb_edit", actor, article=None, values=values, errors=[])


@router.post("/kb/new", response_model=None)
async def create_article(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Save the new draft and open its review case."""
    form = await request.form()
    check_csrf(request, form)
    values = {k: str(form.get(k, "")) for k in FIELDS}
    source = str(form.get("source_ticket_id", "")).strip()
    values["source_ticket_id"] = source
    try:
        created = await run_in_threadpool(lambda: facade.kb.create_article(
            actor=actor, **{k: values[k] for k in FIELDS},
            source_ticket_id=int(source) if source.isascii() and source.isdigit() and len(source) <= 9 else None))
    except ValidationFailed as exc:
        return staff_page(request, "kb_edit", actor, status=422, article=None, values=values, errors=exc.errors)
    return RedirectResponse(f"/kb/{created['id']}?saved=1", 303)


@router.get("/kb/picker.json")
def picker(facade: Facade, actor: StaffActor, q: str = "") -> list[dict[str, Any]]:
    """Published articles for the reply box's "insert article link"."""
    return facade.kb.picker(actor=actor, q=q[:200])


@router.get("/kb/{article_id}/edit", response_model=None)
def edit_article(article_id: str, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Edit a draft (with a preview); an article under review or published opens its page instead."""
    article = facade.kb.get_article(article_id=_id(article_id), actor=actor)
    if not article["can_edit"]:
        return RedirectResponse(f"/kb/{article['id']}", 303)
    values = {**article, "tags": "、".join(article["tags"]), "module": article["module"] or ""}
    return staff_page(request, "kb_edit", actor, article=article, values=values, errors=[])


@router.post("/kb/{article_id}/edit", response_model=None)
async def save_article(article_id: str, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Save the draft, or save it and submit it for review (`action=submit`)."""
    form = await request.form()
    check_csrf(request, form)
    number = _id(article_id)
    values = {k: str(form.get(k, "")) for k in FIELDS}
    verb = facade.kb.submit_article if form.get("action") == "submit" else facade.kb.update_article
    try:
        await run_in_threadpool(lambda: verb(article_id=number, actor=actor, **values))
    except ValidationFailed as exc:
        article = await run_in_threadpool(lambda: facade.kb.get_article(article_id=number, actor=actor))
        return staff_page(request, "kb_edit", actor, status=422, article=article, values=values, errors=exc.errors)
    except Conflict:
        return RedirectResponse(f"/kb/{number}?moved=1", 303)
    return RedirectResponse(f"/kb/{number}?saved=1", 303)


@router.post("/kb/{article_id}/review", response_model=None)
async def review_article(article_id: str, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """The expert's decision: approve and publish, or send back with a comment."""
    form = await request.form()
    check_csrf(request, form)
    number = _id(article_id)
    decision, comment = str(form.get("decision", "")), str(form.get("review_comment", ""))
    try:
        await run_in_threadpool(lambda: facade.kb.review_article(article_id=number, actor=actor, decision=decision,
                                                                 comment=comment))
    except ValidationFailed as exc:
        errors = exc.errors
        return await run_in_threadpool(lambda: _staff_article(request, facade, actor, number, errors=errors,
                                                              comment=comment, status=422))
    except Conflict:
        return RedirectResponse(f"/kb/{number}?moved=1", 303)
    return RedirectResponse(f"/kb/{number}?reviewed=1", 303)


@router.post("/kb/{article_id}/revise", response_model=None)
async def revise_article(article_id: str, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Start a revision of a published or retired article (or open the one already started): its draft page."""
    check_csrf(request, await request.form())
    number = _id(article_id)
    try:
        revision = await run_in_threadpool(lambda: facade.kb.revise_article(article_id=number, actor=actor))
    except Conflict:
        return RedirectResponse(f"/kb/{number}?moved=1", 303)
    return RedirectResponse(f"/kb/{revision['id']}/edit", 303)


@router.post("/kb/{article_id}/retire", response_model=None)
async def retire_article(article_id: str, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Take a published article back from customers."""
    check_csrf(request, await request.form())
    number = _id(article_id)
    await run_in_threadpool(lambda: facade.kb.retire_article(article_id=number, actor=actor))
    return RedirectResponse(f"/kb/{number}", 303)


def _staff_article(request: Request, facade: Facade, actor: Actor, article_id: int, *, errors: list[Any] | None = None,
                   comment: str = "", status: int = 200) -> HTMLResponse:
    article = facade.kb.get_article(article_id=article_id, actor=actor)
    flags = {k: request.query_params.get(k) == "1" for k in ("saved", "reviewed", "moved")}
    return staff_page(request, "kb_article", actor, status=status, article=article, errors=errors or [],
                      comment=comment, base_url=facade.settings.base_url.rstrip("/"), **flags)


# --- public (customers) and shared ---------------------------------------------------------------------------------


@public_kb_router.get("/kb", response_class=HTMLResponse)
def article_list(request: Request, facade: Facade, staff: MaybeStaff, q: str = "", status: str = "",
                 page: str = "") -> HTMLResponse:
    """Staff: every article, by status, with its figures. Customers: search the published articles."""
    number = _page_number(page)
    if staff is not None:
        try:
            result = facade.kb.list_articles(actor=staff, q=q, status=status, page=number)
        except ValidationFailed as exc:
            return staff_page(request, "kb_list", staff, status=422, result=None, q=q, status_filter=status,
                        errors=exc.errors)
        return staff_page(request, "kb_list", staff, result=result, q=q, status_filter=status, errors=[],
                    can_write=staff.role in WRITERS)
    return _customer_page(request, "kb_list", result=facade.kb.public_search(q=q, page=number), q=q)


@public_kb_router.get("/kb/suggest.json")
def suggest(facade: Facade, q: str = "") -> list[dict[str, Any]]:
    """Published articles for what a customer types as a request's title (the portal's suggestions)."""
    return [{**a, "url": f"/kb/{a['id']}"} for a in facade.kb.suggest(q=q[:200])]


@public_kb_router.get("/kb/articles/{article_id}.json")
def article_json(article_id: str, facade: Facade) -> JSONResponse:
    """A published article to read in place (the portal's suggestions); 404 for anything else."""
    try:
        return JSONResponse(facade.kb.public_article(article_id=_id(article_id)))
    except NotFound:
        return JSONResponse({"detail": "no such article"}, status_code=404)


class Reading(BaseModel):
    """One reading of an article in a portal visit."""

    visit: str = Field(max_length=64)
    source: str = Field(default="search", max_length=16)


@public_kb_router.post("/kb/{article_id}/read", status_code=204, response_model=None)
def record_reading(article_id: str, reading: Reading, facade: Facade) -> Response:
    """Count a reading (the page's script sends it once the article is shown; scanners that only GET count none)."""
    try:
        facade.kb.record_reading(article_id=_id(article_id), visit=reading.visit, source=reading.source)
    except AftercareError as exc:
        body: dict[str, Any] = {"detail": exc.message, **({"errors": exc.errors} if isinstance(
            exc, ValidationFailed) else {})}
        return JSONResponse(body, status_code=exc.status)
    return Response(status_code=204)


@public_kb_router.get("/kb/{article_id}", response_class=HTMLResponse)
def article_page(article_id: str, request: Request, facade: Facade, staff: MaybeStaff, view: str = "") -> HTMLResponse:
    """Staff: the article in any status with its review and figures. Customers (or `?view=customer`): a published
    article, 404 otherwise."""
    try:
        number = _id(article_id)
        if staff is not None and view != "customer":
            return _staff_article(request, facade, staff, number)
        article = facade.kb.public_article(article_id=number)
    except NotFound:
        return _customer_page(request, "kb_article", status=404, article=None)
    return _customer_page(request, "kb_article", article=article, preview=staff is not None)


# --- JSON API ----------------------------------------------------------------------------------------------------


class ArticleWrite(BaseModel):
    """An article's fields; tags as a list."""

    title: str = Field(max_length=300)
    body: str = Field(max_length=50_000)
    module: str = Field(default="", max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=10)
    source_ticket_id: int | None = None


@api_router.get("/articles")
def api_list(facade: Facade, actor: ApiActor, q: str = "", status: str = "", page: int = 1,
             per_page: int = 50) -> dict[str, Any]:
    """Articles of every status with views and deflections (`status`: draft, review, published, retired)."""
    return facade.kb.list_articles(actor=actor, q=q[:200], status=status, page=page, per_page=per_page)


@api_router.get("/articles/{article_id}")
def api_get(article_id: DbId, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """One article with its rendered HTML, review comments and figures."""
    return facade.kb.get_article(article_id=article_id, actor=actor)


@api_router.post("/articles", status_code=201)
def api_create(body: ArticleWrite, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """A new draft and its review case (engineers and experts)."""
    return facade.kb.create_article(actor=actor, title=body.title, body=body.body, module=body.module, tags=body.tags,
                                    source_ticket_id=body.source_ticket_id)


@api_router.put("/articles/{article_id}")
def api_update(article_id: DbId, body: ArticleWrite, facade: Facade, actor: ApiActor,
               submit: bool = False) -> dict[str, Any]:
    """Save a draft; `?submit=true` also submits it for review."""
    verb = facade.kb.submit_article if submit else facade.kb.update_article
    return verb(article_id=article_id, actor=actor, title=body.title, body=body.body, module=body.module,
                tags=body.tags)


@api_router.post("/articles/{article_id}/revise", status_code=201)
def api_revise(article_id: DbId, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Start a revision of a published or retired article (engineers and experts): a draft of its text with a review
    case of its own; approved, it replaces the article's text at the same address. While one is open, that one is
    returned (`existing`: true)."""
    return facade.kb.revise_article(article_id=article_id, actor=actor)
