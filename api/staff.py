"""Staff pages: login, task list, task forms, ticket page, intake. Every route needs a logged-in user."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.commands import Aftercare
from engine.errors import AftercareError, Conflict, Unauthorized, ValidationFailed
from engine.incidents import StartFailed
from engine.kernel import MAIN_PROCESS
from engine.throttle import TooManyAttempts
from engine.users import Actor
from engine.worklist import parse_query

from . import i18n, timeline
from .deps import DbId, Facade
from .security import StaffActor, check_csrf, client_address, csrf_token, staff_actor, start_web_session
from .templating import templates

public_staff_router = APIRouter()
router = APIRouter(dependencies=[Depends(staff_actor)])
_ = i18n.gettext


def page(request: Request, name: str, actor: Actor | None, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a staff page with the things every page needs."""
    base = {"actor": actor, "csrf": csrf_token(request), "lang": i18n.current(), "path": request.url.path}
    return templates.TemplateResponse(request, f"staff/{name}.html", {**base, **context}, status_code=status)


_BY_STATUS = {403: "Your role may not open this page or do this.", 404: "This page or record does not exist.",
              409: "This was changed in the meantime; please reload the page.",
              422: "The request could not be processed; please check what you entered."}


def error_page(request: Request, exc: AftercareError) -> HTMLResponse:
    """A domain error as the staff error page, with the menu when someone is logged in and the message in the
    reader's language (a message with no translation is replaced by one that says what kind of error it is)."""
    actor = getattr(request.state, "staff_actor", None)
    role, ticket_id = exc.details.get("task_role"), exc.details.get("ticket_id")
    if role:
        message = _("This task is work for the %(role)s role; your role may not open it.") % {"role": _(str(role))}
    elif i18n.translate(exc.message, "zh-CN") != exc.message:  # written for readers: named in either language
        message = _sentence(_(exc.message))
    elif i18n.current() == "en" and exc.status not in _BY_STATUS:
        message = _sentence(exc.message)
    else:
        message = _(_BY_STATUS.get(exc.status, "Something went wrong; nothing was changed."))
    return page(request, "error", actor, status=exc.status, message=message,  # no link to a ticket that is not there
                ticket_id=ticket_id if isinstance(ticket_id, int) and actor and exc.status != 404 else None)


def _sentence(text: str) -> str:
    """An engine message ("no such ticket") as a sentence on a page: a capital first letter and a full stop."""
    if not text or not text[0].isascii():
        return text
    return text[0].upper() + text[1:] + ("." if text[-1].isalnum() else "")


def _form_dict(form: Any) -> dict[str, Any]:
    return {k: v for k, v in form.items() if k != "csrf" and isinstance(v, str) and v != ""}


@public_staff_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The login page."""
    return page(request, "login", None, next_url=next, error=None)


@public_staff_router.post("/login", response_model=None)
async def login(request: Request, facade: Facade) -> Response:
    """Check the password (throttled per address and username); on success start a fresh server-side session."""
    form = await request.form()
    check_csrf(request, form)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    next_url, address = str(form.get("next", "/")), client_address(request)
    try:
        actor, token = await run_in_threadpool(lambda: facade.sessions.log_in(
            username=username, password=password, address=address, kind="web"))
    except TooManyAttempts as exc:
        response = page(request, "login", None, status=429, next_url=next_url, username=username[:100], error=_(
            "Too many failed logins from here. Please wait %(seconds)d seconds and try again.")
            % {"seconds": exc.retry_after})
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthorized as exc:
        return page(request, "login", None, status=401, next_url=next_url, username=username[:100],
                    error=_(exc.message))
    start_web_session(request, actor, token)
    return RedirectResponse(next_url if next_url.startswith("/") and not next_url.startswith(("//", "/\\")) else "/",
                            303)


@router.post("/logout")
async def logout(request: Request, facade: Facade) -> RedirectResponse:
    """End the session, and every other session and API token of the same user."""
    check_csrf(request, await request.form())
    token = str(request.session.get("sid", ""))
    if token:
        await run_in_threadpool(lambda: facade.sessions.log_out(token=token))
    request.session.clear()
    return RedirectResponse("/login", 303)


@router.get("/", response_class=HTMLResponse)
def task_list(request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """My tasks, my role's queue, or every open task for supervisors. The filters are read leniently (a form
    sends empty values for "any"): what means nothing is named in a notice, never refused."""
    query, ignored = parse_query(request.query_params, actor)
    result = facade.worklist(actor=actor, query=query)
    return page(request, "tasks", actor, result=result, query=query, ignored=ignored,
                now=facade.clock.now().isoformat())


@router.post("/tasks/{task_id}/claim")
async def claim(task_id: str, request: Request, facade: Facade, actor: StaffActor) -> RedirectResponse:
    """Take a task from the queue, or give it back."""
    form = await request.form()
    check_csrf(request, form)
    release = form.get("release") == "1"
    await run_in_threadpool(lambda: facade.claim_task(task_id=task_id, actor=actor, release=release))
    back = str(form.get("back", "/"))
    return RedirectResponse(back if back.startswith("/") and not back.startswith(("//", "/\\")) else "/", 303)


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(task_id: str, request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """A task's form beside its ticket."""
    return _task_page(request, facade, actor, task_id, {}, [])


