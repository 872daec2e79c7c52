"""One Jinja2 environment for every page: autoescape, Babel gettext, Beijing-time formatting."""
from __future__ import annotations

import ast
import contextvars
import functools
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from jinja2 import (
    Environment,
    FileSystemLoader,
    Undefined,
    pass_context,
    pass_environment,
    pass_eval_context,
    select_autoescape,
)
from jinja2.filters import do_center, do_format, do_indent, do_join, do_replace, do_wordwrap, make_attrgetter
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from engine.conversation import MAX_FILES
from engine.script_limits import (
    BINOPS,
    BUDGET,
    Limiter,
    ScriptBudgetExceeded,
    Steps,
    check_printf,
    check_size,
    check_spec,
    check_text,
    check_urlencoded,
    guarded_sum,
    sized_items,
    sized_method,
    steps,
    weighed,
)

from . import i18n
from .incident_text import incident_error
from .security import csp_nonce
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


_RENDER_STEPS: contextvars.ContextVar[Steps | None] = contextvars.ContextVar("render_steps", default=None)


_NESTED_SPEC = re.compile(r":[^{}]*\{")  # a replacement field inside a format spec: '{:>{}}'


class _BudgetSandbox(SandboxedEnvironment):
    """The sandbox for diagram text, under the scripts' budget (engine/script_limits.py): `**`, `*`, `+`, `%` go
    through the same size guards, every loop and macro of the compiled template ticks against a CPU deadline, the
    filters that walk a sequence in one call (map, max, sort, unique, select, ...) step per item against it
    (`_stepped_first`), and calls to str methods that pad or repeat (ljust, format widths, ...) are checked first.
    A render whose deadline passed is refused at its end even if the budget's error was dropped on the way."""

    intercepted_binops = frozenset(BINOPS)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Arithmetic in a template, guarded like the scripts' (Jinja never folds an intercepted operator)."""
        return BINOPS[operator](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's names)
        """Every call ticks; str methods that could build something large are checked first."""
        __self.tick()
        owner = getattr(__obj, "__self__", None)
        if owner is not None:
            __obj = sized_method(owner, getattr(__obj, "__name__", "")) or __obj
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's sandboxed str.format, with the widths checked: those written in the text, and for a nested
        width ('{:>{}}') the numbers among the arguments."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = str(value.__self__)

        def checked(*args: Any, **kwargs: Any) -> str:
            check_spec(text)
            if _NESTED_SPEC.search(text):
                values = [*args, *kwargs.values(), *(v for a in args if isinstance(a, dict) for v in a.values())]
                check_spec(" ".join(str(v) for v in values if isinstance(v, int)))
            return wrapped(*args, **kwargs)
        return checked

    def tick(self) -> bool:
        """One step of the render under way (outside `instructions` nothing is counted)."""
        counter = _RENDER_STEPS.get()
        return counter.tick() if counter is not None else True

    def _compile(self, source: str, filename: str) -> Any:
        """Jinja's generated Python, with a tick in every loop body and macro."""
        tree = ast.parse(source, filename)
        tick = ast.Call(func=ast.Attribute(ast.Name("environment", ast.Load()), "tick", ast.Load()), args=[],
                        keywords=[])
        tree = _SizedJoins().visit(Limiter(tick=lambda: tick, operators=False, iterations=True).visit(tree))
        return compile(ast.fix_missing_locations(tree), filename, "exec")

    def sized(self, value: Any) -> Any:
        """A `~` concatenation's result, refused when too long (the parts were within the limit, so this stops
        a doubling loop at about twice the limit)."""
        if isinstance(value, str):
            check_size(value, len(value))
        return value

    def presized(self, parts: Any) -> Any:
        """The parts of a `~` concatenation, each refused first when its text would be too long (a list holding
        one long string many times is small, its text is not)."""
        for part in parts:
            if not isinstance(part, str):
                _check_text(part)
        return parts


class _SizedJoins(ast.NodeTransformer):
    """Jinja compiles `a ~ b` to `str_join((a, b))` (or `markup_join`): each result goes through `sized`."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in ("str_join", "markup_join"):
            presized = ast.Attribute(ast.Name("environment", ast.Load()), "presized", ast.Load())
            node.args = [ast.Call(func=presized, args=node.args, keywords=[])]
            sized = ast.Attribute(ast.Name("environment", ast.Load()), "sized", ast.Load())
            return ast.copy_location(ast.Call(func=sized, args=[node], keywords=[]), node)
        return node


def _check_text(value: Any) -> Any:
    """`value` if its text (what str() or a filter makes of it) stays within the size limit, estimated without
    building it: a list of 300 references to one 10 MB string is 3 GB of text."""
    if isinstance(value, str):
        check_size(value, len(value))
    else:
        check_text(value, "a template value's text")  # escapes and shared strings counted as str() would make them
    return value


def _text_first(function: Callable[..., Any]) -> Callable[..., Any]:
    """A built-in filter that turns its value into text (string, pprint, tojson, upper, ...), with the value's text
    size checked first; Jinja's `pass_context`-style marker is kept (functools.wraps copies it)."""
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if len(args) > skip:
            _check_text(args[skip])
        return function(*args, **kwargs)
    return checked


_TEXT_FILTERS = ("string", "pprint", "tojson", "e", "escape", "forceescape", "urlencode", "xmlattr", "lower",
                 "upper", "title", "capitalize", "trim", "striptags", "wordcount", "truncate", "safe", "urlize",
                 "filesizeformat")


@pass_eval_context
def _join_filter(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    """`|join`, with the items consumed one by one and refused once their joined length is over the limit."""
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    parts = (part if isinstance(part, str) else str(_check_text(part)) for part in value)  # one at a time
    return do_join(eval_ctx, sized_items(str(d), parts), d)


@pass_eval_context
def _replace_filter(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> str:
    """`|replace`, checked like the scripts' str.replace."""
    text, old, new = str(_check_text(s)), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    hits = min(hits, count) if isinstance(count, int) and count >= 0 else hits
    check_size(text, len(text) + hits * max(len(new) - len(old), 0))
    return do_replace(eval_ctx, s, old, new, count)


@pass_environment
def _wordwrap_filter(environment: Any, s: Any, width: int = 79, break_long_words: bool = True,
                     wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
    """`|wordwrap`, refused when the inserted wrap strings would make the text too long."""
    text = str(_check_text(s))
    joint = len(str(wrapstring)) if wrapstring is not None else 1
    lines = text.count("\n") + 1 + len(text) // max(width if isinstance(width, int) else 1, 1)
    check_size(text, len(text) + lines * joint)
    return do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


@pass_environment
def _sum_filter(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """`|sum`, with lists or strings added up checked for size like the scripts' sum()."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    return guarded_sum(iterable, start)


def _list_filter(value: Any) -> list[Any]:
    """`|list`: a string becomes a list of its characters, 8 bytes a reference each."""
    if isinstance(value, str | bytes):
        check_size([], len(value))
    return list(_render_items(value))


def _stepped_first(function: Callable[..., Any]) -> Callable[..., Any]:
    """A built-in filter that walks its value in one call (map, max, sort, unique, select, ...), with the items
    taking a step each against the render's deadline, and a long item (a list, a str) one more step per 1,024 of
    its length: `map('max')` on 300 references to one long list walks it 300 times, each item a step of the
    inner `max`. Jinja's `pass_context`-style marker is kept (functools.wraps copies it)."""
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(function)
    def stepped(*args: Any, **kwargs: Any) -> Any:
        if len(args) > skip:
            args = (*args[:skip], _render_items(args[skip]), *args[skip + 1:])
        return function(*args, **kwargs)
    return stepped


def _render_items(value: Any) -> Any:
    """`value`'s items stepped (and weighed) against the render's deadline; outside a render `value` itself."""
    counter = _RENDER_STEPS.get()
    if counter is None or isinstance(value, Undefined):
        return value
    return weighed(value, counter.getiter, counter.take)


_STEPPED_FILTERS = ("map", "max", "min", "unique", "sort", "groupby", "select", "reject", "selectattr", "rejectattr",
                    "sum", "join", "first", "batch", "slice")


def _count_checked(function: Callable[..., Any]) -> Callable[..., Any]:
    """`|batch(n, fill)` and `|slice(n, fill)`: `n` copies of the fill or `n` lists, refused when too many."""
    @functools.wraps(function)
    def checked(value: Any, count: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(count, int):
            check_size([], count)
        return function(value, count, *args, **kwargs)
    return checked


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    check_printf(str(value), args if args else ())
    formatted = do_format(value, *args, **kwargs)
    check_size(formatted, len(formatted))  # '%s%s'|format(s, s) in a loop doubles s
    return formatted


def _center_filter(value: str, width: int = 80) -> str:
    check_size(str(value), width if isinstance(width, int) else 0)
    return do_center(value, width)


def _indent_filter(value: str, width: Any = 4, *args: Any, **kwargs: Any) -> str:
    lines = str(value).count("\n") + 1
    check_size(str(value), len(str(value)) + lines * (width if isinstance(width, int) else len(str(width))))
    return do_indent(value, width, *args, **kwargs)


_sandbox = _BudgetSandbox(autoescape=False, finalize=_check_text)  # `{{ value }}`: its text checked first
_sandbox.filters.update({name: _text_first(_sandbox.filters[name]) for name in _TEXT_FILTERS})
_sandbox.filters.update(format=_format_filter, center=_center_filter, indent=_indent_filter, join=_join_filter,
                        replace=_replace_filter, wordwrap=_wordwrap_filter, sum=_sum_filter, list=_list_filter,
                        batch=_count_checked(_sandbox.filters["batch"]),
                        slice=_count_checked(_sandbox.filters["slice"]))
_sandbox.filters.update({name: _stepped_first(_sandbox.filters[name]) for name in _STEPPED_FILTERS})
_urlencode = _sandbox.filters["urlencode"]
_sandbox.filters["urlencode"] = lambda value: _urlencode(check_urlencoded(value))  # each byte may become %XX


@functools.lru_cache(maxsize=512)
def _instruction_template(text: str) -> Any:
    """Compiled once per text: the diagrams' instructions are few and never change within a version."""
    return _sandbox.from_string(text)


def _render_limited(text: str, context: dict[str, Any]) -> str:
    """Render under a fresh CPU deadline, stopping once the output grows beyond the size limit."""
    counter = steps()
    token = _RENDER_STEPS.set(counter)
    try:
        parts, size = [], 0
        for chunk in _instruction_template(text).generate(**context):
            size += len(chunk)
            if size > BUDGET.size_bytes:
                raise ScriptBudgetExceeded(f"instructions longer than {BUDGET.size_bytes:,} characters")
            parts.append(chunk)
        what = counter.exceeded()
        if what is not None:  # over, though the budget's error was dropped on the way
            raise ScriptBudgetExceeded(what)
        return "".join(parts)
    finally:
        _RENDER_STEPS.reset(token)


def instructions(text: str | None, ticket: dict[str, Any] | None,
                 variables: dict[str, Any] | None = None) -> Markup:
    """A task's instructions from the diagram: its Jinja placeholders filled from the ticket (sandboxed, under the
    scripts' budget), the section in the reader's language, and the little Markdown process owners use (## headings,
    **bold**). `variables` are the case variables the task sees; they win over the ticket's fields of the same name.
    Instructions that go over the budget show as written, with a short note."""
    if not text:
        return Markup("")
    ticket = ticket or {}
    context = {"ticket_number": ticket.get("number"), **ticket, **(variables or {})}
    note = ""
    try:
        text = _render_limited(text, context)
    except ScriptBudgetExceeded as exc:
        note = i18n.gettext("These instructions could not be filled in: %(reason)s") % {"reason": exc.what}
    except Exception:  # noqa: S110 - a broken placeholder must not hide the instructions
        pass
    sections = [s for s in re.split(r"(?m)^(?=## )", text) if s.strip()]
    if len(sections) == 2:
        text = sections[1] if i18n.current() == "en" else sections[0]
    html = [f'<p class="notice bad">{escape(note)}</p>'] if note else []
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
templates.env.filters["incident_error"] = incident_error  # an incident's reason in the reader's language
templates.env.filters["duration"] = _per_request(duration)
templates.env.filters["one_language"] = _per_request(in_language)  # "客户验收 Customer acceptance": the reader's half
templates.env.globals["instructions"] = instructions
templates.env.globals["current_language"] = i18n.current
templates.env.globals["max_message_files"] = MAX_FILES  # a message's files (engine/conversation.py)
templates.env.globals["csp_nonce"] = csp_nonce  # for the few inline <style> elements (api/security.py)


_ONCE = frozenset({"lang", "done", "sent", "rolled_back"})  # a language, or a notice shown once after an action


def language_href(request: Any, language: str) -> str:
    """This page's address in `language`: its query kept (a filtered list stays filtered) but for the one-off notices
    of an action just done, `lang` replaced."""
    query = getattr(request, "query_params", None)  # a page rendered without its request: no query to keep
    kept = [(k, v) for k, v in query.multi_items() if k not in _ONCE] if query is not None else []
    return "?" + urlencode([*kept, ("lang", language)])


templates.env.globals["language_href"] = language_href
