"""The FastAPI application: JSON API, customer pages, health check and the background worker."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from engine.commands import Aftercare
from engine.errors import AftercareError
from engine.settings import Settings
from engine.users import Actor

from .customer import public_customer_router
from .json_api import error_response, router, token_router
from .worker import Worker

DEPLOYER = Actor("startup", "process_owner")


def prepare(facade: Aftercare) -> None:
    """Migrate the database and deploy the procedures in AFTERCARE_PROCESSES_DIR."""
    facade.migrate()
    facade.deploy_directory(directory=facade.settings.processes_dir, actor=DEPLOYER)


def create_app(facade: Aftercare | None = None, *, run_worker: bool = True) -> FastAPI:
    """The app; it owns a facade made from the environment unless one is given."""
    owned = facade is None
    facade = facade or Aftercare(Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            prepare(facade)
        worker = Worker(facade, facade.settings.scheduler_interval) if run_worker else None
        if worker:
            worker.start()
        try:
            yield
        finally:
            if worker:
                worker.stop()
            if owned:
                facade.close()

    app = FastAPI(title="Aftercare", version="0.1.0", lifespan=lifespan,
                  description="After-sales service desk run by BPMN diagrams.")
    app.state.facade = facade
    app.include_router(token_router)
    app.include_router(router)
    app.include_router(public_customer_router)

    @app.exception_handler(AftercareError)
    async def domain_error(_request: Request, exc: AftercareError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def request_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": str(e["loc"][-1]) if e.get("loc") else "(body)", "message": e.get("msg", "")}
                  for e in exc.errors()]
        return JSONResponse({"detail": "the request has errors", "errors": errors}, status_code=422)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    logging.getLogger("spiff").setLevel(logging.WARNING)
    return app
