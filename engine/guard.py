"""The product guard: a deployed bundle keeps the steps, form fields, calls and decision tables the code
relies on (the rules are engine/guard_rules.py).

A diagram may change anything else, but a file that defines one of these process ids (or decision ids) must keep
what the code reads, or tickets would silently skip steps (a maintenance request without `triage` closes at once).
Problems name the process (or step) and say why the product needs it, in both languages.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

from .checker_bundle import Bundle
from .checker_messages import BPMN_NS, SPIFF_NS
from .checker_xml import XmlDoc, line_of_text
from .guard_rules import (
    PROCEDURES,
    TABLES,
    USER_TASK,
    Calls,
    Collects,
    FieldType,
    Output,
    Step,
    Table,
    UsesDecision,
    Why,
    product_steps,
)

__all__ = ["check_procedures", "check_tables", "product_steps"]


# --- checks --------------------------------------------------------------------------------------------------------

def check_tables(bundle: Bundle, docs: dict[str, XmlDoc]) -> None:
    """The product's decision tables keep their ids and outputs (checked before processes call them, so the problem
    lands on the .dmn that changed, not on the diagram that calls it)."""
    for table in TABLES:
        doc = docs.get(table.file)
        if doc is None or doc.kind != "dmn":
            continue
        decision = doc.decisions.get(table.decision)
        if decision is None:
            first = next(iter(doc.decisions), None)
            bundle.add("guard_decision_missing", doc.name, first, doc.line(first) or doc.root.sourceline,
                       dmn=doc.name, decision=table.decision, why=table.why)
            continue
        outputs = {o.get("name") for o in decision.iter() if isinstance(o.tag, str) and o.tag.endswith("}output")}
        missing = [output for output in table.outputs if output not in outputs]
        for output in missing:
            bundle.add("guard_decision_output", doc.name, table.decision, doc.line(table.decision),
                       decision=table.decision, output=output, why=table.why)
        if not missing:
            _check_values(bundle, doc, table, decision)


_BARE = re.compile(r"[A-Za-z0-9_.:+\-/]+")


def _check_values(bundle: Bundle, doc: XmlDoc, table: Table, decision: Any) -> None:
    """Each rule's output cells give values the code can use (the SLA terms: a literal in every rule)."""
    namespace = etree.QName(decision).namespace
    element = decision.find(f"{{{namespace}}}decisionTable")
    if element is None:
        return
    names = [o.get("name") for o in element.findall(f"{{{namespace}}}output")]
    wanted = {o.name: o for o in table.values}
    for rule in element.findall(f"{{{namespace}}}rule"):
        for name, entry in zip(names, rule.findall(f"{{{namespace}}}outputEntry"), strict=False):
            output = wanted.get(name or "")
            if output is not None:
                _check_value(bundle, doc, table, str(rule.get("id") or ""), entry, output)


def _check_value(bundle: Bundle, doc: XmlDoc, table: Table, rule: str, entry: Any, output: Output) -> None:
    namespace = etree.QName(entry).namespace
    text = (entry.findtext(f"{{{namespace}}}text") or "").strip()
    where: tuple[str, str | None, int | None] = (doc.name, entry.get("id") or rule or None, entry.sourceline)
    words: dict[str, Any] = {"rule": rule, "decision": table.decision, "output": output.name,
                             "expected": output.expected, "why": output.why}
    if not text:
        if output.required:
            bundle.add("table_output_empty", *where, **words)
        return
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        if _BARE.fullmatch(text) and not text[0].isdigit():
            # PT4H, working, true: Python reads a bare word as a variable, which no case has.
            bool_word = {"true": "True", "false": "False"}.get(text.lower())
            suggestion: Why = ((bool_word, bool_word) if bool_word and output.check(output.name, bool_word) is None
                               else (f"{json.dumps(text)}, in quotes", f"带引号的 {json.dumps(text)}"))
            bundle.add("table_output_unquoted", *where, source=text, suggestion=suggestion, **words)
        return  # an expression: evaluated when a case runs the table
    reason = output.check(output.name, text)
    if reason is not None:
        bundle.add("table_output_invalid", *where, value=text, reason=reason, **words)


