"""Parse, validate and lint uploaded diagrams, decision tables and forms before anything is stored.

`check_files` never raises: every step is guarded and whatever goes wrong becomes a located problem
{file, element_id, line, message, message_zh} a process owner can act on.
"""
from __future__ import annotations

import functools
import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from . import guard
from .checker_bundle import Bundle, ParsedProcess
from .checker_lint import lint_table, lint_task
from .checker_locate import positive_int, unexpected, upstream
from .checker_messages import BPMN_NS, DMN_NAMESPACES, clean_upstream, upstream_kind
from .checker_xml import XmlDoc, find_clashes, line_of_text, read_xml, with_id

_SEQUENCE_FLOW = f"{{{BPMN_NS}}}sequenceFlow"
_REFERENCES = (("boundaryEvent", "attachedToRef", ("boundary event", "边界事件")),
               ("dataObjectReference", "dataObjectRef", ("data object reference", "数据对象引用")),
               ("exclusiveGateway", "default", ("exclusive gateway", "排他网关")),
               ("inclusiveGateway", "default", ("inclusive gateway", "包容网关")))


def check_files(files: dict[str, str], *, uploaded: set[str] | None = None) -> Bundle:
    """Parse and lint `files` (name -> text); the bundle's problems are empty when all is well.

    `uploaded` names the files of this request (the rest are deployed files the caller merged in); an id two files
    define is reported on the uploaded one. None means every file was uploaded.
    """
    bundle = Bundle()
    try:
        _check(bundle, files, uploaded)
    except Exception as exc:  # each step catches its own; this is the last net
        unexpected(bundle, exc, _anchor(files, uploaded), {})
    return bundle


def _anchor(files: dict[str, Any], uploaded: set[str] | None) -> str:
    """The file a problem no step could place is reported on: the first uploaded one."""
    return next((name for name in files if uploaded is None or name in uploaded), next(iter(files), ""))


def _check(bundle: Bundle, files: dict[str, str], uploaded: set[str] | None) -> None:
    docs: dict[str, XmlDoc] = {}
    unreadable: set[str] = set()  # parsed, but Spiff would choke on them: their problems are reported already
    for name, text in files.items():
        try:
            if name.endswith(".json"):
                _check_form(bundle, name, text)
            elif name.endswith((".bpmn", ".dmn")):
                kind = "bpmn" if name.endswith(".bpmn") else "dmn"
                doc = read_xml(name, text, kind, _reporter(bundle, name))
                if doc is not None:
                    docs[name] = doc
                    if kind == "dmn" and not _dmn_structure(bundle, doc):
                        unreadable.add(name)
            else:
                bundle.add("unsupported_file", name, None, None)
        except Exception as exc:
            unexpected(bundle, exc, name, docs)
    aside = set()
    for clash in find_clashes(list(docs.values()), uploaded):
        bundle.add(clash.kind, clash.file, clash.element_id, clash.line, id=clash.element_id, here=clash.file,
                   other=clash.other)
        aside.add(clash.file)
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for doc in docs.values():
        if doc.name in unreadable:
            continue
        # A file whose ids clash is still checked on its own, in a parser of its own.
        _add_to_spiff(bundle, SpiffBpmnParser(validator=VALIDATOR) if doc.name in aside else parser, doc, docs)
    if bundle.problems:
        return
    for doc in docs.values():
        _guarded(bundle, doc.name, docs, _check_structure if doc.kind == "bpmn" else _check_decisions,
                 bundle, parser, doc)
    if bundle.problems:
        return
    _guarded(bundle, _anchor(files, uploaded), docs, guard.check_tables, bundle, docs)
    if bundle.problems:
        return
    _parse_processes(bundle, parser, docs)
    if bundle.problems:
        return
    _guarded(bundle, _anchor(files, uploaded), docs, guard.check_procedures, bundle, docs, files)


def _reporter(bundle: Bundle, name: str) -> Any:
    def report(kind: str, element_id: str | None, line: int | None, **params: Any) -> None:
        bundle.add(kind, name, element_id, line, **params)
    return report


