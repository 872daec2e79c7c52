"""One Jinja2 environment for every page: autoescape, Babel gettext, Beijing-time formatting."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from . import i18n

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


templates.env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
templates.env.filters["local"] = local
templates.env.globals["current_language"] = i18n.current