def _task_page(request: Request, facade: Facade, actor: Actor, task_id: str, values: dict[str, Any],
               errors: list[Any], status: int = 200, notice: str | None = None) -> HTMLResponse:
    task = facade.get_task(task_id=task_id, actor=actor)
    ticket = facade.get_ticket(ticket_id=task["ticket_id"], actor=actor) if task["ticket_id"] else None
    attachments = facade.list_attachments(ticket_id=task["ticket_id"]) if task["ticket_id"] else []
    variables = facade.task_variables(task_id=task_id, actor=actor)
    report = facade.monthly_report_for_ticket(ticket_id=task["ticket_id"]) if task["ticket_id"] else None
    article = facade.kb.article_for_case(ticket_id=task["ticket_id"]) if task["ticket_id"] else None
    return page(request, "task", actor, status=status, task=task, ticket=ticket, values=values, errors=errors,
                notice=notice, attachments=attachments, variables=variables, monthly_report=report,
                rework=rework_of(ticket), kb_article=article, status_url=_status_url(facade, ticket))


_ANSWERED = {"customer_acceptance", "complaint_confirmation", "callback"}  # a later answer settles a rejection


def rework_of(ticket: dict[str, Any] | None) -> dict[str, Any] | None:
    """Why the case is back in handling, while it is: the customer's rejection with their reason, or the
    recurrence found at the callback with the customer's comment; None once the customer answered again."""
    timeline = (ticket or {}).get("timeline") or []
    for index in range(len(timeline) - 1, -1, -1):
        event = timeline[index]
        if event["kind"] == "task_completed" and event.get("task") in _ANSWERED:
            return None
        if event["kind"] in ("rejected", "reopened"):
            answer: dict[str, Any] = next((e for e in reversed(timeline[:index]) if e["kind"] == "task_completed"
                                           and e.get("task") in _ANSWERED), {})
            data = answer.get("data") or {}
            recurred = event.get("reason") == "recurred"
            reason = (data.get("comment") or "") if recurred else (event.get("reason") or data.get("reason") or "")
            return {"recurred": recurred, "reason": str(reason), "at": event["at"], "by": answer.get("actor")}
    return None


