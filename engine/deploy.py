"""Parse, validate and lint uploaded diagrams, decision tables and forms before anything is stored."""
from __future__ import annotations

import ast
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from .effects import CUSTOMER_LANE, ROLES
from .scripting import ScriptRejected, compile_checked

_ISO_LITERAL = re.compile(r"\s*(R\d*/)?P[0-9YMWDTHS.,]+\s*")


@dataclass
class ParsedProcess:
    """One executable process, ready to be stored."""

    process_id: str
    name: str
    source_file: str
    spec: Any
    subprocess_specs: dict[str, Any]


@dataclass
class Bundle:
    """The outcome of checking a set of files: processes, forms and the problems found."""

    processes: list[ParsedProcess] = field(default_factory=list)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def problem(self, file: str, element_id: str | None, line: int | None, message: str) -> None:
        """Record one problem a process owner can act on."""
        self.problems.append({"file": file, "element_id": element_id or None, "line": line, "message": message})


def check_files(files: dict[str, str]) -> Bundle:
    """Parse and lint `files` (name -> text); the bundle's problems are empty when all is well."""
    bundle = Bundle()
    for name, text in files.items():
        if not name.endswith((".bpmn", ".dmn", ".json")):
            bundle.problem(name, None, None, "unsupported file type; upload .bpmn, .dmn or form .json files")
        elif name.endswith(".json"):
            _check_form(bundle, name, text)
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for name, text in files.items():
        if name.endswith((".bpmn", ".dmn")):
            _add_xml(bundle, parser, name, text)
    if not bundle.problems:
        for name, text in files.items():
            if name.endswith(".bpmn"):
                _check_flows(bundle, name, text)
    if not bundle.problems:
        _parse_processes(bundle, parser, files)
    return bundle


def _check_flows(bundle: Bundle, name: str, text: str) -> None:
    """Spiff's own message for a dangling flow names neither the flow nor the missing element."""
    root = etree.fromstring(text.encode())
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    for flow in root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}sequenceFlow"):
        for end in ("sourceRef", "targetRef"):
            ref = flow.get(end)
            if ref not in ids:
                message = f"sequence flow '{flow.get('id')}' has {end}='{ref}', which is no element of the diagram"
                bundle.problem(name, flow.get("id"), flow.sourceline, message)


@functools.lru_cache(maxsize=256)
def _schema_error(text: str) -> tuple[str, str] | None:
    """Where and why a form's text is no valid JSON Schema (checking against the meta-schema is slow: each text
    is checked once per process)."""
    try:
        Draft202012Validator.check_schema(json.loads(text))
    except SchemaError as exc:
        return "/".join(str(p) for p in exc.path) or "(root)", exc.message
    return None


def _check_form(bundle: Bundle, name: str, text: str) -> None:
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        bundle.problem(name, None, exc.lineno, f"not valid JSON: {exc.msg}")
        return
    schema_error = _schema_error(text)
    if schema_error is not None:
        where, message = schema_error
        bundle.problem(name, where, None, f"not a valid JSON Schema at {where}: {message}")
        return
    if schema.get("type") != "object":
        bundle.problem(name, None, None, 'a form schema must have "type": "object"')
        return
    bundle.forms[name] = schema


def _add_xml(bundle: Bundle, parser: SpiffBpmnParser, name: str, text: str) -> None:
    try:
        if name.endswith(".bpmn"):
            parser.add_bpmn_str(text.encode(), filename=name)
        else:
            parser.add_dmn_str(text.encode(), filename=name)
    except etree.XMLSyntaxError as exc:
        bundle.problem(name, None, exc.lineno, f"not well-formed XML: {exc.msg}")
    except ValidationException as exc:
        line = exc.line_number or _line_of(text, exc.id)
        bundle.problem(name, exc.id or None, line or None, _clean(str(exc)))


def _parse_processes(bundle: Bundle, parser: SpiffBpmnParser, files: dict[str, str]) -> None:
    for process_id in parser.get_process_ids():
        source = parser.get_process_parser(process_id).filename or ""
        try:
            spec = parser.get_spec(process_id)
            subs = parser.get_subprocess_specs(process_id)
        except (ValidationException, SpiffWorkflowException) as exc:
            element = getattr(exc, "id", None) or process_id
            file = getattr(exc, "file_name", "") or source
            bundle.problem(file, element, _line_of(files.get(file, ""), element), _clean(str(exc)))
            continue
        before = len(bundle.problems)
        for sub_spec in [spec, *subs.values()]:
            _lint_spec(bundle, sub_spec, files, bundle.forms)
        if len(bundle.problems) == before:
            bundle.processes.append(ParsedProcess(process_id, spec.description or process_id, source, spec, subs))


