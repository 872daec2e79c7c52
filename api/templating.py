"""One Jinja2 environment for every page: autoescape, Babel gettext, Beijing-time formatting."""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from . import i18n
from .timeline import in_language

SHANGHAI = ZoneInfo("Asia/Shanghai")
_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html", "xml"]), extensions=["jinja2.ext.i18n"])
templates = Jinja2Templates(env=_env)


def local(value: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as Beijing wall-clock time."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(SHANGHAI).strftime(fmt)


_sandbox = SandboxedEnvironment(autoescape=False)


def instructions(text: str | None, ticket: dict[str, Any] | None,
                 variables: dict[str, Any] | None = None) -> Markup:
    """A task's instructions from the diagram: its Jinja placeholders filled from the ticket (sandboxed), the
    section in the reader's language, and the little Markdown process owners use (## headings, **bold**).
    `variables` are the case variables the task sees; they win over the ticket's fields of the same name."""
    if not text:
        return Markup("")
    ticket = ticket or {}
    context = {"ticket_number": ticket.get("number"), **ticket, **(variables or {})}
    with contextlib.suppress(Exception):  # a broken placeholder must not hide the instructions
        text = _sandbox.from_string(text).render(**context)
    sections = [s for s in re.split(r"(?m)^(?=## )", text) if s.strip()]
    if len(sections) == 2:
        text = sections[1] if i18n.current() == "en" else sections[0]
    html = []
    for block in re.split(r"\n\s*\n", text.strip()):
        line = str(escape(block.strip()))
        line = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", line)
        html.append(f"<h3>{line[3:]}</h3>" if line.startswith("## ") else f"<p>{line}</p>")
    return Markup("".join(html))


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def duration(value: Any) -> str:
    """An ISO 8601 duration of the SLA tables in words: PT2H -> 2 小时 / 2 h; anything else as it is."""
    match = _DURATION.match(str(value))
    if not match or not any(match.groups()):
        return str(value)
    units = ("天", "小时", "分钟") if i18n.current() != "en" else (" d", " h", " min")
    return " ".join(f"{n}{unit}" for n, unit in zip(match.groups(), units, strict=True) if n)


templates.env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]


def _per_request(function: Callable[..., str]) -> Callable[..., str]:
    """A filter whose result depends on the request's language. Jinja folds a filter applied to a literal at
    compile time, in whatever language the first request had; a filter that takes the context is never folded."""
    @pass_context
    def apply(_context: Any, value: Any, *args: Any) -> str:
        return function(value, *args)
    return apply


templates.env.filters["local"] = local
templates.env.filters["duration"] = _per_request(duration)
templates.env.filters["one_language"] = _per_request(in_language)  # "客户验收 Customer acceptance": the reader's half
templates.env.globals["instructions"] = instructions
templates.env.globals["current_language"] = i18n.current
