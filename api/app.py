"""The FastAPI application: JSON API, staff pages, customer pages, health check and the background worker."""
from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from engine.commands import Aftercare
from engine.db import startup_lock
from engine.errors import AftercareError, NotFound
from engine.settings import Settings
from engine.throttle import TooManyAttempts
from engine.users import Actor

from . import i18n
from .admin_api import router as admin_api_router
from .attachments import router as attachments_router
from .contacts import router as contacts_router
from .conversation import api_router as conversation_api_router
from .conversation import public_router as conversation_public_router
from .conversation import router as conversation_router
from .customer import public_customer_router
from .dashboard import router as dashboard_router
from .documents import router as documents_router
from .inbound_log import api_router as inbound_api_router
from .inbound_log import page_router as inbound_page_router
from .incidents import api_router as incidents_api_router
from .incidents import page_router as incidents_page_router
from .inspections import router as inspections_router
from .json_api import error_response, router, token_router
from .kb import api_router as kb_api_router
from .kb import public_kb_router
from .kb import router as kb_router
from .mail_in import serve_mail_in
from .portal import public_portal_router
from .preferences import router as preferences_router
from .procedures_api import router as procedures_router
from .reports import router as reports_router
from .security import SESSION_COOKIE, CsrfFailed, LoginRequired, StaffSessionMiddleware
from .self_service import public_self_service_router
from .service_form import router as service_form_router
from .staff import error_page, page, public_staff_router
from .staff import router as staff_router
from .templating import templates
from .ticket_list import router as ticket_list_router
from .tickets_api import router as tickets_api_router
from .users_admin import router as users_admin_router
from .validation import check_request, error_entries, validation_error_response
from .workbench import router as workbench_router
from .workbench_api import router as workbench_api_router
from .worker import Worker

DEPLOYER = Actor("startup", "process_owner")
STATIC = Path(__file__).parent / "static"
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
VENDOR = {"bpmn-js": NODE_MODULES / "bpmn-js" / "dist", "dmn-js": NODE_MODULES / "dmn-js" / "dist",
          "echarts": NODE_MODULES / "echarts" / "dist"}
# Where an unknown address or method answers as the framework does: the JSON API (its contract) and static files.
PLAIN_ERRORS = ("/api", "/static/", "/vendor/")
CUSTOMER_AREAS = frozenset({"c", "s", "my", "portal"})  # first path segments of the customer pages
NO_PAGE = "This page or record does not exist."
NO_METHOD = "This page does not take this kind of request. Please use the links and buttons on the page."


def prepare(facade: Aftercare) -> None:
    """Migrate the database and deploy the procedures in AFTERCARE_PROCESSES_DIR, one process at a time (several
    servers and workers may start together on one PostgreSQL database)."""
    with startup_lock(facade.db):
        facade.migrate()
        facade.deploy_directory(directory=facade.settings.processes_dir, actor=DEPLOYER)


# Young objects collected every 50,000 allocations instead of 700: a step or a timer firing makes tens of thousands
# (a deserialized case is thousands of objects), most gone by the end of it. A 600-timer burst fired at 4.1 ms of CPU
# a firing against 4.8 ms with the default (medians of 5 alternating runs, bench/timers.py's burst); the memory held
# between collections is a few megabytes.
GC_THRESHOLDS = (50_000, 10, 10)


