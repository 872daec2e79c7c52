"""Names that scripts, conditions, timers, 'due' properties and decision-table inputs read, but nothing sets.

A flow condition `categroy == 'complaint'` compiles, deploys, and fails every case that reaches it with a NameError
(HTTP 500 on every new ticket). Each name read must be one of:
  (a) a builtin of the script sandbox, (b) a function the engine adds (calendar functions, effects),
  (c) a variable every case starts with (engine/kernel.py case_start_data, engine/contracts.py case_facts and the
      extras the services pass to start_case), or
  (d) something the procedure sets: a script's target, a form field of one of its user tasks, an output of a
      decision table it calls, a multi-instance item, a message variable, a data object or a call's data.
A procedure is one top-level process with the processes it calls (their data flows both ways). Where it cannot be
known what a step sets (a form or decision table not deployed, a script that does not compile, an element the
checker stood in for), the procedure's names are not checked: that step's own problem is reported instead.
"""
from __future__ import annotations

import ast
import builtins
import difflib
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any, cast

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .checker_bundle import Bundle
from .checker_lint import PYTHON_FORMATS, flow_id, unquoted_timer_literal
from .checker_messages import BPMN_NS
from .checker_xml import XmlDoc
from .effects import Effects
from .scripting import RestrictedEnvironment, ScriptRejected, calendar_functions, compile_checked

# Keys the services pass to Kernel.start_case(extra=...) (engine/services/cases.py: the portal's complaint category;
# engine/services/inspections.py: the inspection's due time, cadence and contract; engine/services/reports.py: the
# monthly report's month and headline figures; engine/services/kb.py: the article). tests/engine/test_checker.py
# reads every `extra=` of engine/ and fails when one is missing here.
START_EXTRAS = ("category", "inspection_due", "inspection_months", "contract_number", "report_month",
                "tickets_opened", "tickets_closed", "breach_count", "response_rate", "resolve_rate",
                "satisfaction_average", "article_id")

What = tuple[str, str]


@dataclass
class _Read:
    """One piece of code that reads names: where it stands and how the message names it."""

    file: str
    element_id: str | None
    what: What
    code: str
    mode: str


@dataclass
class _Scope:
    """What one procedure sets, and what its code reads."""

    sets: set[str] = field(default_factory=set)
    reads: list[_Read] = field(default_factory=list)
    complete: bool = True


@functools.cache
def sandbox_names() -> frozenset[str]:
    """(a) and (b): the globals and builtins every diagram script sees, as the engine builds them."""
    functions = {**calendar_functions(lambda: datetime.now(UTC)), **Effects().functions()}
    scope = RestrictedEnvironment(functions).globals
    return frozenset(scope) | frozenset(scope.get("__builtins__") or ())


@functools.cache
def engine_functions() -> frozenset[str]:
    """(b) alone: the functions the engine adds for diagrams."""
    return frozenset(calendar_functions(lambda: datetime.now(UTC))) | frozenset(Effects().functions())


@functools.cache
def start_variables() -> frozenset[str]:
    """(c): the variables a case starts with, from the functions that build them (with and without a contract);
    imported here: the kernel imports the whole engine."""
    from .contracts import case_facts
    from .kernel import case_start_data

    today = date(2026, 1, 5)
    customer = SimpleNamespace(name="customer", tier="standard")
    contract = SimpleNamespace(tier="premium", number="HT-1", warranty_end=today, free_scope=[], calendar="working",
                               sla_overrides={})
    names: set[str] = set()
    for facts in (case_facts(None, cast(Any, customer), today), case_facts(cast(Any, contract), cast(Any, customer),
                                                                           today)):
        names |= set(case_start_data(ticket_id=1, number="AC-2026-000001", customer="customer", facts=facts,
                                     channel="phone", title="title", description="description", contact_name="name",
                                     contact_email="a@b.example", now=datetime(2026, 1, 5, 9, tzinfo=UTC),
                                     origin=None, extra=dict.fromkeys(START_EXTRAS)))
    return frozenset(names)


# --- reading code ---------------------------------------------------------------------------------------------------

