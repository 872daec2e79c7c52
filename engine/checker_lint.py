"""Lint what Spiff parses without complaint but fails at run time: scripts, conditions, timers, user tasks' lanes and
forms, and the cells of decision tables (Python here, where modelers write JUEL or FEEL)."""
from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)

from .checker_messages import BPMN_NS, clean_upstream
from .effects import CUSTOMER_LANE, ROLES
from .script_limits import exploding_placeholder
from .scripting import ScriptRejected, compile_checked

Add = Callable[..., None]  # add(kind, element_id=None, **params)
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_ISO_LITERAL = re.compile(r"\s*(R\d*/)?P[0-9YMWDTHS.,]+\s*")
_JUEL = re.compile(r"^\s*[$#]\{(.*)\}\s*$", re.S)
_FEEL_RANGE = re.compile(r"^\s*([\[\]\(])\s*([^\[\]()]+?)\s*\.\.\s*([^\[\]()]+?)\s*([\[\])])\s*$")
_FEEL_NOT = re.compile(r"^\s*not\s*\((.*)\)\s*$", re.S)
_FEEL_FUNCTION = re.compile(r"\b(date and time|date|time|duration|years and months duration)\s*\(")
_QUESTION = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")  # DMNEngine's rule: '?' outside quotes
ALLOWED_HIT_POLICIES = ("UNIQUE", "FIRST", "ANY", "COLLECT")
_PYTHON_INSTEAD_OF_FUNCTION = ('a Python expression on the input (?), e.g. ? < "2020-01-01" for ISO date texts',
                               '针对输入值（?）的 Python 表达式，例如对 ISO 日期文本写 ? < "2020-01-01"')
PYTHON_FORMATS = ("python", "python3", "py", "text/x-python", "")


def lint_task(ts: Any, forms: dict[str, Any], element: Any, add: Add) -> None:
    """Every check on one task spec; `element` is its XML element (for modeler extensions Spiff ignores)."""
    if type(ts).__name__ == "ServiceTask":
        add("service_task", name=ts.bpmn_name or ts.bpmn_id)  # scripting.py: no services for diagrams
    script_format = element.get("scriptFormat") if element is not None else None
    if script_format and script_format.strip().lower() not in PYTHON_FORMATS:
        add("script_format", name=ts.bpmn_name or ts.bpmn_id, format=script_format)
        return
    lint_code(ts, add, element)
    lint_timers(ts, add, ts.bpmn_name or ts.bpmn_id)
    if ts.manual and type(ts).__name__ != "NoneTask":
        lint_user_task(ts, forms, element, add)


def lint_code(ts: Any, add: Add, element: Any = None) -> None:
    """Scripts and gateway conditions compile in the restricted environment."""
    words = {"script": ("script", "脚本"), "prescript": ("prescript", "前置脚本"),
             "postscript": ("postscript", "后置脚本")}
    for attr, what in words.items():
        code = getattr(ts, attr, None)
        if code:
            compile_or_report(code, "exec", what, add)
    for cond, target in getattr(ts, "cond_task_specs", []) or []:
        expr = cond.args[0] if cond is not None and getattr(cond, "args", None) else None
        if expr:
            # A target with boundary events is Spiff's 'X.BoundaryEventSplit': the diagram knows it as X.
            name = getattr(target, "bpmn_id", None) or str(getattr(target, "name", target)).split(".")[0]
            compile_or_report(expr, "eval", (f"condition of the flow to '{name}'", f"流向 '{name}' 的条件"), add,
                              flow_id(element, name, expr))


def flow_id(gateway: Any, target: str, expr: str) -> str | None:
    """The id of the sequence flow from `gateway` to `target` that carries condition `expr` (Spiff keeps only the
    condition and the target), so the problem points at the flow to fix."""
    if gateway is None or gateway.getparent() is None:
        return None
    for flow in gateway.getparent().iterchildren(f"{{{BPMN_NS}}}sequenceFlow"):
        if flow.get("sourceRef") == gateway.get("id") and flow.get("targetRef") == target:
            condition = flow.find(f"{{{BPMN_NS}}}conditionExpression")
            if condition is not None and (condition.text or "").strip() == expr.strip():
                return str(flow.get("id"))
    return None


def compile_or_report(source: str, mode: str, what: tuple[str, str], add: Add, element_id: str | None = None) -> bool:
    """Compile restricted `source`; report JUEL (`${...}`) as such, anything else the compiler refuses as it says."""
    juel = _JUEL.match(source)
    if juel:
        add("juel", element_id, what=what, source=repr(source.strip()[:120]), suggestion=juel_suggestion(juel.group(1)))
        return False
    try:
        compile_checked(source, mode)
    except ScriptRejected as exc:
        # The compiler's own words ("SyntaxError: invalid syntax", "imports are not allowed") are for the author.
        add("code_refused", element_id, what=what, reason=str(exc), source=repr(source.strip()[:120]))
        return False
    return True