def _guarded(bundle: Bundle, name: str, docs: dict[str, XmlDoc], step: Any, *args: Any) -> None:
    try:
        step(*args)
    except Exception as exc:
        unexpected(bundle, exc, name, docs)


# --- forms ---------------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _schema_error(text: str) -> tuple[str, str] | None:
    """Where and why a form's text is no valid JSON Schema (checking against the meta-schema is slow: each text
    is checked once per process)."""
    try:
        Draft202012Validator.check_schema(json.loads(text))
    except SchemaError as exc:
        return "/".join(str(p) for p in exc.path) or "(root)", exc.message
    return None


def _check_form(bundle: Bundle, name: str, text: Any) -> None:
    if not isinstance(text, str):
        bundle.add("not_text", name, None, None, position=1)
        return
    if not text.strip():
        bundle.add("empty_file", name, None, None)
        return
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        bundle.add("json_invalid", name, None, exc.lineno, detail=exc.msg)
        return
    except RecursionError:
        bundle.add("json_too_deep", name, None, None)
        return
    try:
        schema_error = _schema_error(text)
    except RecursionError:
        bundle.add("json_too_deep", name, None, None)
        return
    if schema_error is not None:
        where, message = schema_error
        bundle.add("json_schema_invalid", name, where, None, where=where, detail=clean_upstream(message))
        return
    if not isinstance(schema, dict) or schema.get("type") != "object":
        bundle.add("form_not_object", name, "type", line_of_text(text, '"type"') or 1)
        return
    bundle.forms[name] = schema


# --- XML into Spiff ------------------------------------------------------------------------------------------------

def _add_to_spiff(bundle: Bundle, parser: SpiffBpmnParser, doc: XmlDoc, docs: dict[str, XmlDoc]) -> None:
    try:
        if doc.kind == "bpmn":
            parser.add_bpmn_xml(doc.root, filename=doc.name)
        else:
            parser.add_dmn_xml(doc.root, filename=doc.name)
    except ValidationException as exc:
        if exc.line_number and not exc.id and upstream_kind(str(exc))[0] == "spiff":
            element = with_id(doc.element_at(positive_int(exc.line_number)))
            standard = "BPMN 2.0" if doc.kind == "bpmn" else DMN_NAMESPACES.get(etree.QName(doc.root).namespace, "DMN")
            bundle.add("schema", doc.name, element.get("id") if element is not None else None,
                       positive_int(exc.line_number), standard=standard, detail=clean_upstream(str(exc)))
        else:
            upstream(bundle, exc, doc.name, docs)
    except SpiffWorkflowException as exc:
        upstream(bundle, exc, doc.name, docs)
    except Exception as exc:
        unexpected(bundle, exc, doc.name, docs)


def _check_structure(bundle: Bundle, parser: SpiffBpmnParser, doc: XmlDoc) -> None:
    """A diagram holds an executable process, and its flows join elements that exist (Spiff's own message for a
    dangling flow names neither the flow nor the missing element)."""
    if not doc.processes:
        bundle.add("no_process", doc.name, doc.root.get("id"), doc.root.sourceline)
        return
    if all(p.get("isExecutable", "true") != "true" for p in doc.processes.values()):
        first_id, first = next(iter(doc.processes.items()))
        bundle.add("not_executable", doc.name, first_id, first.sourceline, process=first_id)
    for flow in doc.root.iter(_SEQUENCE_FLOW):
        for end in ("sourceRef", "targetRef"):
            ref = flow.get(end)
            if ref not in doc.by_id:
                bundle.add("flow_dangling", doc.name, flow.get("id"), flow.sourceline, flow=flow.get("id"), end=end,
                           ref=ref)
    # References Spiff follows without checking: a dangling one silently drops the element (a boundary timer
    # attached to nothing never fires) or fails when a case reaches it.
    for tag, attribute, what in _REFERENCES:
        for element in doc.root.iter(f"{{{BPMN_NS}}}{tag}"):
            ref = element.get(attribute)
            if ref is not None and ref not in doc.by_id:
                bundle.add("ref_dangling", doc.name, element.get("id"), element.sourceline, what=what,
                           id=element.get("id") or "", attribute=attribute, ref=ref)


