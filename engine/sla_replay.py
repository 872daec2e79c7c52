"""SLA what-if: replay past tickets against a candidate sla.dmn before it is deployed (no database access).

The candidate table is evaluated the way the maintenance request evaluates it: Spiff's DMNEngine on the triage
facts (businessRuleTask `sla_lookup`), the restricted script engine with the diagram functions, then the
contract override and add_working_duration of script task `set_deadlines`.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from . import calendar as cal
from .effects import Effects
from .errors import InvalidProcess
from .scripting import ScriptRejected, calendar_functions, compile_checked, make_script_engine

SLA_DECISION = "sla"
SLA_OUTPUTS = ("respond_within", "resolve_within", "sla_calendar")
RESPONSE_BREACHES = frozenset({"response"})  # Ticket.breaches kinds (engine/effects.py BREACH_KINDS)
RESOLVE_BREACHES = frozenset({"resolve"})
CHANGED_LIMIT = 50
PROBLEM_LIMIT = 20
# DMNEngine.evaluate's rule: a '?' outside quotes stands for the input value.
_QUESTION = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")
_PROBE = datetime(2026, 1, 5, 9, tzinfo=UTC)


@dataclass(frozen=True)
class TicketFacts:
    """What the replay needs of one ticket row and its contract (datetimes must be aware)."""

    id: int
    number: str | None
    created_at: datetime
    category: str | None
    severity: int | None
    tier: str
    onsite: bool | None
    sla_overrides: Mapping[str, Any]
    responded_at: datetime | None
    resolved_at: datetime | None
    actual_response_breached: bool
    actual_resolve_breached: bool
    closed_at: datetime | None = None  # a closed ticket's clock stops here, not at `now`
    # working time the resolve clock was paused waiting for the customer (on the ticket's own calendar), and the
    # start of a pause still running: a candidate's resolve deadline moves by the same working time
    paused_seconds: int = 0
    paused_at: datetime | None = None

    def __post_init__(self) -> None:
        """Refuse naive datetimes: they would compare wrongly against UTC deadlines."""
        for name in ("created_at", "responded_at", "resolved_at", "closed_at", "paused_at"):
            value = getattr(self, name)
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise ValueError(f"ticket {self.number or self.id}: {name} {value.isoformat()} needs a time zone")


@dataclass(frozen=True)
class SlaCandidate:
    """A parsed and checked candidate SLA table: Spiff's DMN engine for decision 'sla' and its source lines."""

    engine: Any  # SpiffWorkflow.dmn.engine.DMNEngine.DMNEngine
    file: str
    lines: Mapping[str, int] = field(default_factory=dict)

    def problem(self, element_id: str | None, message: str) -> dict[str, Any]:
        """A problem located at `element_id` of the candidate file."""
        return _problem(self.file, element_id, self.lines.get(element_id or ""), message)


@dataclass(frozen=True)
class _Outcome:
    """One ticket replayed: the candidate's terms and deadlines, and both verdicts."""

    ticket: TicketFacts
    severity: int
    terms: tuple[str | None, str | None, str | None]  # respond_within, resolve_within, sla_calendar
    response_due: datetime | None
    resolve_due: datetime | None
    response_breached: bool
    resolve_breached: bool
    matched: bool = True

    @property
    def actual(self) -> bool:
        """Whether the ticket really breached its response or resolve deadline."""
        return self.ticket.actual_response_breached or self.ticket.actual_resolve_breached

    @property
    def candidate(self) -> bool:
        """Whether the ticket would breach a deadline under the candidate table."""
        return self.response_breached or self.resolve_breached


