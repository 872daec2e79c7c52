"""The process owners' workbench over the JSON API (DESIGN.md §4 "Workbench"): check, deploy, versions, files,
compare, rollback, migrate running cases, replay the SLA. Process owners (and admins) change; managers read."""
from __future__ import annotations

import io
import zipfile
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from engine.errors import Forbidden, InvalidProcess
from engine.users import Actor

from .deps import ApiActor, ApiRoute, Facade, api_actor

router = APIRouter(prefix="/api", dependencies=[Depends(api_actor)], route_class=ApiRoute, tags=["workbench"])
OWNERS = ("process_owner", "admin")
READERS = (*OWNERS, "manager")
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 100
VersionNo = Annotated[int, Path(ge=1, le=2**31 - 1)]
Uploads = Annotated[list[UploadFile], File(description="diagrams (.bpmn), decision tables (.dmn), forms (.json)")]


class MigrationRequest(BaseModel):
    from_version: int = Field(ge=1, le=2**31 - 1)
    to_version: int = Field(ge=1, le=2**31 - 1)
    dry_run: bool = True
    ticket_ids: list[int] | None = Field(default=None, max_length=10000,
                                         description="only these tickets' cases (a batch of a bulk migration)")
    limit: int | None = Field(default=None, ge=1, le=10000)


def require(actor: Actor, roles: tuple[str, ...]) -> None:
    """403 unless the actor has one of `roles`."""
    if actor.role not in roles:
        raise Forbidden("only process owners may change procedures" if roles == OWNERS
                        else "only process owners, managers and admins may see procedures")


async def read_uploads(files: list[UploadFile]) -> dict[str, str]:
    """The uploaded files as text by name; InvalidProcess naming each file that is no UTF-8 text or too big."""
    texts: dict[str, str] = {}
    problems: list[dict[str, Any]] = []
    for upload in files[:MAX_FILES]:
        name = (upload.filename or "unnamed").replace("\\", "/").rsplit("/", 1)[-1][:200] or "unnamed"
        if name in texts or any(p["file"] == name for p in problems):
            problems.append(_problem(name, "the file was uploaded twice in one request; upload each name once",
                                     "同一请求中此文件上传了两次；每个文件名只上传一次"))
            continue
        data = await upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            problems.append(_problem(name, "the file is larger than 2 MB", "文件超过 2 MB"))
            continue
        try:
            texts[name] = data.decode("utf-8-sig").replace("\x00", "")
        except UnicodeDecodeError as exc:
            problems.append(_problem(name, f"not UTF-8 text (byte {exc.start})",
                                     f"不是 UTF-8 文本（第 {exc.start} 字节）"))
    if len(files) > MAX_FILES:
        problems.append(_problem("(upload)", f"at most {MAX_FILES} files at once", f"一次最多上传 {MAX_FILES} 个文件"))
    if problems:
        raise InvalidProcess(problems)
    return texts


def _problem(file: str, message: str, message_zh: str) -> dict[str, Any]:
    return {"file": file, "element_id": None, "line": None, "message": message, "message_zh": message_zh}


@router.post("/processes/check", responses={422: {"description": "the problems, located"}})
async def check(facade: Facade, actor: ApiActor, files: Uploads) -> JSONResponse:
    """Check files as deploy would, storing nothing: 200 `[]`, or 422 with the problems."""
    require(actor, OWNERS)
    texts = await read_uploads(files)
    problems = await run_in_threadpool(lambda: facade.check_files(files=texts))
    return JSONResponse(problems, status_code=422 if problems else 200)


@router.post("/processes", status_code=201, responses={422: {"description": "the problems, located"}})
async def deploy(facade: Facade, actor: ApiActor, files: Uploads,
                 note: Annotated[str | None, Query(max_length=500, description="what changed, for the history")] = None,
                 note_field: Annotated[str | None, Form(alias="note", max_length=500)] = None) -> list[dict[str, Any]]:
    """Deploy diagrams, decision tables and forms: `[{process_id, version}]`, the versions this deploy created.
    The note may come as a query parameter or as a form field beside the files."""
    require(actor, OWNERS)
    texts = await read_uploads(files)
    return await run_in_threadpool(lambda: facade.deploy(files=texts, actor=actor, note=note or note_field))


@router.get("/processes/{process_id}/versions")
def versions(process_id: str, facade: Facade, actor: ApiActor) -> list[dict[str, Any]]:
    """A procedure's versions, newest first, with the running cases on each."""
    require(actor, READERS)
    return facade.versions(process_id=process_id)


@router.get("/processes/{process_id}/versions/{version}/files", response_class=Response,
            responses={200: {"content": {"application/zip": {}}}})
def version_files(process_id: str, version: VersionNo, facade: Facade, actor: ApiActor) -> Response:
    """The files of one version, as a zip."""
    require(actor, READERS)
    return zip_response(process_id, version, facade.version_files(process_id=process_id, version=version))


def zip_response(process_id: str, version: int, files: dict[str, str]) -> Response:
    """A version's files as a zip download."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    filename = f"{process_id}-v{version}.zip"
    return Response(buffer.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/processes/{process_id}/compare")
def compare(process_id: str, facade: Facade, actor: ApiActor, old: Annotated[int, Query(ge=1, le=2**31 - 1)],
            new: Annotated[int, Query(ge=1, le=2**31 - 1)]) -> dict[str, Any]:
    """What changed between two versions: diagram elements, decision rows, form fields."""
    require(actor, READERS)
    return facade.compare_versions(process_id=process_id, old=old, new=new)


@router.post("/processes/{process_id}/versions/{version}/rollback", status_code=201)
def rollback(process_id: str, version: VersionNo, facade: Facade, actor: ApiActor) -> list[dict[str, Any]]:
    """Deploy an old version again as a new version."""
    require(actor, OWNERS)
    return facade.rollback(process_id=process_id, version=version, actor=actor)


@router.post("/processes/{process_id}/migrations")
def migrate(process_id: str, body: MigrationRequest, facade: Facade, actor: ApiActor) -> dict[str, Any]:
    """Move the running cases of one version to another (after a dry run, which changes nothing)."""
    require(actor, OWNERS)
    return facade.migrate_cases(process_id=process_id, actor=actor, **body.model_dump())


@router.post("/sla/replay")
async def replay(facade: Facade, actor: ApiActor, files: Uploads,
                 days: Annotated[int, Query(ge=1, le=366)] = 30,
                 days_field: Annotated[int | None, Form(alias="days", ge=1, le=366)] = None) -> dict[str, Any]:
    """Replay the last `days` days of tickets against a candidate sla.dmn: breaches then and under the candidate
    (`days` as a query parameter or a form field)."""
    require(actor, OWNERS)
    texts = await read_uploads(files)
    return await run_in_threadpool(lambda: facade.replay_sla(files=texts, days=days_field or days))