def check_procedures(bundle: Bundle, docs: dict[str, XmlDoc], files: dict[str, str]) -> None:
    """Each product process a file defines keeps the steps, fields, calls and decision calls the code relies on."""
    parsed = {p.process_id: p for p in bundle.processes}
    all_processes = {pid for doc in docs.values() for pid in doc.processes}
    for process_id, requirements in PROCEDURES.items():
        doc = next((d for d in docs.values() if process_id in d.processes), None)
        if doc is None:
            continue
        process = _Process(process_id, doc, parsed.get(process_id), all_processes)
        if process_id not in parsed:  # drawn, but not executable: nothing of it would run
            bundle.add("guard_not_executable", doc.name, process_id, process.line, process=process_id)
            continue
        for requirement in requirements:
            if isinstance(requirement, Step):
                _check_step(bundle, process, requirement, files)
            elif isinstance(requirement, Collects):
                _check_collects(bundle, process, requirement)
            elif isinstance(requirement, Calls):
                _check_call(bundle, process, requirement)
            else:
                _check_decision_call(bundle, process, requirement)


class _Process:
    """One product process: its XML element and the task specs Spiff parsed for it (and its embedded subprocesses)."""

    def __init__(self, process_id: str, doc: XmlDoc, parsed: Any, all_processes: set[str]) -> None:
        self.id, self.doc, self.element = process_id, doc, doc.processes[process_id]
        specs = []
        if parsed is not None:
            specs = [parsed.spec, *(s for name, s in parsed.subprocess_specs.items() if name not in all_processes)]
        self.tasks = {ts.bpmn_id: ts for spec in specs for ts in spec.task_specs.values()
                      if getattr(ts, "bpmn_id", None)}

    @property
    def line(self) -> int | None:
        return int(self.element.sourceline) if self.element.sourceline else self.doc.line(self.id)

    def user_tasks(self) -> Iterator[Any]:
        return (ts for ts in self.tasks.values() if type(ts).__name__ == "UserTask")

    def drawn(self, element_id: str) -> bool:
        return any(el.get("id") == element_id for el in self.element.iter() if isinstance(el.tag, str))


def _form(bundle: Bundle, ts: Any) -> tuple[str | None, set[str] | None]:
    """The form a user task names and its field names (None when the form is not deployed)."""
    name = ((ts.extensions or {}).get("properties", {}) or {}).get("formJsonSchemaFilename")
    schema = bundle.forms.get(name) if name else None
    return name, (_field_names(schema) if schema is not None else None)


def _field_names(schema: Any) -> set[str]:
    """Every property a form schema defines, including those of allOf/anyOf/oneOf/if/then/else branches."""
    if not isinstance(schema, dict):
        return set()
    names = set(schema.get("properties") or {})
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key) or []:
            names |= _field_names(branch)
    for key in ("if", "then", "else"):
        names |= _field_names(schema.get(key))
    for branch in (schema.get("dependentSchemas") or {}).values():
        names |= _field_names(branch)
    return names


def _check_step(bundle: Bundle, process: _Process, step: Step, files: dict[str, str]) -> None:
    ts = process.tasks.get(step.id)
    if ts is None:
        kind = "guard_step_unreachable" if process.drawn(step.id) else "guard_step_missing"
        bundle.add(kind, process.doc.name, process.id, process.line, process=process.id, step=step.id, what=USER_TASK,
                   why=step.why)
        return
    where = (process.doc.name, step.id, process.doc.line(step.id))
    if type(ts).__name__ != "UserTask":
        bundle.add("guard_step_kind", *where, process=process.id, step=step.id, what=USER_TASK, why=step.why)
        return
    if step.lane and ts.lane != step.lane:
        bundle.add("guard_step_lane", *where, process=process.id, step=step.id, lane=step.lane, why=step.why)
    if not step.fields:
        return
    form, names = _form(bundle, ts)
    if form is None or names is None:
        shown = ", ".join(f if isinstance(f, str) else f[0] for f in step.fields)
        bundle.add("guard_step_form", *where, process=process.id, step=step.id, fields=shown, why=step.why)
        return
    for wanted in step.fields:
        options = (wanted,) if isinstance(wanted, str) else wanted
        if not any(o in names for o in options):
            text = files.get(form)
            line = line_of_text(text, '"properties"') if isinstance(text, str) else None
            bundle.add("guard_form_field", form, "properties", line,
                       form=form, step=step.id, process=process.id, field=options[0], why=step.why)
    for field_type in step.types:
        prop = _property(bundle.forms.get(form), field_type.field)
        if prop is not None and not _type_fits(prop, field_type):
            text = files.get(form)
            match = re.search(rf'"{re.escape(field_type.field)}"\s*:', text) if isinstance(text, str) else None
            line = text.count("\n", 0, match.start()) + 1 if match and isinstance(text, str) else None
            bundle.add("guard_field_type", form, f"properties/{field_type.field}", line, form=form, step=step.id,
                       process=process.id, field=field_type.field, expected=field_type.expected, why=field_type.why)