def juel_suggestion(body: str) -> str | tuple[str, str]:
    """What to write instead of the JUEL expression `body` (the text inside `${...}`): its Python translation, or
    plain advice when it does not translate."""
    python = juel_to_python(body)
    return repr(python) if python is not None else ("it as a Python expression", "Python 表达式")


_JUEL_TOKEN = re.compile(r"""(?P<text>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(?P<op>&&|\|\||!=|==|!)"""
                         r"|(?P<word>[A-Za-z_]\w*)|(?P<other>.)", re.S)
_JUEL_WORDS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "div": "/", "mod": "%",
               "null": "None", "true": "True", "false": "False", "empty": "not", "and": "and", "or": "or",
               "not": "not"}
_JUEL_OPS = {"&&": " and ", "||": " or ", "!": " not ", "!=": " != ", "==": " == "}
_JUEL_CONTEXT = frozenset({"execution", "task", "camunda", "authorization", "variables"})  # Camunda's own beans


def juel_to_python(body: str) -> str | None:
    """`!approved && amount > 1000` -> `not approved and amount > 1000`: JUEL's operators in Python (`!`, `&&`, `||`,
    `empty x`, eq/ne/lt/gt/le/ge, null/true/false); None when it does not translate (a ternary, a method call, one of
    Camunda's beans) or the result is no Python expression."""
    out: list[str] = []
    for match in _JUEL_TOKEN.finditer(body):
        kind, token = match.lastgroup, match.group(0)
        if kind == "text":
            out.append(token)
        elif kind == "op":
            out.append(_JUEL_OPS[token])
        elif kind == "word":
            if token in _JUEL_CONTEXT:
                return None
            out.append(_JUEL_WORDS.get(token, token))
        elif token in "?:" or (token == "(" and out and out[-1][-1:].isidentifier() and "." in "".join(out[-3:])):
            return None  # a ternary, a map literal or a method call
        else:
            out.append(token)
    python = re.sub(r"\s+", " ", "".join(out)).replace("( ", "(").strip()
    python = re.sub(r"\bnot not ", "", python)
    python = re.sub(r"\s*!=\s*None\b", " is not None", re.sub(r"\s*==\s*None\b", " is None", python))
    try:
        compile_checked(python, "eval")
    except ScriptRejected:
        return None
    return python or None


def lint_timers(ts: Any, add: Add, name: str | None = None) -> None:
    """Timer expressions are Python giving ISO 8601 text; literal values must parse and fit the timer's kind."""
    ed = getattr(ts, "event_definition", None)
    eds = ed.event_definitions if isinstance(ed, MultipleEventDefinition) else [ed]
    for timer in (e for e in eds if isinstance(e, TimerEventDefinition)):
        _lint_timer(timer, add, name or getattr(ts, "bpmn_id", "") or "")


# The timer kinds, the shapes of ISO 8601 literals, and what a timer of each kind needs.
_TIMER_KINDS = {"date": ("the date timer (timeDate)", "日期定时器（timeDate）"),
                "duration": ("the duration timer (timeDuration)", "时长定时器（timeDuration）"),
                "cycle": ("the cycle timer (timeCycle)", "循环定时器（timeCycle）")}
_SHAPES = {"date": ("a date-time", "日期时间"), "duration": ("a duration", "时长"), "cycle": ("a cycle", "循环周期")}
_TIMER_ADVICE = {
    "date": ('a date timer needs an ISO date-time such as "2026-12-01T09:00:00+08:00" or an expression giving one, '
             "e.g. add_working_hours(created_at, 4); to wait for a while, use a duration timer",
             '日期定时器需要 ISO 日期时间，例如 "2026-12-01T09:00:00+08:00"，或得出日期时间的表达式，例如 '
             "add_working_hours(created_at, 4)；若要等待一段时间，请改用时长定时器"),
    "duration": ('a duration timer needs a duration such as "PT4H"; to repeat, use a cycle timer ("R3/PT4H"); for a '
                 "fixed moment, a date timer",
                 '时长定时器需要时长，例如 "PT4H"；若要重复，请改用循环定时器（"R3/PT4H"）；若是固定时刻，请改用日期'
                 "定时器"),
    "cycle": ('a cycle timer needs a repetition such as "R3/PT4H" (3 times, every 4 hours); to wait once, use a '
              "duration timer",
              '循环定时器需要重复周期，例如 "R3/PT4H"（每 4 小时一次，共 3 次）；若只等待一次，请改用时长定时器'),
}
_CRON = re.compile(r"\s*[0-9*?/,LW#A-Za-z-]+(?:\s+[0-9*?/,LW#A-Za-z-]+){4,6}\s*")  # Camunda's cron cycles
_DATE_LITERAL = re.compile(r"\s*\d{4}-\d{2}-\d{2}(?:[T ][0-9:.,]+)?(?:Z|[+-]\d{2}(?::?\d{2})?)?\s*")