@router.post("/tasks/{task_id}", response_model=None)
async def complete(task_id: str, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Complete a task from its form; field errors come back on their fields with the input kept."""
    form = await request.form()
    check_csrf(request, form)
    data = _form_dict(form)
    try:
        result = await run_in_threadpool(lambda: facade.complete_task(task_id=task_id, data=data, actor=actor))
    except ValidationFailed as exc:
        errors = exc.errors
        return await run_in_threadpool(lambda: _task_page(request, facade, actor, task_id, data, errors, 422))
    except Conflict:
        return page(request, "gone", actor, status=409)
    return RedirectResponse(f"/tickets/{result['ticket_id']}?done=1" if result["ticket_id"] else "/", 303)


@router.get("/tickets/{ticket_id}", response_model=None)
def ticket_page(ticket_id: str, request: Request, facade: Facade, actor: StaffActor, done: int = 0) -> Response:
    """Everything about a ticket; prints as the fault handling form (故障处理单). A ticket number opens it too."""
    if not (ticket_id.isascii() and ticket_id.isdigit() and len(ticket_id) <= 9):
        return RedirectResponse(f"/tickets/{facade.ticket_by_number(number=ticket_id)}", 303)
    return _ticket_page(request, facade, actor, int(ticket_id), done=bool(done))


def _ticket_page(request: Request, facade: Aftercare, actor: Actor, ticket_id: int, *, done: bool = False,
                 start_errors: list[Any] | None = None, status: int = 200,
                 reply: dict[str, Any] | None = None) -> HTMLResponse:
    ticket = facade.get_ticket(ticket_id=ticket_id, actor=actor)
    attachments = facade.list_attachments(ticket_id=ticket_id)
    entries = timeline.entries(ticket, facade.task_forms(ticket_id=ticket_id))
    show = request.query_params.get("show", "all")  # the conversation's filter (api/conversation.py posts to it)
    stream = timeline.stream(entries, ticket.get("messages", []), show)
    return page(request, "ticket", actor, status=status, ticket=ticket, timeline=entries, done=done,
                attachments=attachments, procedures=_procedures(facade, actor, "ticket"),
                start_errors=start_errors or [], monthly_report=facade.monthly_report_for_ticket(ticket_id=ticket_id),
                stream=stream, shown=timeline.fold(stream), show=show,
                reply=reply or {"values": {}, "errors": [], "notice": request.query_params.get("sent")},
                status_url=_status_url(facade, ticket))


def _status_url(facade: Aftercare, ticket: dict[str, Any] | None) -> str | None:
    """The customer's status page of a ticket with a contact to give it to (the link every e-mail carries)."""
    if not ticket or not ticket.get("contact_email"):
        return None
    return f"{facade.settings.base_url.rstrip('/')}/s/{facade.status_token(ticket_id=ticket['id'])}"


@router.post("/tickets/{ticket_id}/procedures/{process_id}", response_model=None)
async def start_from_ticket(ticket_id: DbId, process_id: str, request: Request, facade: Facade,
                            actor: StaffActor) -> Response:
    """Start a procedure for the ticket's customer and contact, linked to the ticket; then show the new ticket."""
    form = await request.form()
    check_csrf(request, form)
    title, description = str(form.get("title", "")), str(form.get("description", ""))
    try:
        created = await run_in_threadpool(lambda: facade.start_procedure(
            process_id=process_id, actor=actor, customer="", contact_name="", contact_email="", title=title,
            description=description, origin_ticket_id=ticket_id))
    except (ValidationFailed, StartFailed) as exc:
        errors, code = _start_errors(exc), exc.status
        return await run_in_threadpool(lambda: _ticket_page(request, facade, actor, ticket_id, start_errors=errors,
                                                            status=code))
    return RedirectResponse(f"/tickets/{created['id']}", 303)


def _procedures(facade: Aftercare, actor: Actor, where: str) -> list[dict[str, Any]]:
    """The procedures `actor` may start from `where`, each with its name in the reader's language (`label`)."""
    return [{**p, "label": timeline.in_language(p["name"])} for p in facade.startable(actor=actor, where=where)]


@router.get("/tickets/{ticket_id}/diagram")
def ticket_diagram(ticket_id: DbId, facade: Facade, actor: StaffActor) -> dict[str, Any]:
    """The diagram XML and the ids to mark, for the bpmn-js viewer on the ticket page."""
    return facade.ticket_diagram(ticket_id=ticket_id, actor=actor)


@router.get("/intake", response_class=HTMLResponse)
def intake_form(request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """Log a phone call, WeChat message or e-mail as a ticket (a maintenance request unless another procedure
    is chosen)."""
    return page(request, "intake", actor, customers=facade.list_customers(), values={"channel": "phone"}, errors=[],
                procedures=_procedures(facade, actor, "intake"))


@router.post("/intake", response_model=None)
async def intake(request: Request, facade: Facade, actor: StaffActor,
                 customer: Annotated[str, Form()] = "", contact_name: Annotated[str, Form()] = "",
                 contact_email: Annotated[str, Form()] = "", contact_phone: Annotated[str, Form()] = "",
                 channel: Annotated[str, Form()] = "",
                 title: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
                 process_id: Annotated[str, Form()] = "") -> Response:
    """Create the ticket; errors come back on their fields."""
    check_csrf(request, await request.form())
    values = {"customer": customer, "contact_name": contact_name, "contact_email": contact_email,
              "contact_phone": contact_phone.strip(), "channel": channel, "title": title, "description": description}
    try:
        created = await run_in_threadpool(lambda: _start_from_intake(facade, actor, process_id, values))
    except (ValidationFailed, StartFailed) as exc:
        customers, procedures = await run_in_threadpool(
            lambda: (facade.list_customers(), _procedures(facade, actor, "intake")))
        return page(request, "intake", actor, status=exc.status, customers=customers, procedures=procedures,
                    values={**values, "process_id": process_id}, errors=_start_errors(exc))
    return RedirectResponse(f"/tickets/{created['id']}", 303)


def _start_errors(exc: ValidationFailed | StartFailed) -> list[dict[str, Any]]:
    """Field errors as they are; a diagram that failed as it started as one error of the whole form, with where."""
    if isinstance(exc, ValidationFailed):
        return exc.errors
    where, process = exc.errors[0], exc.details.get("process_id")
    return [{"field": "(form)",
             "message": _(exc.message) + f" ({process} · {where['element_id'] or '?'}: {where['message']})"}]


def _start_from_intake(facade: Aftercare, actor: Actor, process_id: str, values: dict[str, str]) -> dict[str, Any]:
    """The maintenance request exactly as always, or the other procedure chosen on the intake page."""
    if process_id in ("", MAIN_PROCESS):
        return facade.create_ticket(**values, actor=actor)
    return facade.start_procedure(process_id=process_id, actor=actor, customer=values["customer"],
                                  contact_name=values["contact_name"], contact_email=values["contact_email"],
                                  channel=values["channel"], title=values["title"], description=values["description"],
                                  contact_phone=values["contact_phone"] or None)




@router.get("/admin/contracts", response_class=HTMLResponse)
def contracts_page(request: Request, facade: Facade, actor: StaffActor, saved: int = 0) -> HTMLResponse:
    """Customers' contracts; managers and admins add and update them."""
    return page(request, "contracts", actor, contracts=facade.list_contracts(), customers=facade.list_customers(),
                change_kinds=_change_kinds(facade), can_edit=actor.role in ("manager", "admin"), errors=[],
                saved=bool(saved))


def _change_kinds(facade: Aftercare) -> list[str]:
    """The kinds of change a contract's free-maintenance scope may list: the change assessment's choices."""
    return facade.form_choices(process_id="change_request", form_key="change_assessment.json", field="change_kind")


@router.post("/admin/contracts", response_model=None)
async def save_contract(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Save a contract from the admin form."""
    form = await request.form()
    check_csrf(request, form)
    if actor.role not in ("manager", "admin"):
        return page(request, "error", actor, status=403, message=_("Only managers and admins may change contracts."))
    try:
        fields = _contract_fields(form)
        await run_in_threadpool(lambda: facade.save_contract(**fields))
    except ValidationFailed as exc:
        return page(request, "contracts", actor, status=422, contracts=facade.list_contracts(),
                    customers=facade.list_customers(), change_kinds=_change_kinds(facade), can_edit=True,
                    errors=_contract_errors(exc.errors), saved=False)
    return RedirectResponse("/admin/contracts?saved=1", 303)


# The contract form's fields by the names the engine reports them under, as the form labels them.
_CONTRACT_LABELS = {"number": "Contract", "customer": "Customer", "tier": "Tier", "starts_on": "Starts",
                    "ends_on": "Ends", "warranty_end": "Warranty ends", "calendar": "Calendar",
                    "inspection_months": "Inspection every (months)", "sla_overrides": "SLA overrides"}


def _contract_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The engine's errors (English, engine/contracts.check_contract) as the reader's language says them: the
    field as its form label, the message from the catalogs (languages.po)."""
    shown = []
    for error in errors:
        field, message = str(error.get("field", "")), str(error.get("message", ""))
        if field == "customer" and message.startswith("no customer named "):
            message = _("No customer of that name.")
        shown.append({"field": _(_CONTRACT_LABELS.get(field, field)), "message": _(message)})
    return shown


def _contract_fields(form: Any) -> dict[str, Any]:
    errors: list[dict[str, str]] = []

    def day(name: str, required: bool = True) -> date | None:
        text = str(form.get(name, "")).strip()
        if not text:
            if required:
                errors.append({"field": name, "message": "Required."})
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            errors.append({"field": name, "message": "Enter a date as YYYY-MM-DD."})
            return None

    starts, ends, warranty = day("starts_on"), day("ends_on"), day("warranty_end", required=False)
    months_text = str(form.get("inspection_months", "3")).strip() or "3"
    months = int(months_text) if months_text.isdigit() else 0
    if not months_text.isdigit():
        errors.append({"field": "inspection_months", "message": "must be 1 to 24 months"})
    if errors or starts is None or ends is None:
        raise ValidationFailed("the contract has errors", errors)
    return {"number": str(form.get("number", "")).strip(), "customer": str(form.get("customer", "")),
            "tier": str(form.get("tier", "standard")), "starts_on": starts, "ends_on": ends,
            "warranty_end": warranty, "calendar": str(form.get("calendar", "working")),
            "free_scope": [p.strip() for v in form.getlist("free_scope") for p in str(v).split(",") if p.strip()],
            "inspection_months": months}
