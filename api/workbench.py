"""The process owner's workbench pages: procedures and their versions, editing diagrams, decision tables and forms
in the browser, check and deploy, compare versions, migrate running cases, the SLA what-if.

The editors post with the session cookie and the CSRF field; their answers are JSON (problems as the API's list).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from engine.errors import AftercareError, Forbidden, NotFound
from engine.users import Actor

from . import i18n
from .deps import Facade
from .json_api import error_response
from .security import StaffActor, check_csrf, staff_actor
from .staff import page
from .templating import templates
from .workbench_api import OWNERS, READERS, MigrationRequest, read_uploads, zip_response

router = APIRouter(prefix="/workbench", dependencies=[Depends(staff_actor)], include_in_schema=False)
Files = Annotated[list[UploadFile], File()]
_PREVIEW = templates.env.from_string(
    '{% from "_partials/form_fields.html" import fields %}'
    '<div class="task-form">{{ fields(form, {}, [], lang) }}</div>')


def _allowed(actor: Actor, roles: tuple[str, ...]) -> None:
    if actor.role not in roles:
        raise Forbidden("only process owners may change procedures" if roles == OWNERS
                        else "only process owners, managers and admins may see procedures")


async def _with_files(request: Request, actor: Actor, files: list[UploadFile],
                      work: Callable[[dict[str, str]], Any], status: Callable[[Any], int]) -> Response:
    """A process owner's post of edited files: CSRF, role, the files as text, then `work` on them off the event loop;
    its answer as JSON with the status `status` gives it, domain errors as the JSON API answers them."""
    check_csrf(request, await request.form())
    _allowed(actor, OWNERS)
    try:
        texts = await read_uploads(files)
        result = await run_in_threadpool(lambda: work(texts))
    except AftercareError as exc:
        return error_response(exc)
    return JSONResponse(result, status_code=status(result))


async def _answer(work: Callable[[], Any]) -> Response:
    """Run a facade verb off the event loop; its domain errors as the JSON API answers them."""
    try:
        return JSONResponse(await run_in_threadpool(work))
    except AftercareError as exc:
        return error_response(exc)


@router.get("", response_class=HTMLResponse)
def overview(request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """Every procedure with its version and running cases; every file with the procedures that use it."""
    _allowed(actor, READERS)
    return page(request, "workbench", actor, overview=facade.workbench_overview(), owner=actor.role in OWNERS)


@router.get("/processes/{process_id}", response_class=HTMLResponse)
def procedure(process_id: str, request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """One procedure: its versions, its diagram, rollback, compare and migration."""
    _allowed(actor, READERS)
    versions = facade.versions(process_id=process_id)
    newest = versions[0]
    files = facade.version_files(process_id=process_id, version=newest["version"])
    return page(request, "workbench_procedure", actor, process_id=process_id, versions=versions, newest=newest,
                xml=files.get(newest["source_file"], ""), owner=actor.role in OWNERS)


@router.get("/processes/{process_id}/versions/{version}/files.zip")
def version_files(process_id: str, version: Annotated[int, Path(ge=1, le=2**31 - 1)], facade: Facade,
                  actor: StaffActor) -> Response:
    """A version's files as a zip, for the logged-in reader."""
    _allowed(actor, READERS)
    return zip_response(process_id, version, facade.version_files(process_id=process_id, version=version))


