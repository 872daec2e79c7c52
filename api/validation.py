"""Input validation at the edge (issue 11 item 2): one request-level check for every route, the field types the
JSON models share, and error bodies that never echo more than a short excerpt of what was sent.

`check_request` runs before every route's own parameters (an app-wide dependency): it refuses NUL and other
control characters, lone surrogates and non-characters in path parameters, query strings, JSON bodies (keys and
values, at any depth), form fields and upload file names, and integer query parameters no column can hold. A
refusal is a 422 naming the field, whatever the database: PostgreSQL would refuse a NUL with a server error and
SQLite would store it. Tab, line feed and carriage return pass in bodies (multi-line text); a field that is one
line (`Line`) refuses them too.
"""
from __future__ import annotations

import math
import re
from collections.abc import AsyncGenerator, Iterable
from typing import Annotated, Any, Literal, get_args

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import AfterValidator, Field
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from . import i18n

MAX_INT = 2**31 - 1  # the integer columns are 32-bit on PostgreSQL
EXCERPT = 100  # characters of a sent value an error message may quote
MAX_BUFFERED = 32 * 1024 * 1024  # a multipart body up to this size is read into memory to check its text fields
# C0 controls but tab, line feed and carriage return; DEL and the C1 controls; lone surrogates (no database can
# store them); the non-characters U+FFFE and U+FFFF
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_BAD_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_INTEGER = re.compile(r"[+-]?\d+")
LANGUAGES = ("zh-CN", "en")


def bad_character(text: str, *, multiline: bool = True) -> str | None:
    """The first character `text` may not contain, as U+XXXX, or None when it is clean."""
    found = (_BAD if multiline else _BAD_LINE).search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """At most `limit` characters of `text`, marked when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def _clean(multiline: bool) -> AfterValidator:
    def check(value: str) -> str:
        bad = bad_character(value, multiline=multiline)
        if bad in ("U+0009", "U+000A", "U+000D"):
            raise ValueError("must be one line")
        if bad:
            raise ValueError(f"contains the control character {bad}")
        return value
    return AfterValidator(check)


# one line of text: a title, a name (no line breaks: it may become an e-mail subject)
Line = Annotated[str, _clean(multiline=False)]
# text that may run over several lines: a description, a message body
Text = Annotated[str, _clean(multiline=True)]
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"  # RFC 5322 atext, plus UTF-8 (RFC 6531)
_LOCAL = re.compile(rf"{_ATOM}(\.{_ATOM})*")
_LETTER = "A-Za-z0-9\u0080-\U0010ffff"
_LABEL = re.compile(rf"[{_LETTER}]([{_LETTER}-]{{0,61}}[{_LETTER}])?")


def is_email(text: str) -> bool:
    """One plain mailbox as RFC 5321 sends to: dot-atom local part (64 at most), a domain of two or more labels
    (letters, digits, hyphens inside; non-ASCII letters for internationalised names), 254 characters at most."""
    if len(text) > 254 or text.count("@") != 1 or bad_character(text, multiline=False):
        return False
    local, domain = text.split("@")
    labels = domain.split(".")
    return (len(local) <= 64 and bool(_LOCAL.fullmatch(local)) and len(labels) >= 2
            and all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit())


def _email(value: str) -> str:
    if not is_email(value.strip()):
        raise ValueError("not an e-mail address")
    return value.strip()


Email = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(_email)]
Language = Literal["zh-CN", "en"]
Tier = Literal["standard", "premium"]  # engine/contracts.py TIERS (a test keeps them equal)


async def check_request(request: Request) -> None:
    """Refuse a request whose path, query, body or form carries a character no text field may hold, or an
    integer parameter beyond the columns: 422 naming each field. Runs before the route's own parameters."""
    errors = [*_parameter_errors(request)]
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        errors += await _json_errors(request)
    elif content_type == "application/x-www-form-urlencoded":
        errors += _form_errors((await request.form()).multi_items())
    elif content_type == "multipart/form-data":
        errors += await _multipart_errors(request)
    if errors:
        raise RequestValidationError(errors)


def _error(loc: tuple[Any, ...], message: str) -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": "value_error"}