class _ReplayFailed(Exception):
    """The candidate table (or a deadline from it) failed for one ticket; `problem` locates it."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem["message"])
        self.problem = problem


def breach_flags(breaches: Iterable[Any]) -> tuple[bool, bool]:
    """(response breached, resolve breached) from a Ticket.breaches list of {"kind", "at"} entries."""
    kinds = {entry.get("kind") for entry in breaches if isinstance(entry, dict)}
    return bool(kinds & RESPONSE_BREACHES), bool(kinds & RESOLVE_BREACHES)


# --- parsing and checking the candidate ---------------------------------------------------------------------------


def parse_candidate(dmn_text: str, filename: str = "sla.dmn") -> SlaCandidate:
    """Parse a candidate sla.dmn; InvalidProcess lists located problems, and nothing else is raised."""
    try:
        candidate = _parse(dmn_text, filename)
        problems = _check(candidate)
    except InvalidProcess:
        raise
    except Exception as exc:  # whatever lxml or Spiff throw at a strange file
        message = f"cannot read the decision table: {_text(exc)}"
        raise InvalidProcess([_problem(filename, None, None, message)]) from None
    if problems:
        raise InvalidProcess(problems)
    return candidate


def _parse(text: str, filename: str) -> SlaCandidate:
    """Spiff's parse of decision 'sla' (as deploy.py adds DMN files), with the line of every element id."""
    try:
        root = etree.fromstring(text.encode())
    except etree.XMLSyntaxError as exc:
        raise InvalidProcess([_problem(filename, None, exc.lineno, f"not well-formed XML: {exc.msg}")]) from None
    lines = {str(el.get("id")): el.sourceline for el in root.iter(etree.Element) if el.get("id")}
    problem = _shape_problem(root, filename, lines)
    if problem:
        raise InvalidProcess([problem])
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_dmn_str(text.encode(), filename=filename)
        engine = parser.get_engine(SLA_DECISION, None)
    except ValidationException as exc:
        line = exc.line_number or lines.get(exc.id or "")
        raise InvalidProcess([_problem(filename, exc.id or None, line or None, _text(exc))]) from None
    return SlaCandidate(engine=engine, file=filename, lines=lines)


def _shape_problem(root: Any, filename: str, lines: Mapping[str, int]) -> dict[str, Any] | None:
    """Spiff reads one decision per file, with a decision table: say so before its parser trips over it."""
    decisions = root.findall("{*}decision")
    ids = [str(el.get("id")) for el in decisions]
    if SLA_DECISION not in ids:
        found = ", ".join(repr(d) for d in ids) or "none"
        return _problem(filename, None, None, f"no decision with id 'sla' (decisions found: {found})")
    if len(decisions) > 1:
        others = ", ".join(repr(d) for d in ids if d != SLA_DECISION)
        return _problem(filename, SLA_DECISION, lines.get(SLA_DECISION),
                        f"the file must hold only decision 'sla'; remove {others}")
    if decisions[0].find("{*}decisionTable") is None:
        return _problem(filename, SLA_DECISION, lines.get(SLA_DECISION), "decision 'sla' has no decision table")
    return None


def _check(candidate: SlaCandidate) -> list[dict[str, Any]]:
    """Problems that would make the engine fail or mislead when it runs the table (none: ready to replay)."""
    table = candidate.engine.decision_table
    problems: list[dict[str, Any]] = []
    if table.hit_policy == "COLLECT":
        problems.append(candidate.problem(table.id, "hit policy COLLECT gives lists; the SLA table needs FIRST"))
    names = [output.name for output in table.outputs]
    for name in SLA_OUTPUTS:
        if name not in names:
            problems.append(candidate.problem(table.id, f"the table has no output named {name!r}"))
    broken = set()
    for table_input in table.inputs:
        if not (table_input.expression or "").strip():
            problems.append(candidate.problem(table_input.id, f"input {table_input.label!r} has no expression"))
            broken.add(table_input.id)
        elif not _check_code(candidate, problems, table_input.id, table_input.expression,
                             f"input expression of {table_input.label!r}"):
            broken.add(table_input.id)
    for rule in table.rules:
        _check_rule(candidate, problems, rule, broken)
    return problems