def _dmn_structure(bundle: Bundle, doc: XmlDoc) -> bool:
    """A .dmn holds exactly one decision, and it is a decision table (Spiff reads the first decision of a file only,
    and fails on the others without saying where)."""
    namespace = etree.QName(doc.root).namespace
    decisions = list(doc.root.iter(f"{{{namespace}}}decision"))
    if not decisions:
        bundle.add("dmn_no_decision", doc.name, doc.root.get("id"), doc.root.sourceline)
        return False
    if len(decisions) > 1:
        ids = ", ".join(str(d.get("id")) for d in decisions)
        bundle.add("dmn_multiple_decisions", doc.name, decisions[1].get("id"), decisions[1].sourceline,
                   count=len(decisions), ids=ids)
        return False
    if not decisions[0].get("id"):
        bundle.add("missing_attribute", doc.name, None, decisions[0].sourceline, element="dmn:decision",
                   attribute="id")
        return False
    if decisions[0].find(f"{{{namespace}}}decisionTable") is None:
        bundle.add("dmn_no_table", doc.name, decisions[0].get("id"), decisions[0].sourceline,
                   decision=decisions[0].get("id"))
        return False
    return True


def _check_decisions(bundle: Bundle, parser: SpiffBpmnParser, doc: XmlDoc) -> None:
    """The decision table is parsed now (Spiff parses a table only when a process calls it), and every cell is
    linted where it stands."""
    namespace = etree.QName(doc.root).namespace
    decision = next(doc.root.iter(f"{{{namespace}}}decision"))
    table_element = decision.find(f"{{{namespace}}}decisionTable")
    dmn_parser = parser.dmn_parsers.get(decision.get("id"))
    if dmn_parser is None or table_element is None:
        return
    try:
        dmn_parser.parse()
    except SpiffWorkflowException as exc:
        upstream(bundle, exc, doc.name, {doc.name: doc})
        return
    except Exception as exc:
        unexpected(bundle, exc, doc.name, {doc.name: doc})
        return

    def add(kind: str, element_id: str | None = None, **params: Any) -> None:
        element_id = element_id or decision.get("id")
        bundle.add(kind, doc.name, element_id, doc.line(element_id), **params)

    lint_table(dmn_parser.decision.decisionTables[0], table_element.get("aggregation"), add)


# --- processes -----------------------------------------------------------------------------------------------------

def _parse_processes(bundle: Bundle, parser: SpiffBpmnParser, docs: dict[str, XmlDoc]) -> None:
    linted: set[tuple[str, str]] = set()
    for process_id in parser.get_process_ids():
        source = ""
        try:
            source = parser.get_process_parser(process_id).filename or ""
            spec = parser.get_spec(process_id)
            subs = parser.get_subprocess_specs(process_id)
        except SpiffWorkflowException as exc:
            upstream(bundle, exc, source, docs, fallback=process_id)
            continue
        except Exception as exc:
            unexpected(bundle, exc, source, docs, fallback=process_id)
            continue
        before = len(bundle.problems)
        for sub_spec in [spec, *subs.values()]:
            key = (sub_spec.file or "", sub_spec.name)
            if key not in linted:
                linted.add(key)
                _guarded(bundle, sub_spec.file or source, docs, _lint_spec, bundle, sub_spec, docs)
        if len(bundle.problems) == before:
            bundle.processes.append(ParsedProcess(process_id, spec.description or process_id, source, spec, subs))


def _lint_spec(bundle: Bundle, spec: Any, docs: dict[str, XmlDoc]) -> None:
    source = spec.file or ""
    doc = docs.get(source)
    for ts in spec.task_specs.values():
        bpmn_id = getattr(ts, "bpmn_id", None)
        if bpmn_id is None:
            continue

        def add(kind: str, element_id: str | None = None, _id: str = bpmn_id, **params: Any) -> None:
            element_id = element_id or _id
            bundle.add(kind, source, element_id, doc.line(element_id) if doc else None, **params)

        try:
            lint_task(ts, bundle.forms, doc.by_id.get(bpmn_id) if doc else None, add)
        except Exception as exc:
            unexpected(bundle, exc, source, docs, fallback=bpmn_id)