def _tree(code: str, mode: str) -> ast.AST | None:
    """The syntax tree of code the sandbox compiles (None for anything it refuses: that is reported elsewhere)."""
    try:
        compile_checked(code, mode)
        return ast.parse(code, mode=mode)
    except (ScriptRejected, SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def bound_names(tree: ast.AST) -> set[str]:
    """Every name `tree` binds: assignment targets (tuples too), loop, comprehension, with-as and except-as
    variables, walrus targets, function and class names and the parameters of functions and lambdas."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.update(node.names)
    return names


def read_names(tree: ast.AST) -> list[str]:
    """The names `tree` reads, each once, in the order they first appear."""
    loads = sorted((n.lineno, n.col_offset, n.id) for n in ast.walk(tree)
                    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))
    return list(dict.fromkeys(name for _line, _col, name in loads))


# --- what a form sets ---------------------------------------------------------------------------------------------

def form_fields(schema: Any) -> set[str]:
    """Every property a form schema defines: top level, the branches of allOf/anyOf/oneOf/if/then/else and
    dependentSchemas, and the fields of array items."""
    if not isinstance(schema, dict):
        return set()
    properties = schema.get("properties")
    names = set(properties) if isinstance(properties, dict) else set()
    children: list[Any] = [schema.get(k) for k in ("if", "then", "else", "items", "additionalItems")]
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        branches = schema.get(key)
        children.extend(branches if isinstance(branches, list) else [])
    for key in ("dependentSchemas", "properties"):
        nested = schema.get(key)
        if isinstance(nested, dict) and key == "dependentSchemas":
            children.extend(nested.values())
        elif isinstance(nested, dict):
            children.extend(v.get("items") for v in nested.values() if isinstance(v, dict))
    for child in children:
        names |= form_fields(child)
    return names


# --- a procedure's scope ------------------------------------------------------------------------------------------

def lint_names(bundle: Bundle, parsed: dict[str, tuple[Any, dict[str, Any]]], docs: dict[str, XmlDoc],
               stood_in: set[tuple[str, str]]) -> None:
    """Report every name read that the procedure reading it never sets (see the module's doc).

    `parsed` maps each executable process id to its spec and the specs of what it calls; `stood_in` names the
    (file, id) elements the checker replaced to lint the rest of a diagram. A process some other process calls is
    checked within its callers' procedures, never alone (it runs with their data); one called by a process that
    does not run (not executable, refused) is not checked."""
    callers: dict[str, set[str]] = {}
    for doc in docs.values():
        for process_id, process in doc.processes.items():
            for call in process.iter(f"{{{BPMN_NS}}}callActivity"):
                callers.setdefault(str(call.get("calledElement") or ""), set()).add(process_id)
    done: set[str] = set()
    roots = [pid for pid in parsed if not callers.get(pid)]
    # Processes that only call each other (a cycle): each is a procedure of its own.
    roots += [pid for pid in parsed if callers.get(pid) and callers[pid] <= set(parsed)]
    for pid in roots:
        spec, subs = parsed[pid]
        specs = [spec, *subs.values()]
        if callers.get(pid) and spec.name in done:
            continue
        done.update(s.name for s in specs)
        scope = _scope(specs, bundle.forms, docs, stood_in)
        if scope.complete:
            _report(bundle, scope, docs)


def _scope(specs: list[Any], forms: dict[str, Any], docs: dict[str, XmlDoc],
           stood_in: set[tuple[str, str]]) -> _Scope:
    scope = _Scope()
    tables: dict[str, Any] = {}
    for spec in specs:
        file = spec.file or ""
        doc = docs.get(file)
        scope.sets |= {str(k) for k in (getattr(spec, "data_objects", None) or {})}
        scope.sets |= _io_names(getattr(spec, "io_specification", None))
        for ts in spec.task_specs.values():
            bpmn_id = getattr(ts, "bpmn_id", None)
            if bpmn_id is None:
                continue
            if (file, bpmn_id) in stood_in:
                scope.complete = False
            _task(scope, ts, file, doc, forms, tables)
    for table in tables.values():
        _table_inputs(scope, table, docs)
    return scope


def _task(scope: _Scope, ts: Any, file: str, doc: XmlDoc | None, forms: dict[str, Any],
          tables: dict[str, Any]) -> None:
    """What one task spec sets and reads."""
    kind = type(ts).__name__
    bpmn_id = ts.bpmn_id
    element = doc.by_id.get(bpmn_id) if doc is not None else None
    if kind == "ServiceTask":
        scope.complete = False  # its result lands wherever the service says
    script_format = (element.get("scriptFormat") or "") if element is not None else ""
    python = script_format.strip().lower() in PYTHON_FORMATS
    for attr, what in (("script", ("the script", "脚本")), ("prescript", ("the pre-script", "前置脚本")),
                       ("postscript", ("the post-script", "后置脚本"))):
        code = getattr(ts, attr, None)
        if not code:
            continue
        tree = _tree(code, "exec") if python or attr != "script" else None
        if tree is None:
            scope.complete = False  # refused or not Python: reported on its own; what it sets is unknown
            continue
        scope.sets |= bound_names(tree)
        scope.reads.append(_Read(file, bpmn_id, (f"{what[0]} of step '{bpmn_id}'", f"步骤 '{bpmn_id}' 的{what[1]}"),
                                 code, "exec"))
    for cond, target in getattr(ts, "cond_task_specs", None) or []:
        expr = cond.args[0] if cond is not None and getattr(cond, "args", None) else None
        if not expr:
            continue
        name = getattr(target, "bpmn_id", None) or str(getattr(target, "name", target)).split(".")[0]
        flow = flow_id(element, name, expr)
        what = ((f"the condition of flow '{flow}'", f"顺序流 '{flow}' 的条件") if flow else
                (f"the condition of the flow to '{name}'", f"流向 '{name}' 的顺序流的条件"))
        scope.reads.append(_Read(file, flow or bpmn_id, what, expr, "eval"))
    for definition in _event_definitions(ts):
        expression = getattr(definition, "expression", None) or ""
        if (isinstance(definition, TimerEventDefinition) and expression.strip()
                and not unquoted_timer_literal(expression)):
            scope.reads.append(_Read(file, bpmn_id, (f"the timer of '{bpmn_id}'", f"'{bpmn_id}' 的定时器"),
                                     expression, "eval"))
        for attr in ("message_var", "variable", "result_var"):
            value = getattr(definition, attr, None)
            if isinstance(value, str) and value:
                scope.sets.add(value)
    if ts.manual and kind != "NoneTask":
        props = (getattr(ts, "extensions", None) or {}).get("properties", {}) or {}
        form = forms.get(props.get("formJsonSchemaFilename") or "")
        if form is None:
            scope.complete = False  # reported as a missing form; its fields are unknown
        else:
            scope.sets |= form_fields(form)
        if props.get("due"):
            scope.reads.append(_Read(file, bpmn_id, (f"the 'due' property of step '{bpmn_id}'",
                                                     f"步骤 '{bpmn_id}' 的 'due' 属性"), props["due"], "eval"))
    if kind == "BusinessRuleTask":
        table = getattr(getattr(ts, "dmnEngine", None), "decision_table", None)
        if table is None:
            scope.complete = False
        else:
            tables[str(table.id)] = table
            scope.sets |= {str(o.name) for o in table.outputs if o.name}
    if "MultiInstance" in kind or "StandardLoop" in kind:
        for attr, what in (("cardinality", ("the loop cardinality", "循环次数")),
                           ("condition", ("the completion condition", "完成条件"))):
            code = getattr(ts, attr, None)
            if isinstance(code, str) and code.strip():
                scope.reads.append(_Read(file, bpmn_id, (f"{what[0]} of step '{bpmn_id}'",
                                                         f"步骤 '{bpmn_id}' 的{what[1]}"), code, "eval"))
    for attr in ("input_item", "output_item", "data_input", "data_output"):
        item_id = getattr(getattr(ts, attr, None), "bpmn_id", None)
        if item_id:
            scope.sets.add(str(item_id))
    scope.sets |= _io_names(getattr(ts, "io_specification", None))
    for association in getattr(ts, "data_output_associations", None) or []:
        if getattr(association, "bpmn_id", None):
            scope.sets.add(str(association.bpmn_id))


def _event_definitions(ts: Any) -> Iterator[Any]:
    definition = getattr(ts, "event_definition", None)
    if isinstance(definition, MultipleEventDefinition):
        yield from definition.event_definitions
    elif definition is not None:
        yield definition


def _io_names(io: Any) -> set[str]:
    if io is None:
        return set()
    items = [*(getattr(io, "data_inputs", None) or []), *(getattr(io, "data_outputs", None) or [])]
    return {str(item.bpmn_id) for item in items if getattr(item, "bpmn_id", None)}


def _table_inputs(scope: _Scope, table: Any, docs: dict[str, XmlDoc]) -> None:
    """A called decision table's input expressions read the caller's data."""
    doc = next((d for d in docs.values() if d.kind == "dmn" and table.id in d.by_id), None)
    if doc is None:
        return
    decision = next(iter(doc.decisions), table.id)
    for table_input in table.inputs:
        if (table_input.expression or "").strip():
            label = table_input.label or table_input.id
            scope.reads.append(_Read(doc.name, table_input.id, (
                f"the input expression '{label}' of decision table '{decision}'",
                f"决策表 '{decision}' 的输入表达式 '{label}'"), table_input.expression, "eval"))
    for rule in table.rules:  # the input cells: a test may read the case's data too (outputs: engine/guard.py)
        row = getattr(rule, "row_number", None) or rule.id
        cells = [(entry.id, entry.input, text) for entry in rule.inputEntries for text in entry.lhs or []]
        for cell_id, column, text in cells:
            code = _cell_code(text)
            if code is None:
                continue
            label = getattr(column, "label", None) or getattr(column, "name", None) or getattr(column, "id", "")
            scope.reads.append(_Read(doc.name, cell_id or rule.id, (
                f"row {row} of decision table '{decision}' (column '{label}')",
                f"决策表 '{decision}' 第 {row} 行（列 '{label}'）"), code, "eval"))


_DMN_INPUT = "dmninputexpr"  # SpiffWorkflow's name for the column's value in an input test (engine/checker_names.py)


def _cell_code(text: str | None) -> str | None:
    """An input cell as SpiffWorkflow evaluates it: an expression compared with the column's value, `<value> <test>`
    when it starts with an operator (`> 2`), or with `?` standing for the value (`1 < ? < 5`). None for an empty cell
    or one that does not parse (reported on its own)."""
    text = (text or "").strip()
    if not text or text == "-":
        return None
    text = re.sub(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)", _DMN_INPUT, text)  # as SpiffWorkflow does
    for code in (text, f"{_DMN_INPUT} {text}"):
        if _tree(code, "eval") is not None:
            return code
    return None


# --- reporting ----------------------------------------------------------------------------------------------------

def _report(bundle: Bundle, scope: _Scope, docs: dict[str, XmlDoc]) -> None:
    known = scope.sets | sandbox_names() | start_variables() | {_DMN_INPUT}
    candidates = sorted(scope.sets | engine_functions() | start_variables() | _sandbox_words())
    # a decision-table cell another check already refused (an SLA value without its quotes, say, with a message
    # that says how to write it) is not refused again for the name it seems to read
    refused = {(p["file"], p["element_id"]) for p in bundle.problems}
    for read in scope.reads:
        doc = docs.get(read.file)
        if doc is not None and doc.kind == "dmn" and (read.file, read.element_id) in refused:
            continue
        tree = _tree(read.code, read.mode)
        if tree is None:
            continue
        line = doc.line(read.element_id) if doc is not None else None
        for name in read_names(tree):
            if name in known or name.startswith("_"):  # RestrictedPython refuses _names itself
                continue
            if name in _PYTHON_BUILTINS:
                bundle.add("name_not_allowed", read.file, read.element_id, line, what=read.what, name=name)
                continue
            bundle.add("name_unknown", read.file, read.element_id, line, what=read.what, name=name,
                       hint=_hint(name, candidates))


_PYTHON_BUILTINS = frozenset(dir(builtins))


def _sandbox_words() -> frozenset[str]:
    """The sandbox's functions a typo may be close to (len, str, sorted ...): no exception classes."""
    return frozenset(n for n in sandbox_names() if n.islower() and not n.startswith("_"))


def _hint(name: str, candidates: Iterable[str]) -> What:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    if not close:
        return ("", "")
    return (f" (did you mean '{close[0]}'?)", f"（是否应为 '{close[0]}'？）")