def _check_rule(candidate: SlaCandidate, problems: list[dict[str, Any]], rule: Any, broken: set[str]) -> None:
    """Compile every cell of `rule` as DMNEngine would run it; check literal durations and calendars."""
    for entry in rule.inputEntries:
        for lhs in entry.lhs:
            if lhs is None or entry.input.id in broken:
                continue
            what = f"rule {rule.id} input test {lhs.strip()!r}"
            codes = _match_code(entry.input.expression, lhs)
            if codes is None:
                problems.append(candidate.problem(entry.id, f"{what} is not valid: it is no Python test"))
            for code in codes or []:
                _check_code(candidate, problems, entry.id, code, what)
    for entry in rule.outputEntries:
        name = entry.output.name
        if not (entry.text or "").strip():
            problems.append(candidate.problem(entry.id, f"rule {rule.id} gives no value for {name!r}"))
        elif _check_code(candidate, problems, entry.id, entry.text, f"rule {rule.id} output {name!r}"):
            message = _literal_problem(name, entry.text)
            if message:
                problems.append(candidate.problem(entry.id, f"rule {rule.id} output {name!r}: {message}"))


def _match_code(expression: str, lhs: str) -> list[str] | None:
    """The Python DMNEngine.evaluate builds for one input cell (None where its needs_eq raises SyntaxError)."""
    match = _QUESTION.sub("dmninputexpr", lhs)
    if "dmninputexpr" in match:
        return [expression, match]
    if _parses(match):
        return [f"({expression}) == ({match})"]
    return [expression + match] if _parses(f"v {match}") else None


