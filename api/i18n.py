"""Languages: zh-CN by default, English on request; strings come from Babel message catalogs (.po)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from starlette.requests import HTTPConnection
from starlette.responses import Response

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
CATALOGS = Path(__file__).parent / "translations"
_current: ContextVar[str] = ContextVar("language", default=DEFAULT)
_catalogs: dict[str, dict[str, str]] = {}


def _load(language: str) -> dict[str, str]:
    if language not in _catalogs:
        folder = CATALOGS / language.replace("-", "_") / "LC_MESSAGES"
        table: dict[str, str] = {}
        # messages.po first, then one catalog per feature (conversation.po, kb.po ...) in name order
        for path in sorted(folder.glob("*.po"), key=lambda p: (p.name != "messages.po", p.name)):
            with path.open("rb") as handle:
                for message in read_po(handle):
                    if message.id and message.string:
                        table[str(message.id)] = str(message.string)
        _catalogs[language] = table
    return _catalogs[language]


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language for a request: ?lang= first, then the remembered cookie, then Accept-Language."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return str(candidate)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


def activate(language: str) -> None:
    """Make `language` the language of this request."""
    _current.set(language if language in LANGUAGES else DEFAULT)


def current() -> str:
    """The language of this request."""
    return _current.get()


def translate(message: str, language: str) -> str:
    """`message` in `language`, whatever the current request's language (e-mails follow their recipient's)."""
    return _load(language).get(message, message)


def gettext(message: str) -> str:
    """Translate `message` (an English msgid) into the request's language."""
    return _load(_current.get()).get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Plural-aware gettext (Chinese has one form)."""
    return gettext(singular if n == 1 else plural)




def prefer(query: str | None, cookie: str | None, language: str | None) -> str:
    """A customer page's language: the reader's own choice (?lang=, or the one remembered in the cookie) wins;
    otherwise `language`, the ticket's contact's or customer's; made the language of this request."""
    for chosen in (query, cookie, language):
        if chosen in LANGUAGES:
            activate(str(chosen))
            return str(chosen)
    activate(DEFAULT)
    return DEFAULT


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class LanguageMiddleware:
    """Makes the request's language (`negotiate`: ?lang=, the `lang` cookie, Accept-Language) the current one
    before any route runs; a language chosen with ?lang= is remembered in the `lang` cookie for a year.

    A plain ASGI middleware: the request runs in this middleware's own context, so the language it activates is
    the one every route, template and error handler sees."""

    def __init__(self, app: App, https: bool = False) -> None:
        self.app = app
        self.cookies: dict[str, tuple[bytes, bytes]] = {}
        for language in LANGUAGES:  # Starlette's own Set-Cookie, made once per language
            response = Response()
            response.set_cookie("lang", language, max_age=365 * 86400, samesite="lax", secure=https)
            self.cookies[language] = response.raw_headers[-1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = HTTPConnection(scope)
        chosen = request.query_params.get("lang") if scope.get("query_string") else None
        language = negotiate(chosen, request.cookies.get("lang"), request.headers.get("accept-language"))
        activate(language)
        if chosen not in LANGUAGES:
            await self.app(scope, receive, send)
            return
        cookie = self.cookies[language]

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), cookie]
            await send(message)

        await self.app(scope, receive, send_with_cookie)