def _timer_kind(timer: TimerEventDefinition) -> str:
    if isinstance(timer, DurationTimerEventDefinition):
        return "duration"
    return "cycle" if isinstance(timer, CycleTimerEventDefinition) else "date"


def _shape(value: str) -> str | None:
    """'cycle' (R3/PT4H), 'duration' (PT4H), 'date' (an ISO date-time) or None (nothing ISO 8601 at all)."""
    text = value.strip().upper()
    if text.startswith("R") and "/" in text:
        return "cycle"
    if text.startswith("P"):
        return "duration"
    try:
        TimerEventDefinition.get_datetime(value.strip())
    except (ValueError, TypeError, OverflowError):
        return None
    return "date"


def unquoted_timer_literal(expr: str) -> bool:
    """Whether a timer expression is a bare ISO 8601 literal (PT4H, R3/PT4H, 2026-12-01T09:00:00) Python cannot
    read as one (reported as such: its 'name' PT4H is no variable to look for)."""
    return bool(_ISO_LITERAL.fullmatch(expr) or _DATE_LITERAL.fullmatch(expr))


def _lint_timer(timer: TimerEventDefinition, add: Add, name: str) -> None:
    expr = timer.expression or ""
    kind = _timer_kind(timer)
    if not expr.strip():
        add("timer_empty", name=name)
        return
    if unquoted_timer_literal(expr):
        value = expr.strip()
        shape = _shape(value)
        if shape is None or shape == kind:
            add("timer_unquoted", source=repr(value), value=value)
        else:
            add("timer_kind", timer=_TIMER_KINDS[kind], shape=_SHAPES[shape], source=repr(value),
                advice=_TIMER_ADVICE[kind])
        return
    juel = _JUEL.match(expr)
    if juel:
        add("juel", what=("timer expression", "定时器表达式"), source=repr(expr.strip()[:120]),
            suggestion=juel_suggestion(juel.group(1)))
        return
    if _CRON.fullmatch(expr):
        add("timer_cron", source=repr(expr.strip()), advice=_TIMER_ADVICE[kind])
        return
    try:
        compile_checked(expr, "eval")
    except ScriptRejected as exc:
        add("timer_refused", source=repr(expr), reason=str(exc))
        return
    try:
        value = ast.literal_eval(expr)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return  # a variable or function call: checked when the timer starts
    if not isinstance(value, str):
        add("timer_not_text", value=repr(value)[:120])
        return
    shape = _shape(value)
    if shape is not None and shape != kind:
        # Spiff reads "PT4H" in a date timer as a duration it then compares with a date-time (a crash when the timer
        # starts), and "R/PT4H" in a duration timer as a plain PT4H.
        add("timer_kind", timer=_TIMER_KINDS[kind], shape=_SHAPES[shape], source=repr(value),
            advice=_TIMER_ADVICE[kind])
        return
    try:
        if kind == "duration":
            TimerEventDefinition.parse_iso_duration(value)
        elif kind == "cycle":
            TimerEventDefinition.parse_iso_recurring_interval(value)
        else:
            TimerEventDefinition.get_datetime(value)
    except Exception as exc:
        add("timer_invalid", value=repr(value), reason=clean_upstream(str(exc)) or "unreadable")


def lint_user_task(ts: Any, forms: dict[str, Any], element: Any, add: Add) -> None:
    """A user task sits in a role's lane and names a deployed form."""
    lanes = (*ROLES, CUSTOMER_LANE)
    name = ts.bpmn_name or ts.bpmn_id
    if ts.lane not in lanes:
        lane = _lane_of(element, ts.bpmn_id)
        if lane is not None:  # Spiff gives a lane without a name as no lane at all
            add("lane_not_role", lane.get("id"), id=lane.get("id") or "", lane=repr(lane.get("name") or ""),
                roles=", ".join(lanes))
        elif ts.lane is None:
            add("lane_missing", name=name, roles=", ".join(lanes))
        else:
            add("lane_unknown", name=name, lane=repr(ts.lane), roles=", ".join(lanes))
    props = (ts.extensions or {}).get("properties", {}) or {}
    form = props.get("formJsonSchemaFilename")
    camunda_form = element.get(f"{{{CAMUNDA_NS}}}formKey") if element is not None else None
    if not form and camunda_form:
        add("form_camunda", id=ts.bpmn_id, form=repr(camunda_form))
    elif not form:
        add("form_missing", id=ts.bpmn_id)
    elif form not in forms:
        add("form_not_deployed", id=ts.bpmn_id, form=repr(form))
    if props.get("due"):
        compile_or_report(props["due"], "eval", ("the 'due' property", "'due' 属性"), add)
    exploding = exploding_placeholder(str((ts.extensions or {}).get("instructionsForEndUser") or ""))
    if exploding is not None:  # rendered on every task page: {{ 10 ** (10 ** 10) }} must not reach it
        add("code_refused", what=("the instructions text", "说明文字"), source=repr(exploding[0]),
            reason=f"a constant expression goes over the script budget ({exploding[1]})")