def _lint_spec(bundle: Bundle, spec: Any, files: dict[str, str], forms: dict[str, Any]) -> None:
    source = spec.file or ""
    text = files.get(source, "")
    for ts in spec.task_specs.values():
        bpmn_id = getattr(ts, "bpmn_id", None)
        if bpmn_id is None:
            continue

        def add(message: str, _id: str = bpmn_id) -> None:
            bundle.problem(source, _id, _line_of(text, _id), message)

        _lint_code(ts, add)
        _lint_timers(ts, add)
        if ts.manual and type(ts).__name__ != "NoneTask":
            _lint_user_task(ts, forms, add)
        _lint_decision(ts, add)


def _lint_code(ts: Any, add: Any) -> None:
    for attr in ("script", "prescript", "postscript"):
        code = getattr(ts, attr, None)
        if code:
            _compile(code, "exec", f"{attr}", add)
    for cond, target in getattr(ts, "cond_task_specs", []) or []:
        expr = cond.args[0] if cond is not None else None
        if expr:
            _compile(expr, "eval", f"condition of the flow to '{getattr(target, 'bpmn_id', target)}'", add)


def _compile(source: str, mode: str, what: str, add: Any) -> None:
    try:
        compile_checked(source, mode)
    except ScriptRejected as exc:
        add(f"{what} is refused: {exc} in {source.strip()[:120]!r}")


def _lint_timers(ts: Any, add: Any) -> None:
    ed = getattr(ts, "event_definition", None)
    eds = ed.event_definitions if isinstance(ed, MultipleEventDefinition) else [ed]
    for timer in (e for e in eds if isinstance(e, TimerEventDefinition)):
        message = _timer_problem(timer)
        if message:
            add(message)


def _timer_problem(timer: TimerEventDefinition) -> str | None:
    expr = timer.expression or ""
    if _ISO_LITERAL.fullmatch(expr):
        return (f"timer {expr.strip()!r} is an unquoted ISO literal; timer expressions are Python, "
                f"write \"{expr.strip()}\" with quotes")
    try:
        compile_checked(expr, "eval")
    except ScriptRejected as exc:
        return f"timer expression {expr!r} is refused: {exc}"
    try:
        value = ast.literal_eval(expr)
    except (ValueError, SyntaxError):
        return None  # a variable or function call: checked when the timer starts
    if not isinstance(value, str):
        return f"timer expression must give an ISO 8601 text, got {value!r}"
    try:
        if isinstance(timer, DurationTimerEventDefinition):
            TimerEventDefinition.parse_iso_duration(value)
        elif isinstance(timer, CycleTimerEventDefinition):
            TimerEventDefinition.parse_iso_recurring_interval(value)
        else:
            TimerEventDefinition.parse_time_or_duration(value)
    except Exception as exc:
        return f"timer value {value!r} is not valid ISO 8601: {exc}"
    return None


def _lint_user_task(ts: Any, forms: dict[str, Any], add: Any) -> None:
    lanes = (*ROLES, CUSTOMER_LANE)
    if ts.lane not in lanes:
        add(f"user task '{ts.bpmn_name or ts.bpmn_id}' is in lane {ts.lane!r}; "
            f"put it in a lane named after a role: {', '.join(lanes)}")
    props = (ts.extensions or {}).get("properties", {}) or {}
    form = props.get("formJsonSchemaFilename")
    if not form:
        add(f"user task '{ts.bpmn_id}' names no form (property formJsonSchemaFilename)")
    elif form not in forms:
        add(f"user task '{ts.bpmn_id}' names form {form!r}, which is not deployed")
    if props.get("due"):
        _compile(props["due"], "eval", "the 'due' property", add)


def _lint_decision(ts: Any, add: Any) -> None:
    engine = getattr(ts, "dmnEngine", None)
    table = getattr(engine, "decision_table", None)
    if table is None:
        return
    for rule in table.rules:
        for entry in rule.inputEntries:
            for lhs in entry.lhs:
                if lhs and lhs.strip() != "-":
                    _compile(lhs.replace("?", "dmninputexpr"), "eval", f"decision rule {rule.id} input", add)
        for entry in rule.outputEntries:
            if entry.text:
                _compile(entry.text, "eval", f"decision rule {rule.id} output", add)


def _line_of(text: str, element_id: str | None) -> int | None:
    """The line where `id="element_id"` stands in `text`."""
    if not element_id or not text:
        return None
    needle = f'id="{element_id}"'
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _clean(message: str) -> str:
    return message.strip().rstrip(".")