def _parameter_errors(request: Request) -> Iterable[dict[str, Any]]:
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    # integer query parameters; those of paths are DbId (api/deps.py), or the customer pages' own 404s
    integers = {p.alias for p in dependant.query_params if _is_int(p.field_info.annotation)} if dependant else set()
    for where, items in (("path", request.path_params.items()), ("query", request.query_params.multi_items())):
        for name, value in items:
            if not isinstance(value, str):
                continue
            bad = bad_character(value, multiline=False)
            if bad:
                yield _error((where, name), f"contains the control character {bad}")
            elif where == "query" and name in integers and _INTEGER.fullmatch(value.strip()) \
                    and (len(value.strip().lstrip("+-").lstrip("0")) > 10 or abs(int(value)) > MAX_INT):
                yield _error((where, name), f"must be at most {MAX_INT}")


def _is_int(annotation: Any) -> bool:
    return annotation is int or int in get_args(annotation)  # int, int | None


async def _json_errors(request: Request) -> list[dict[str, Any]]:
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # not JSON (or nested beyond reason): the route's own parsing says so
        return []
    return list(_walk(body, ("body",)))


def _walk(body: Any, root: tuple[Any, ...]) -> Iterable[dict[str, Any]]:
    """Every string, name and number of a JSON document, however deep (a stack, not recursion)."""
    stack = [(body, root)]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, str):
            bad = bad_character(value)
            if bad:
                yield _error(loc, f"contains the control character {bad}")
        elif isinstance(value, float) and not math.isfinite(value):
            yield _error(loc, "must be a finite number")
        elif isinstance(value, dict):
            for key, item in value.items():
                bad = bad_character(str(key), multiline=False)
                if bad:
                    yield _error((*loc, excerpt(str(key), 40)), f"the name contains the control character {bad}")
                else:
                    stack.append((item, (*loc, key)))
        elif isinstance(value, list):
            stack.extend((item, (*loc, index)) for index, item in enumerate(value))


def _form_errors(items: Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    errors = []
    for name, value in items:
        text = value.filename or "" if isinstance(value, UploadFile) else value
        bad = bad_character(name, multiline=False) or (bad_character(text) if isinstance(text, str) else None)
        if bad:
            errors.append(_error(("body", excerpt(name, 40)), f"contains the control character {bad}"))
    return errors


async def _multipart_errors(request: Request) -> list[dict[str, Any]]:
    """The text fields and file names of a multipart body. The body is read (and kept for the route) and parsed
    here on its own, so a route's own form limits (a number of files, say) still apply when it parses it. A route
    that declares form parameters has had FastAPI parse it already: that form is checked."""
    parsed = getattr(request, "_form", None)  # Starlette keeps the parsed form there; the body is gone
    if parsed is not None:
        return _form_errors(parsed.multi_items())
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_BUFFERED:  # not held in memory: the database's net (engine/uow.py)
        return []
    body = await request.body()

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body
        yield b""

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1000, max_fields=1000).parse()
    except MultiPartException:  # malformed: the route's own parsing answers it
        return []
    try:
        return _form_errors(form.multi_items())
    finally:
        await form.close()


def error_entries(raw: Iterable[Any]) -> list[dict[str, Any]]:
    """FastAPI's validation errors in the contract's shape: {field, message}, plus the location; never the value
    that was sent (pydantic keeps it under `input`), and a message cut to a short excerpt."""
    entries = []
    for e in raw:
        loc = [part if isinstance(part, int) else excerpt(str(part), 40) for part in e.get("loc") or ()]
        entries.append({"field": str(loc[-1]) if loc else "(body)", "message": excerpt(str(e.get("msg", "")), 200),
                        "loc": loc})
    return entries


def validation_error_response(request: Request, errors: list[dict[str, Any]]) -> Response:
    """A 422 for bad input: JSON for the API and any client that does not ask for HTML; a page for a browser."""
    if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": "the request has errors", "errors": errors}, status_code=422)
    from .staff import page  # staff pages import much of the app: only here, when a browser needs a page

    fields = ", ".join(dict.fromkeys(str(e["field"]) for e in errors))
    message = i18n.gettext("Please check what you entered: %(fields)s.") % {"fields": excerpt(fields, EXCERPT)}
    # with the menu of whoever is logged in (the session middleware found them before any route ran)
    response: HTMLResponse = page(request, "error", getattr(request.state, "staff_actor", None), status=422,
                                  message=message)
    return response