def _lane_of(element: Any, bpmn_id: str) -> Any:
    """The innermost bpmn:lane whose flowNodeRef names the task, or else the subprocess it is drawn in (None when
    it is in no lane)."""
    if element is None:
        return None
    refs: dict[str, list[Any]] = {}
    for ref in element.getroottree().getroot().iter(f"{{{BPMN_NS}}}flowNodeRef"):
        refs.setdefault((ref.text or "").strip(), []).append(ref.getparent())
    for candidate in (bpmn_id, *(a.get("id") for a in element.iterancestors())):
        lanes = [lane for lane in refs.get(candidate or "", []) if lane is not None]
        if lanes:
            return max(lanes, key=lambda lane: sum(1 for _ in lane.iterancestors()))
    return None


# --- decision tables -----------------------------------------------------------------------------------------------

def lint_table(table: Any, aggregation: str | None, add: Add) -> None:
    """Hit policy and every cell of a parsed decision table, each problem at its own entry id."""
    policy = str(table.hit_policy or "UNIQUE").upper()
    if policy not in ALLOWED_HIT_POLICIES or (policy == "COLLECT" and aggregation):
        shown = f"{policy} {aggregation}" if aggregation and policy == "COLLECT" else policy
        add("dmn_hit_policy", table.id, table=table.id or "", policy=shown)
    for table_input in table.inputs:
        if table_input.expression:
            compile_or_report(table_input.expression, "eval", (f"input expression of '{table_input.label or ''}'",
                                                               f"输入 '{table_input.label or ''}' 的表达式"),
                              add, table_input.id)
    for rule in table.rules:
        for entry in rule.inputEntries:
            for lhs in entry.lhs:
                if lhs and lhs.strip() not in ("", "-"):
                    _lint_input_entry(rule.id, entry.id, lhs, add)
        for entry in rule.outputEntries:
            if entry.text and entry.text.strip():
                compile_or_report(entry.text, "eval", (f"decision rule {rule.id} output", f"决策规则 {rule.id} 的输出"),
                                  add, entry.id)


def _lint_input_entry(rule_id: str, entry_id: str, text: str, add: Add) -> None:
    what = (f"decision rule {rule_id} input", f"决策规则 {rule_id} 的输入")
    feel = _feel(text)
    if feel is not None:
        feature, suggestion = feel
        add("feel", entry_id, what=what, source=repr(text.strip()[:120]), feature=feature, suggestion=suggestion)
        return
    if _QUESTION.search(text):
        compile_or_report(_QUESTION.sub("dmninputexpr", text), "eval", what, add, entry_id)
        return
    try:
        compile_checked(text, "eval")  # DMNEngine compares the input with `==` ...
    except ScriptRejected:
        # ... or, when the text does not stand alone ('>= 10'), puts the input in front of it
        compile_or_report(f"dmninputexpr {text}", "eval", what, add, entry_id)


def _feel(text: str) -> tuple[tuple[str, str], str | tuple[str, str]] | None:
    """FEEL unary tests that Python would misread or refuse: the feature and the Python to write instead."""
    strip = text.strip()
    match = _FEEL_RANGE.match(strip)
    if match:
        start, low, high, end = match.groups()
        lower = "<=" if start == "[" else "<"
        upper = "<=" if end == "]" else "<"
        return ("a range", "区间"), f"{low} {lower} ? {upper} {high}"
    match = _FEEL_NOT.match(strip)
    if match:
        inner = match.group(1).strip()
        return ("not(...)", "not(...) 否定"), (f"? not in ({inner})" if _is_tuple(inner) else f"? != {inner}")
    if _FEEL_FUNCTION.search(strip):
        return ("a FEEL function", "FEEL 函数"), _PYTHON_INSTEAD_OF_FUNCTION
    if _is_tuple(strip):
        return ("a list of values", "值列表"), f"? in ({strip})"
    return None


def _is_tuple(text: str) -> bool:
    try:
        return isinstance(ast.parse(text, mode="eval").body, ast.Tuple)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
