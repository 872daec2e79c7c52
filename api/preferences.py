"""Each staff user's notification settings: a page (/account/notifications) and its JSON twin
(/api/account/notifications). How notices are gathered into digests is engine/notifications.py."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from engine.errors import ValidationFailed

from . import i18n
from .deps import ApiActor, ApiRoute, Facade, api_actor
from .security import StaffActor, check_csrf, staff_actor
from .staff import page

_ = i18n.gettext
PAGE = "/account/notifications"
page_router = APIRouter(dependencies=[Depends(staff_actor)])
api_router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)], route_class=ApiRoute)


class NotificationModes(BaseModel):
    """The mode per kind to save; kinds left out keep theirs."""

    modes: dict[str, str] = Field(default_factory=dict)


@page_router.get(PAGE, response_model=None)
def preferences_page(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """The user's choice, per kind of notice, of immediate, digest or none."""
    prefs = facade.notification_preferences(actor=actor)
    return page(request, "preferences", actor, prefs=prefs, saved=request.query_params.get("saved") == "1",
                errors=[])


@page_router.post(PAGE, response_model=None)
async def save_preferences(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Save the choices; a refused one shows the page again with the reason."""
    form = await request.form()
    check_csrf(request, form)
    modes = {key.removeprefix("mode_"): str(value) for key, value in form.items() if key.startswith("mode_")}
    try:
        await run_in_threadpool(lambda: facade.set_notification_preferences(actor=actor, modes=modes))
    except ValidationFailed as exc:
        prefs = await run_in_threadpool(lambda: facade.notification_preferences(actor=actor))
        errors = [{"field": e["field"], "message": _(e["message"])} for e in exc.errors]
        return page(request, "preferences", actor, status=422, prefs=prefs, saved=False, errors=errors)
    return RedirectResponse(f"{PAGE}?saved=1", 303)


@api_router.get(PAGE)
def get_preferences(facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """The caller's mode per kind, with the choices each kind allows and the digest window in minutes."""
    return facade.notification_preferences(actor=actor)


@api_router.put(PAGE)
def put_preferences(body: NotificationModes, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Save the caller's modes; `none` for the deadline kind is refused with 422."""
    return facade.set_notification_preferences(actor=actor, modes=body.modes)


router = APIRouter()
router.include_router(page_router)
router.include_router(api_router)