def settle_memory() -> None:
    """Once a server process has started: what it has loaded by now (libraries, the app, the procedures' parsed
    specs) lives as long as the process, so the garbage collector stops walking it on every full collection; and it
    collects young objects less often (GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(facade: Aftercare | None = None, *, run_worker: bool | None = None) -> FastAPI:
    """The app; it owns a facade made from the environment unless one is given. It runs the background worker
    (timers, mail, mail-in) unless told not to, here or by AFTERCARE_RUN_WORKER=0."""
    owned = facade is None
    facade = facade or Aftercare(Settings())
    if run_worker is None:
        run_worker = facade.settings.run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            prepare(facade)
            settle_memory()
        worker = Worker(facade, facade.settings.scheduler_interval) if run_worker else None
        if worker:
            worker.start()
        mail_in = serve_mail_in(facade) if run_worker else None  # AFTERCARE_MAIL_IN_PORT=0: no listener
        try:
            yield
        finally:
            if mail_in:
                mail_in.stop()
            if worker:
                worker.stop()
            if owned:
                facade.close()

    app = FastAPI(title="Aftercare", version="0.1.0", lifespan=lifespan,
                  description="After-sales service desk run by BPMN diagrams.",
                  dependencies=[Depends(check_request)])  # every route: api/validation.py
    app.state.facade = facade
    for r in (token_router, router, public_customer_router, public_staff_router, staff_router, attachments_router,
              public_portal_router, admin_api_router, inspections_router, workbench_api_router,
              workbench_router, ticket_list_router, tickets_api_router, dashboard_router, reports_router,
              preferences_router):
        app.include_router(r)
    app.include_router(documents_router)
    app.include_router(service_form_router)
    app.include_router(procedures_router)
    for r in (incidents_api_router, incidents_page_router):
        app.include_router(r)
    app.include_router(public_self_service_router)
    app.include_router(contacts_router)
    for r in (conversation_api_router, conversation_router, conversation_public_router):
        app.include_router(r)
    for r in (kb_api_router, kb_router, public_kb_router):  # staff's /kb/new before the public /kb/{id}
        app.include_router(r)
    for r in (inbound_api_router, inbound_page_router):
        app.include_router(r)
    app.include_router(users_admin_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for name, folder in VENDOR.items():  # installed from npm by `make`; without them no diagram is drawn
        if folder.is_dir():
            app.mount(f"/vendor/{name}", StaticFiles(directory=folder), name=name)
    _add_middleware(app, facade)
    _add_error_handlers(app)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    logging.getLogger("spiff").setLevel(logging.WARNING)
    return app


def _add_middleware(app: FastAPI, facade: Aftercare) -> None:
    # Plain ASGI middlewares (no BaseHTTPMiddleware: its task and streams per request cost more than the work of a
    # small request). The last added is the outermost. StaffSessionMiddleware also adds the security headers.
    app.add_middleware(i18n.LanguageMiddleware, https=facade.settings.https)
    app.add_middleware(StaffSessionMiddleware, facade=facade)  # inside the cookie's: checks its server-side session
    app.add_middleware(SessionMiddleware, secret_key=facade.settings.secret_key, session_cookie=SESSION_COOKIE,
                       max_age=facade.settings.session_max_hours * 3600, same_site="lax",
                       https_only=facade.settings.https)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AftercareError)
    async def domain_error(request: Request, exc: AftercareError) -> Response:
        if request.url.path.startswith("/api"):
            return error_response(exc)
        return error_page(request, exc)

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, exc: RequestValidationError) -> Response:
        return validation_error_response(request, error_entries(exc.errors()))  # never echoes the input

    @app.exception_handler(TooManyAttempts)
    async def too_many_attempts(_request: Request, exc: TooManyAttempts) -> Response:
        return JSONResponse({"detail": exc.message}, status_code=429, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(LoginRequired)
    async def login_required(_request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={exc.next_url}", 303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code not in (404, 405) or request.url.path.startswith(PLAIN_ERRORS):
            return await http_exception_handler(request, exc)  # {"detail": ...} as FastAPI answers
        return address_error_page(request, exc.status_code, exc.headers)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        message = i18n.gettext("The form expired or did not come from this site. Please reload the page and try again.")
        return page(request, "error", None, status=403, message=message)


def address_error_page(request: Request, status: int, headers: Mapping[str, str] | None) -> Response:
    """No page at this address (404) or none for this method (405), in the reader's language: a customer page with a
    link to the portal under the customers' addresses (and the public knowledge base when no one is logged in),
    else the staff error page with its link to the task list (and the menu when someone is logged in)."""
    actor = getattr(request.state, "staff_actor", None)
    area = request.url.path.lstrip("/").split("/", 1)[0]
    if area in CUSTOMER_AREAS or (area == "kb" and actor is None):
        message = i18n.gettext(NO_PAGE if status == 404 else NO_METHOD)
        return templates.TemplateResponse(request, "customer/error.html", {"lang": i18n.current(), "message": message},
                                          status_code=status, headers=headers)
    response = error_page(request, NotFound(NO_PAGE)) if status == 404 else page(
        request, "error", actor, status=status, message=i18n.gettext(NO_METHOD))
    response.headers.update(headers or {})  # 405: Allow names the methods the address takes
    return response