def _parses(code: str) -> bool:
    """Whether Spiff's script_engine.validate (ast.parse) accepts `code`."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _check_code(candidate: SlaCandidate, problems: list[dict[str, Any]], element_id: str, code: str,
                what: str) -> bool:
    """Compile `code` like the restricted script engine does; record a problem and say False when refused."""
    try:
        compile_checked(code, "eval")
    except ScriptRejected as exc:
        shown = "" if code.strip() in str(exc) else f" in {code.strip()[:120]!r}"
        problems.append(candidate.problem(element_id, f"{what} is not valid: {exc}{shown}"))
        return False
    return True


@dataclass(frozen=True)
class OutputProblem:
    """Why the text of one SLA output cell gives no value the deadline computation accepts.

    `kind` is "empty" (no text: the table gives None), "expression" (no Python literal: a variable, a call, or a bare
    word such as PT4H that Python reads as a variable) or "invalid" (a literal that add_working_duration or
    get_calendar refuses; `reason` holds calendar.py's words)."""

    kind: str
    value: Any = None
    reason: str = ""


def output_problem(name: str, text: str | None) -> OutputProblem | None:
    """Check the text of an output cell of the SLA table named `name` (one of SLA_OUTPUTS) the way set_deadlines
    uses its value: a duration add_working_duration accepts, a calendar get_calendar knows. None when it is fine
    (other output names are not checked). Shared by the replay and the deploy checker (engine/guard.py)."""
    stripped = (text or "").strip()
    if not stripped:
        return OutputProblem("empty")
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return OutputProblem("expression", stripped)
    try:
        if name == "sla_calendar":
            cal.get_calendar(value)
        elif name in SLA_OUTPUTS:
            cal.add_working_duration(_PROBE, value, "24x7")
    except (ValueError, TypeError) as exc:
        return OutputProblem("invalid", value, str(exc))
    return None


def _literal_problem(name: str, text: str) -> str | None:
    """Why a literal output value cannot work as a duration or calendar name (None when it can, or is no literal:
    an expression is checked when the replay evaluates it)."""
    problem = output_problem(name, text)
    return problem.reason if problem is not None and problem.kind == "invalid" else None


# --- replaying tickets ------------------------------------------------------------------------------------------


def replay(decision: SlaCandidate, tickets: Iterable[TicketFacts], now: datetime) -> dict[str, Any]:
    """Compare actual SLA breaches of `tickets` with those the candidate table would have given, as of `now`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} needs a time zone")
    outcomes: list[_Outcome] = []
    problems: list[dict[str, Any]] = []
    skipped = 0
    for ticket in tickets:
        if ticket.category is None:
            skipped += 1
            continue
        try:
            outcomes.append(_replay_one(decision, ticket, now))
        except _ReplayFailed as exc:
            _add_problem(problems, exc.problem)
    if problems:
        raise InvalidProcess(problems)
    return _summary(outcomes, skipped)


def _add_problem(problems: list[dict[str, Any]], problem: dict[str, Any]) -> None:
    """Keep one problem per element and cause, at most PROBLEM_LIMIT of them."""
    key = (problem["element_id"], problem["message"].split(": ", 1)[-1])
    seen = {(p["element_id"], p["message"].split(": ", 1)[-1]) for p in problems}
    if key not in seen and len(problems) < PROBLEM_LIMIT:
        problems.append(problem)


def _replay_one(decision: SlaCandidate, ticket: TicketFacts, now: datetime) -> _Outcome:
    """Evaluate the candidate for one ticket and judge its deadlines."""
    # triage_defaults in the diagram: severity 3 and remote unless triage said otherwise.
    severity = 3 if ticket.severity is None else int(ticket.severity)
    onsite = False if ticket.onsite is None else ticket.onsite
    data = {"category": ticket.category, "severity": severity, "tier": ticket.tier, "onsite": onsite,
            "sla_overrides": dict(ticket.sla_overrides), "created_at": ticket.created_at.isoformat()}
    rule, outputs = _decide(decision, ticket, data)
    if rule is None:
        return _Outcome(ticket, severity, (None, None, None), None, None, False, False, matched=False)
    try:
        terms = _apply_override(data, outputs)
        response_due = cal.add_working_duration(ticket.created_at, terms[0], terms[2])
        resolve_due = cal.add_working_duration(ticket.created_at, terms[1], terms[2])
        if ticket.paused_seconds > 0:  # the pauses count on the candidate's calendar as they did on the ticket's
            resolve_due = cal.add_working_hours(resolve_due, ticket.paused_seconds / 3600, terms[2])
    except (ValueError, TypeError, AttributeError) as exc:  # a bad duration, calendar or contract override
        raise _ReplayFailed(decision.problem(rule.id, f"ticket {_name(ticket)}: {_text(exc)}")) from None
    stop = ticket.closed_at or now
    resolve_stop = ticket.resolved_at or ticket.paused_at or stop  # a paused clock stands still
    return _Outcome(ticket, severity, terms, response_due, resolve_due,
                    (ticket.responded_at or stop) > response_due, resolve_stop > resolve_due)


def _decide(decision: SlaCandidate, ticket: TicketFacts, data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The first matching rule and its outputs, by DMNEngine.result's own steps (None when no rule matches)."""
    task = _decision_task(data, ticket.created_at, decision.file)
    table = decision.engine.decision_table
    try:
        rules = decision.engine.decide(task)
    except Exception as exc:  # a NameError, TypeError ... raised by a cell; Spiff's note names the row
        row = re.search(r"row (\d+)", _text(exc))
        number = int(row.group(1)) if row else 0
        element = table.rules[number - 1].id if 0 < number <= len(table.rules) else table.id
        raise _ReplayFailed(decision.problem(element, f"ticket {_name(ticket)}: {_text(exc)}")) from None
    if not rules:
        return None, {}
    try:
        return rules[0], dict(rules[0].output_as_dict(task))
    except Exception as exc:  # an output expression failing for this ticket
        raise _ReplayFailed(decision.problem(rules[0].id, f"ticket {_name(ticket)}: {_text(exc)}")) from None


def _apply_override(data: dict[str, Any], outputs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The contract's per-severity terms win over the table's, as in script task set_deadlines."""
    override = data["sla_overrides"].get(str(data["severity"]), {})
    return (override.get("respond_within", outputs.get("respond_within")),
            override.get("resolve_within", outputs.get("resolve_within")),
            override.get("sla_calendar", outputs.get("sla_calendar")))


def _decision_task(data: dict[str, Any], triaged_at: datetime, file: str) -> Any:
    """A stand-in for the Spiff task DMNEngine reads (data, script engine, names for errors); now() is intake."""
    functions: dict[str, Callable[..., Any]] = {**calendar_functions(lambda: triaged_at), **Effects().functions()}
    engine: PythonScriptEngine = make_script_engine(functions)
    workflow = SimpleNamespace(script_engine=engine, spec=SimpleNamespace(file=file))
    workflow.top_workflow = workflow
    spec = SimpleNamespace(bpmn_name="sla_lookup", bpmn_id="sla_lookup", name="sla_lookup")
    return SimpleNamespace(data=data, workflow=workflow, task_spec=spec)


# --- the report ------------------------------------------------------------------------------------------------


def _summary(outcomes: list[_Outcome], skipped: int) -> dict[str, Any]:
    """The replay's figures, as the API returns them."""
    return {
        "tickets": len(outcomes),
        "skipped": skipped,
        "unmatched": sum(not o.matched for o in outcomes),
        "breached_actual": sum(o.actual for o in outcomes),
        "breached_candidate": sum(o.candidate for o in outcomes),
        "response": {"actual": sum(o.ticket.actual_response_breached for o in outcomes),
                     "candidate": sum(o.response_breached for o in outcomes)},
        "resolve": {"actual": sum(o.ticket.actual_resolve_breached for o in outcomes),
                    "candidate": sum(o.resolve_breached for o in outcomes)},
        "by_class": _by_class(outcomes),
        "changed": [_changed(o) for o in outcomes if o.actual != o.candidate][:CHANGED_LIMIT],
    }


def _by_class(outcomes: list[_Outcome]) -> list[dict[str, Any]]:
    """Counts per category, severity, contract tier and the candidate's effective terms, sorted in that order (a tier
    of its own terms is a row of its own: two rows of one severity say why they differ)."""
    classes: dict[tuple[Any, ...], dict[str, Any]] = {}
    for o in outcomes:
        key = (o.ticket.category, o.severity, o.ticket.tier, *o.terms)
        row = classes.get(key)
        if row is None:
            row = classes[key] = {
                "category": o.ticket.category, "severity": o.severity, "tier": o.ticket.tier, "tickets": 0,
                "breached_actual": 0, "breached_candidate": 0, "response_actual": 0, "response_candidate": 0,
                "resolve_actual": 0, "resolve_candidate": 0, "respond_within": o.terms[0],
                "resolve_within": o.terms[1], "sla_calendar": o.terms[2]}
        for name, hit in (("tickets", True), ("breached_actual", o.actual), ("breached_candidate", o.candidate),
                          ("response_actual", o.ticket.actual_response_breached),
                          ("response_candidate", o.response_breached),
                          ("resolve_actual", o.ticket.actual_resolve_breached),
                          ("resolve_candidate", o.resolve_breached)):
            row[name] += bool(hit)
    return [classes[key] for key in sorted(classes, key=_sort_key)]


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Category, severity, tier, then the terms (unmatched last); None never meets a str in a comparison."""
    return tuple((value is None, "" if value is None else value) for value in key)


def _changed(o: _Outcome) -> dict[str, Any]:
    """An example ticket whose verdict differs under the candidate."""
    return {"id": o.ticket.id, "number": o.ticket.number, "category": o.ticket.category, "severity": o.severity,
            "actual": "breached" if o.actual else "met", "candidate": "breached" if o.candidate else "met",
            "response_due": _iso(o.response_due), "resolve_due": _iso(o.resolve_due)}


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 text of an optional datetime."""
    return value.isoformat() if value else None


def _name(ticket: TicketFacts) -> str:
    """How a problem message names a ticket."""
    return ticket.number or f"#{ticket.id}"


def _text(exc: BaseException) -> str:
    """An exception's message without Spiff's trailing dots."""
    return str(exc).strip().rstrip(".").strip() or type(exc).__name__


def _problem(file: str, element_id: str | None, line: int | None, message: str) -> dict[str, Any]:
    """One problem in InvalidProcess's shape (the replay's own findings are worded in English; the Chinese reader
    gets them behind a Chinese lead-in, as the checker does with upstream text)."""
    return {"file": file, "element_id": element_id or None, "line": line, "message": message,
            "message_zh": f"候选 SLA 决策表无法回放：{message}"}
