"""Staff pages for contacts: a customer's people and e-mail domains, and matching a ticket from an unknown sender
to its customer. The service desk, managers and admins may change them (the engine refuses anyone else)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.commands import Aftercare
from engine.contacts import is_public_domain
from engine.errors import ValidationFailed
from engine.users import Actor

from . import i18n
from .deps import DbId, Facade
from .security import StaffActor, check_csrf, staff_actor
from .staff import page

router = APIRouter(dependencies=[Depends(staff_actor)])
_ = i18n.gettext
CONTACT_FIELDS = ("name", "email", "phone", "language")


def _translated(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Field errors in the reader's language (the engine words them in English)."""
    out = []
    for e in errors:
        message = _(str(e.get("message", "")))
        if e.get("value"):  # what the message is about: the domain, the contact who has the address
            message = f"{message}: {e['value']}"
        out.append({"field": e.get("field", "(form)"), "message": message})
    return out


def _contacts_page(request: Request, facade: Aftercare, actor: Actor, customer_id: int | None, *,
                   status: int = 200, errors: list[Any] | None = None, values: dict[str, Any] | None = None,
                   editing: int | None = None, saved: str = "") -> HTMLResponse:
    customers = facade.contacts.customers_overview(actor=actor)
    chosen = facade.find_contacts(actor=actor, customer_id=customer_id) if customer_id else None
    return page(request, "contacts", actor, status=status, customers=customers, chosen=chosen,
                errors=_translated(errors or []), values=values or {}, editing=editing, saved=saved)


@router.get("/admin/contacts", response_class=HTMLResponse)
def contacts_page(request: Request, facade: Facade, actor: StaffActor, customer_id: int | None = None,
                  saved: str = "") -> HTMLResponse:
    """The customers with their e-mail domains; one customer's contacts."""
    return _contacts_page(request, facade, actor, customer_id, saved=saved[:20])


@router.post("/admin/contacts/{customer_id}/contacts", response_model=None)
async def add_contact(customer_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Add a contact to the customer."""
    return await _save(request, facade, actor, customer_id, None)


@router.post("/admin/contacts/{customer_id}/contacts/{contact_id}", response_model=None)
async def edit_contact(customer_id: DbId, contact_id: DbId, request: Request, facade: Facade,
                       actor: StaffActor) -> Response:
    """Change a contact's name, address, phone or language."""
    return await _save(request, facade, actor, customer_id, contact_id)


async def _save(request: Request, facade: Aftercare, actor: Actor, customer_id: int,
                contact_id: int | None) -> Response:
    form = await request.form()
    check_csrf(request, form)
    values = {k: str(form.get(k, "")).strip() for k in CONTACT_FIELDS}
    try:
        await run_in_threadpool(lambda: facade.contacts.save_contact(
            actor=actor, customer_id=customer_id, contact_id=contact_id, **values))
    except ValidationFailed as exc:
        errors = exc.errors
        return await run_in_threadpool(lambda: _contacts_page(
            request, facade, actor, customer_id, status=422, errors=errors, values=values, editing=contact_id or 0))
    return RedirectResponse(f"/admin/contacts?customer_id={customer_id}&saved=contact", 303)


@router.post("/admin/contacts/{customer_id}/contacts/{contact_id}/active", response_model=None)
async def set_active(customer_id: DbId, contact_id: DbId, request: Request, facade: Facade,
                     actor: StaffActor) -> Response:
    """Deactivate a contact, or bring one back."""
    form = await request.form()
    check_csrf(request, form)
    active = str(form.get("active", "")) == "1"
    await run_in_threadpool(lambda: facade.contacts.set_contact_active(actor=actor, contact_id=contact_id,
                                                                       active=active))
    return RedirectResponse(f"/admin/contacts?customer_id={customer_id}&saved={'on' if active else 'off'}", 303)


@router.post("/admin/contacts/{customer_id}/domains", response_model=None)
async def set_domains(customer_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Replace the customer's e-mail domains."""
    form = await request.form()
    check_csrf(request, form)
    text = str(form.get("domains", ""))[:2000]
    try:
        await run_in_threadpool(lambda: facade.contacts.set_domains(actor=actor, customer_id=customer_id,
                                                                    domains=text))
    except ValidationFailed as exc:
        errors = exc.errors
        return await run_in_threadpool(lambda: _contacts_page(
            request, facade, actor, customer_id, status=422, errors=errors, values={"domains": text}))
    return RedirectResponse(f"/admin/contacts?customer_id={customer_id}&saved=domains", 303)


@router.get("/tickets/{ticket_id}/match", response_class=HTMLResponse)
def match_form(ticket_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """Which customer a ticket from an unknown sender is for."""
    return _match_page(request, facade, actor, ticket_id)


def _match_page(request: Request, facade: Aftercare, actor: Actor, ticket_id: int, *, status: int = 200,
                errors: list[Any] | None = None) -> HTMLResponse:
    ticket = facade.get_ticket(ticket_id=ticket_id, actor=actor)
    customers = facade.contacts.match_choices(actor=actor)
    domain = str(ticket["contact_email"]).rpartition("@")[2].lower()
    return page(request, "match_customer", actor, status=status, ticket=ticket, customers=customers,
                domain=domain, public=is_public_domain(domain), errors=_translated(errors or []))


@router.post("/tickets/{ticket_id}/match", response_model=None)
async def match(ticket_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """Give the ticket its customer (and, if asked, keep the sender as the customer's contact)."""
    form = await request.form()
    check_csrf(request, form)
    raw = str(form.get("customer_id", ""))
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        errors = [{"field": "customer_id", "message": "Choose a customer"}]
        return await run_in_threadpool(lambda: _match_page(request, facade, actor, ticket_id, status=422,
                                                           errors=errors))
    language = str(form.get("language", "")) or None
    try:
        await run_in_threadpool(lambda: facade.match_ticket(
            actor=actor, ticket_id=ticket_id, customer_id=int(raw), save_contact=form.get("save_contact") == "1",
            language=language if language in i18n.LANGUAGES else None))
    except ValidationFailed as exc:
        errors = exc.errors
        return await run_in_threadpool(lambda: _match_page(request, facade, actor, ticket_id, status=422,
                                                           errors=errors))
    return RedirectResponse(f"/tickets/{ticket_id}", 303)


@router.get("/intake/contacts")
def intake_contacts(facade: Facade, actor: StaffActor,
                    customer_id: Annotated[int, Query(ge=1, le=2**31 - 1)]) -> list[dict[str, Any]]:
    """The active contacts of one customer, for the intake form's suggestions (the roles that keep contacts; the form
    works without them for the others, who get 403)."""
    found = facade.contacts.list_contacts(actor=actor, customer_id=customer_id)
    return [{"name": c["name"], "email": c["email"], "phone": c["phone"]} for c in found["contacts"] if c["active"]]
