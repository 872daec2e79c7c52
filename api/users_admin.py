"""Staff users in the browser: admins add users, change role, e-mail and language, disable or enable them and set
a new password (/admin/users); every user changes their own password (/account/password). Whatever ends a user's
access (disabling, a new password) ends their sessions too (engine/services/people.py)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.effects import ROLES
from engine.errors import Unauthorized, ValidationFailed
from engine.throttle import TooManyAttempts
from engine.users import Actor

from . import i18n
from .deps import Facade
from .security import StaffActor, check_csrf, client_address, staff_actor, start_web_session
from .staff import page

_ = i18n.gettext
router = APIRouter(dependencies=[Depends(staff_actor)])
USERS = "/admin/users"
PASSWORD = "/account/password"
FIELD_LABELS = {"username": "Username", "role": "Role", "email": "E-mail", "language": "Language",
                "password": "New password", "password2": "New password again", "active": "Status",
                "current": "Current password", "new": "New password", "new2": "New password again"}
ADD_LABELS = {**FIELD_LABELS, "password": "First password", "password2": "First password again"}  # the add form's


def _users_page(request: Request, facade: Facade, actor: Actor, *, status: int = 200, errors: list[Any] | None = None,
                editing: str = "", values: dict[str, str] | None = None, done: str = "") -> Response:
    users = facade.people.list_users(actor=actor)
    labels = FIELD_LABELS if editing else ADD_LABELS
    # a refused form is shown at once (422, what was typed kept); the page's own address replaces the form's in the
    # address bar (staff.js), so a reload shows the page instead of sending the form again
    page_url = f"{USERS}#user-{editing}" if editing else f"{USERS}#add"
    return page(request, "users", actor, status=status, users=users, roles=ROLES, errors=_shown(errors or [], labels),
                editing=editing, values=values or {}, done=done, page_url=page_url if errors else None)


def _shown(errors: list[dict[str, Any]], labels: dict[str, str] = FIELD_LABELS) -> list[dict[str, str]]:
    """The engine's field errors in the reader's language, each field named as the form labels it."""
    return [{"field": str(e.get("field", "")), "label": _(labels.get(str(e.get("field")), str(e.get("field")))),
             "message": _(str(e.get("message", "")))} for e in errors]


@router.get(USERS, response_model=None)
def users_page(request: Request, facade: Facade, actor: StaffActor, done: str = "") -> Response:
    """Every staff user, with the forms to change them (admins only)."""
    return _users_page(request, facade, actor, done=done if done in ("added", "saved", "on", "off", "password")
                       else "")


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    check_csrf(request, form)
    return {k: str(v).strip() if k not in ("password", "password2") else str(v) for k, v in form.items()
            if isinstance(v, str)}


async def _apply(request: Request, facade: Facade, actor: Actor, change: Any, done: str, editing: str,
                 values: dict[str, str]) -> Response:
    """Run one change; its errors come back on the page with what was typed (passwords never)."""
    try:
        await run_in_threadpool(change)
    except ValidationFailed as exc:
        errors = exc.errors
        kept = {k: v for k, v in values.items() if k not in ("password", "password2", "csrf")}
        return await run_in_threadpool(lambda: _users_page(request, facade, actor, status=422, errors=errors,
                                                           editing=editing, values=kept))
    return RedirectResponse(f"{USERS}?done={done}#user-{values.get('username', '')}", 303)


def _mismatch(values: dict[str, str], first: str = "password", second: str = "password2") -> None:
    if values.get(first, "") != values.get(second, ""):  # the typing to redo is the repetition's
        raise ValidationFailed("passwords differ", [{"field": second, "message": "The two passwords differ."}])


@router.post(USERS, response_model=None)
async def add_user(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Add a staff user with a first password (typed twice)."""
    values = await _form(request)

    def change() -> None:
        _mismatch(values)
        facade.people.create_user(actor=actor, username=values.get("username", ""), role=values.get("role", ""),
                                  email=values.get("email", ""), language=values.get("language", "zh-CN"),
                                  password=values.get("password", ""))
    return await _apply(request, facade, actor, change, "added", "", values)


@router.post(USERS + "/save", response_model=None)
async def save_user(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Change a user's role, e-mail and language."""
    values = await _form(request)
    return await _apply(request, facade, actor, lambda: facade.people.update_user(
        actor=actor, username=values.get("username", ""), role=values.get("role", ""), email=values.get("email", ""),
        language=values.get("language", "zh-CN")), "saved", values.get("username", ""), values)


@router.post(USERS + "/active", response_model=None)
async def set_active(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Disable a user (their sessions end at once) or enable them again."""
    values = await _form(request)
    active = values.get("active") == "1"
    return await _apply(request, facade, actor, lambda: facade.people.set_active(
        actor=actor, username=values.get("username", ""), active=active), "on" if active else "off",
        values.get("username", ""), values)


@router.post(USERS + "/password", response_model=None)
async def reset_password(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Set a user's new password (the admin tells them; they change it after logging in); their sessions end."""
    values = await _form(request)

    def change() -> None:
        _mismatch(values)
        facade.people.reset_password(actor=actor, username=values.get("username", ""),
                                     password=values.get("password", ""))
    return await _apply(request, facade, actor, change, "password", values.get("username", ""), values)


@router.get(PASSWORD, response_model=None)
def password_page(request: Request, actor: StaffActor, done: int = 0) -> Response:
    """The form to change one's own password."""
    return page(request, "users_password", actor, errors=[], done=bool(done))


@router.post(PASSWORD, response_model=None)
async def change_password(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Change one's own password: every session and API token of the user ends, this browser gets a fresh one."""
    values = await _form(request)

    def change() -> str:
        _mismatch(values, "new", "new2")
        try:  # the current password is checked through the login throttle: a stolen session cannot guess it freely
            facade.sessions.authenticate(username=actor.name, password=values.get("current", ""),
                                         address=client_address(request))
        except Unauthorized:
            raise ValidationFailed("wrong password", [{"field": "current", "message": "wrong password"}]) from None
        facade.people.change_password(actor=actor, current=values.get("current", ""), new=values.get("new", ""))
        return facade.sessions.start(username=actor.name, kind="web", address=client_address(request))
    try:
        token = await run_in_threadpool(change)
    except ValidationFailed as exc:
        return page(request, "users_password", actor, status=422, errors=_shown(exc.errors), done=False)
    except TooManyAttempts as exc:
        message = i18n.gettext("Too many failed logins from here. Please wait %(seconds)d seconds and try again.") \
            % {"seconds": exc.retry_after}
        errors = [{**_shown([{"field": "current"}])[0], "message": message}]
        response = page(request, "users_password", actor, status=429, errors=errors, done=False)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    start_web_session(request, actor, token)
    return RedirectResponse(PASSWORD + "?done=1", 303)