def _property(schema: Any, name: str) -> dict[str, Any] | None:
    """The schema of field `name`: in `properties`, else in a branch (allOf/anyOf/oneOf/if/then/else)."""
    if not isinstance(schema, dict):
        return None
    found = (schema.get("properties") or {}).get(name) if isinstance(schema.get("properties"), dict) else None
    if isinstance(found, dict):
        return found
    branches = [schema.get(k) for k in ("if", "then", "else")]
    for key in ("allOf", "anyOf", "oneOf"):
        branches.extend(schema.get(key) or [])
    return next((p for p in (_property(b, name) for b in branches) if p is not None), None)


def _type_fits(prop: dict[str, Any], field_type: FieldType) -> bool:
    types = prop.get("type")
    if (types if isinstance(types, list) else [types]).count(field_type.type) == 0:
        return False
    offered = _offered(prop)
    if any(not _has(offered, value) for value in field_type.values):
        return False
    if field_type.within:
        if offered:
            return all(_has(field_type.within, value) for value in offered)
        low, high = prop.get("minimum"), prop.get("maximum")
        return (isinstance(low, int | float) and isinstance(high, int | float)
                and low >= min(field_type.within) and high <= max(field_type.within))
    return True


def _offered(prop: dict[str, Any]) -> list[Any]:
    """The values a field offers: its enum, its const, or the consts of its oneOf/anyOf choices."""
    values = list(prop.get("enum") or []) if isinstance(prop.get("enum"), list) else []
    if "const" in prop:
        values.append(prop["const"])
    for key in ("oneOf", "anyOf"):
        for choice in prop.get(key) or []:
            if isinstance(choice, dict):
                values.extend(_offered(choice))
    return values


def _has(values: Any, value: Any) -> bool:
    """`value in values`, but True is not 1."""
    return any(type(v) is type(value) and v == value for v in values)


def _check_collects(bundle: Bundle, process: _Process, collects: Collects) -> None:
    tasks = [ts for ts in process.user_tasks() if collects.lane is None or ts.lane == collects.lane]
    where_words = (("user task in lane " + collects.lane, "泳道 " + collects.lane + " 中用户任务") if collects.lane
                   else ("user task", "用户任务"))
    if not collects.fields:
        if not tasks:
            bundle.add("guard_lane_step_missing", process.doc.name, process.id, process.line, process=process.id,
                       lane=collects.lane, why=collects.why)
        return
    collected: set[str] = set()
    for ts in tasks:
        collected |= _form(bundle, ts)[1] or set()
    for name in collects.fields:
        if name not in collected:
            bundle.add("guard_process_field", process.doc.name, process.id, process.line, process=process.id,
                       field=name, where=where_words, why=collects.why)


def _check_call(bundle: Bundle, process: _Process, calls: Calls) -> None:
    called = {el.get("calledElement") for el in process.element.iter(f"{{{BPMN_NS}}}callActivity")}
    if calls.process not in called:
        bundle.add("guard_call_missing", process.doc.name, process.id, process.line, process=process.id,
                   called=calls.process, why=calls.why)


def _check_decision_call(bundle: Bundle, process: _Process, uses: UsesDecision) -> None:
    called = {(el.text or "").strip() for el in process.element.iter(f"{{{SPIFF_NS}}}calledDecisionId")}
    if uses.decision not in called:
        bundle.add("guard_decision_call", process.doc.name, process.id, process.line, process=process.id,
                   decision=uses.decision, why=uses.why)
