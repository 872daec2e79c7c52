"""Customer pages behind e-mail links (/c/{token}): public, the token is the credential."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from engine.errors import LinkError, ValidationFailed

from .deps import Facade
from .templating import templates

public_customer_router = APIRouter(prefix="/c")

_DONE = "谢谢！您的答复已记录。Thank you, your answer has been recorded."


def _link_page(request: Request, exc: LinkError) -> HTMLResponse:
    status = {"invalid": 404, "expired": 410, "used": 410, "closed": 409}.get(exc.reason, 400)
    return templates.TemplateResponse(request, "customer/message.html",
                                      {"message": exc.message, "tone": "bad", "ticket": None}, status_code=status)


@public_customer_router.get("/{token}", response_class=HTMLResponse)
def show(token: str, request: Request, facade: Facade, score: int | None = None) -> HTMLResponse:
    """The form of the customer's step; a survey link with ?score=N records the score in one click."""
    try:
        view = facade.open_link(token=token)
        if score is not None and "score" in view["form"].get("properties", {}):
            # The page posts the score itself as it loads: a person's click records it at once, while mail
            # scanners that merely fetch links (and run no scripts) record nothing.
            return templates.TemplateResponse(request, "customer/survey_click.html",
                                              {"score": score, "ticket": view["ticket"]})
    except LinkError as exc:
        return _link_page(request, exc)
    return _form_page(request, view, {}, [])


@public_customer_router.post("/{token}/comment", response_class=HTMLResponse)
async def comment(token: str, request: Request, facade: Facade) -> HTMLResponse:
    """The optional comment after a one-click score."""
    text = str((await request.form()).get("comment", "")).strip()
    try:
        if text:
            await run_in_threadpool(lambda: facade.add_survey_comment(token=token, comment=text))
    except LinkError as exc:
        return _link_page(request, exc)
    return templates.TemplateResponse(request, "customer/message.html",
                                      {"message": _DONE, "tone": "ok", "ticket": None})


def _form_page(request: Request, view: dict[str, Any], values: dict[str, Any], errors: list[Any],
               status: int = 200) -> HTMLResponse:
    context = {**view, "values": values, "errors": errors, "lang": "zh-CN"}
    return templates.TemplateResponse(request, "customer/task.html", context, status_code=status)


@public_customer_router.post("/{token}", response_class=HTMLResponse)
async def submit(token: str, request: Request, facade: Facade) -> HTMLResponse:
    """Complete the customer's step through the same verb staff use."""
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str) and v != ""}
    try:
        view = await run_in_threadpool(lambda: facade.open_link(token=token))
        await run_in_threadpool(lambda: facade.complete_by_link(token=token, data=data))
    except LinkError as exc:
        return _link_page(request, exc)
    except ValidationFailed as exc:
        return _form_page(request, view, data, exc.errors, status=422)
    if "score" in view["form"].get("properties", {}):
        return templates.TemplateResponse(request, "customer/survey_thanks.html",
                                          {"score": data.get("score"), "ticket": view["ticket"], "token": token})
    return templates.TemplateResponse(request, "customer/message.html",
                                      {"message": _DONE, "tone": "ok", "ticket": None})