@router.get("/processes/{process_id}/compare", response_class=HTMLResponse, response_model=None)
def compare(process_id: str, request: Request, facade: Facade, actor: StaffActor,
            old: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
            new: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> Response:
    """Two versions side by side with what changed coloured; decision rows and form fields listed. Without versions
    named, the newest against the one before it (a procedure with one version: back to its page)."""
    _allowed(actor, READERS)
    if old is None or new is None:
        numbers = [v["version"] for v in facade.versions(process_id=process_id)]  # newest first
        if len(numbers) < 2:
            return RedirectResponse(f"/workbench/processes/{process_id}", 303)
        new = new or numbers[0]
        old = old or next((n for n in numbers if n < new), numbers[-1])
    result = facade.compare_versions(process_id=process_id, old=old, new=new)
    return page(request, "workbench_compare", actor, process_id=process_id, diff=result)


@router.post("/processes/{process_id}/versions/{version}/rollback")
async def rollback(process_id: str, version: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, facade: Facade,
                   actor: StaffActor) -> RedirectResponse:
    """Deploy an old version again as the newest."""
    check_csrf(request, await request.form())
    _allowed(actor, OWNERS)
    await run_in_threadpool(lambda: facade.rollback(process_id=process_id, version=version, actor=actor))
    return RedirectResponse(f"/workbench/processes/{process_id}?rolled_back={version}", 303)


@router.post("/processes/{process_id}/migrations")
async def migrate(process_id: str, request: Request, facade: Facade, actor: StaffActor) -> Response:
    """A dry run or a batch of a bulk migration (the page sends the cases in batches and shows the progress)."""
    form = await request.form()
    check_csrf(request, form)
    _allowed(actor, OWNERS)
    try:
        args = MigrationRequest.model_validate_json(str(form.get("body", "{}")))
    except ValidationError as exc:
        return JSONResponse({"detail": "the migration request has errors",
                             "errors": [{"field": str(e["loc"][-1]) if e["loc"] else "(body)", "message": e["msg"]}
                                        for e in exc.errors()]}, status_code=422)
    return await _answer(lambda: facade.migrate_cases(
        process_id=process_id, actor=actor, from_version=args.from_version, to_version=args.to_version,
        dry_run=args.dry_run, ticket_ids=args.ticket_ids, limit=args.limit))


@router.get("/edit/{name}", response_class=HTMLResponse)
def edit(name: str, request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """The editor of one deployed file: the modeler for a diagram, the table for a decision, JSON for a form."""
    _allowed(actor, READERS)
    files = facade.current_files()
    if name not in files:
        raise NotFound(f"no deployed file named {name}")
    return page(request, "workbench_edit", actor, file=name, text=files[name], kind=name.rsplit(".", 1)[-1],
                base=hashlib.sha256(files[name].encode()).hexdigest(),
                choices=_choices(facade.workbench_overview()), owner=actor.role in OWNERS)


@router.post("/check")
async def check(request: Request, facade: Facade, actor: StaffActor, files: Files) -> Response:
    """Check edited files as deploy would; nothing is stored."""
    return await _with_files(request, actor, files, lambda texts: facade.check_files(files=texts),
                             lambda problems: 422 if problems else 200)


@router.post("/deploy")
async def deploy(request: Request, facade: Facade, actor: StaffActor, files: Files,
                 note: Annotated[str, Form(max_length=500)] = "", base: Annotated[str, Form(max_length=64)] = ""
                 ) -> Response:
    """Deploy edited files as new versions; `base` is the hash of the text the editor opened (one file)."""
    deployed: dict[str, str] = {}

    def work(texts: dict[str, str]) -> Any:
        deployed.update(texts)
        based_on = {name: base for name in texts} if base else None
        return facade.deploy(files=texts, actor=actor, note=note or None, based_on=based_on)

    response = await _with_files(request, actor, files, work, lambda _: 201)
    if response.status_code == 201 and len(deployed) == 1:  # the editor goes on from what it deployed
        response.headers["X-Aftercare-Base"] = hashlib.sha256(next(iter(deployed.values())).encode()).hexdigest()
    return response


@router.post("/forms/preview", response_class=HTMLResponse)
async def form_preview(request: Request, facade: Facade, actor: StaffActor) -> Response:
    """The form as a task page renders it, from the JSON being edited."""
    form = await request.form()
    check_csrf(request, form)
    _allowed(actor, READERS)
    text, name = str(form.get("schema", "")), str(form.get("name", "form.json"))
    try:
        schema = await run_in_threadpool(lambda: facade.form_preview(name=name, text=text))
    except AftercareError as exc:
        return error_response(exc)
    return HTMLResponse(_PREVIEW.render(form=schema, lang=i18n.current(), _=i18n.gettext))


@router.get("/sla", response_class=HTMLResponse)
def sla(request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """The SLA table in the editor, with the what-if replay over past tickets."""
    _allowed(actor, READERS)
    files = facade.current_files()
    name = next((n for n in files if n == "sla.dmn"), None)
    if name is None:
        raise NotFound("no SLA table (sla.dmn) is deployed")
    return page(request, "workbench_sla", actor, file=name, text=files[name], owner=actor.role in OWNERS,
                base=hashlib.sha256(files[name].encode()).hexdigest())


@router.post("/sla/replay")
async def sla_replay(request: Request, facade: Facade, actor: StaffActor, files: Files,
                     days: Annotated[int, Form(ge=1, le=366)] = 30) -> Response:
    """Replay past tickets against the edited table."""
    return await _with_files(request, actor, files, lambda texts: facade.replay_sla(files=texts, days=days),
                             lambda _: 200)


def _choices(overview: dict[str, Any]) -> dict[str, list[Any]]:
    """What the modeler's panel offers: forms, called procedures, decision tables."""
    names = [f["name"] for f in overview["files"]]
    return {"forms": [n for n in names if n.endswith(".json")],
            "processes": [{"id": p["process_id"], "name": p["name"]} for p in overview["procedures"]],
            "decisions": [n[:-4] for n in names if n.endswith(".dmn")]}
