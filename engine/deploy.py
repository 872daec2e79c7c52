"""Parse, validate and lint uploaded diagrams, decision tables and forms before anything is stored.

`check_files` never raises: every step is guarded and whatever goes wrong becomes a located problem
{file, element_id, line, message, message_zh} a process owner can act on.
"""
from __future__ import annotations

import copy
import functools
import json
import re
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
from .checker_names import lint_names
from .checker_xml import XmlDoc, find_clashes, line_of_text, read_xml, with_id

_SEQUENCE_FLOW = f"{{{BPMN_NS}}}sequenceFlow"
# Spiff's refusal of an activity (a service task, a call to a process not deployed) is reported, and the diagram is
# parsed again with a plain task standing in for it, so the rest of it is checked in the same pass.
_ACTIVITIES = ("task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
               "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess")
_STAND_IN_LIMIT = 20
_STAND_IN_KINDS = frozenset({"service_task", "unsupported_element", "called_process_missing", "decision_not_found",
                             "decision_not_named"})
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
    if bundle.blocking:
        return
    for doc in docs.values():
        _guarded(bundle, doc.name, docs, _check_structure if doc.kind == "bpmn" else _check_decisions,
                 bundle, parser, doc)
    if bundle.blocking:
        return
    _guarded(bundle, _anchor(files, uploaded), docs, guard.check_tables, bundle, docs)
    if bundle.blocking:
        return
    _parse_processes(bundle, parser, docs, _anchor(files, uploaded))
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
def _schema_error(text: str) -> tuple[list[str | int], Any] | None:
    """Where (the path of keys) and why (English and Chinese) a form's text is no valid JSON Schema (checking
    against the meta-schema is slow: each text is checked once per process)."""
    try:
        Draft202012Validator.check_schema(json.loads(text))
    except SchemaError as exc:
        return list(exc.path), _schema_words(exc)
    return None


_TYPES = "string, number, integer, boolean, object, array, null"


def _schema_words(exc: SchemaError) -> Any:
    """The meta-schema's complaint in both languages, for the few kinds a form's author meets; else its own text."""
    value = json.dumps(exc.instance, ensure_ascii=False)[:80]
    named = len(exc.path) >= 2 and exc.path[-2] in ("properties", "$defs", "definitions", "patternProperties")
    if exc.path and exc.path[-1] == "type" and not named and exc.validator in ("anyOf", "enum", "type"):
        return (f"{value} is not a type: one of {_TYPES}", f"{value} 不是类型名，应为以下之一：{_TYPES}")
    if exc.validator == "type":
        wanted = exc.validator_value if isinstance(exc.validator_value, str) else " or ".join(exc.validator_value)
        return (f"{value} should be of type {wanted}", f"{value} 的类型应为 {wanted}")
    if exc.validator == "enum":
        allowed = ", ".join(json.dumps(v, ensure_ascii=False) for v in exc.validator_value)
        return (f"{value} is not one of {allowed}", f"{value} 不是以下之一：{allowed}")
    if exc.validator in ("minimum", "exclusiveMinimum", "minItems", "minLength"):
        return (f"{value} is too small ({exc.validator} {exc.validator_value})",
                f"{value} 太小（{exc.validator} {exc.validator_value}）")
    detail = clean_upstream(exc.message)
    return (detail, f"不符合 JSON Schema 元模式：{detail}")


def _line_of_path(text: str, path: list[str | int]) -> int:
    """The line of the key at the end of `path` in the form's text (each key looked for after the one before)."""
    at = 0
    for key in path:
        if isinstance(key, str):  # the key itself (followed by its colon), not a string value that reads the same
            found = re.compile(re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:").search(text, at)
            if found is None:
                break
            at = found.start()
    return text.count("\n", 0, at) + 1


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
        # The line and column of the character where reading stopped, as the workbench's form editor shows them.
        bundle.add("json_invalid", name, None, exc.lineno, row=exc.lineno, column=exc.colno,
                   detail=_JSON_WORDS.get(exc.msg, exc.msg))
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
        path, words = schema_error
        where = "/".join(str(p) for p in path) or "(root)"
        bundle.add("json_schema_invalid", name, where, _line_of_path(text, path), where=where, detail=words)
        return
    if not isinstance(schema, dict) or schema.get("type") != "object":
        bundle.add("form_not_object", name, "type", line_of_text(text, '"type"') or 1)
        return
    bundle.forms[name] = schema


_JSON_WORDS: dict[str, tuple[str, str]] = {
    "Expecting ',' delimiter": ("expected ',' here (is a comma missing after the value before?)",
                                "此处应为 ','（前一个值后面是否缺少逗号？）"),
    "Expecting ':' delimiter": ("expected ':' after the property name", "属性名后应为 ':'"),
    "Expecting value": ("expected a value here: a string, number, object, array, true, false or null (and no comma "
                        "before ] or })",
                        "此处应为一个值：字符串、数字、对象、数组、true、false 或 null（] 或 } 前不能有逗号）"),
    "Expecting property name enclosed in double quotes": (
        "expected a property name in double quotes (a comma may not come before })",
        "此处应为带双引号的属性名（} 前不能有逗号）"),
    "Unterminated string starting at": ("unterminated string", "字符串没有结束引号"),
    "Invalid control character at": ("a line break or control character inside a string (write \\n)",
                                     "字符串中有换行或控制字符（请写 \\n）"),
    "Invalid \\escape": ("invalid escape in a string", "字符串中的转义无效"),
    "Invalid \\uXXXX escape": ("invalid \\u escape in a string", "字符串中的 \\u 转义无效"),
    "Extra data": ("unexpected text after the end", "结尾之后还有多余内容"),
}


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
    # A data store reference drawn in bpmn-js names no data store: Spiff passes over it, or, when a task writes to it,
    # refuses the task in words naming neither (one with a data store is refused by Spiff at the data store).
    stores = {el.get("id") for el in doc.root.iter(f"{{{BPMN_NS}}}dataStore")}
    for reference in doc.root.iter(f"{{{BPMN_NS}}}dataStoreReference"):
        if reference.get("dataStoreRef") not in stores:
            bundle.add("data_store", doc.name, reference.get("id"), reference.sourceline,
                       name=reference.get("name") or reference.get("id") or "")
    _check_unconnected(bundle, doc)


def _check_unconnected(bundle: Bundle, doc: XmlDoc) -> None:
    """Every user (or manual) task of an executable process has a flow leading to it: Spiff builds a process from
    its start event and drops what no flow reaches, so a person's step drawn on its own is silently never asked for.
    Compensation handlers and the free-standing steps of an ad-hoc subprocess are left alone; a product step is left
    to the guard, which says why the product needs it."""
    targets = {flow.get("targetRef") for flow in doc.root.iter(_SEQUENCE_FLOW)}
    for process_id, process in doc.processes.items():
        if process.get("isExecutable", "true") != "true":
            continue
        guarded = guard.product_steps(process_id)
        for element in process.iter(f"{{{BPMN_NS}}}userTask", f"{{{BPMN_NS}}}manualTask"):
            element_id = element.get("id")
            container = element.getparent()
            if (not element_id or element_id in targets or element_id in guarded
                    or element.get("isForCompensation") == "true"
                    or container is None or container.find(f"{{{BPMN_NS}}}startEvent") is None  # said elsewhere
                    or any(etree.QName(a).localname == "adHocSubProcess" for a in element.iterancestors())):
                continue
            bundle.add("node_unconnected", doc.name, element_id, element.sourceline, id=element_id)


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

def _parse_processes(bundle: Bundle, parser: SpiffBpmnParser, docs: dict[str, XmlDoc], anchor: str) -> None:
    """Every executable process into Spiff specs, each linted; then the names their code reads. An activity Spiff
    refuses is reported and a plain task stands in for it, so the rest of the diagram is linted in the same pass
    (the processes are then not kept: the bundle has problems)."""
    stood_in: set[tuple[str, str]] = set()
    while True:
        parsed, processes, refused = _parse_all(bundle, parser, docs, stood_in, len(stood_in) < _STAND_IN_LIMIT)
        if refused is None:
            break
        stood_in.add(refused)
        parser = _standing_in(docs, stood_in)
    if not stood_in:
        bundle.processes.extend(processes)
    _guarded(bundle, anchor, docs, lint_names, bundle, parsed, docs, stood_in)


def _parse_all(bundle: Bundle, parser: SpiffBpmnParser, docs: dict[str, XmlDoc], stood_in: set[tuple[str, str]],
               may_stand_in: bool) -> tuple[dict[str, tuple[Any, dict[str, Any]]], list[ParsedProcess],
                                            tuple[str, str] | None]:
    """The specs of every process and those free of problems; stops at the first activity Spiff refuses that a plain
    task may stand in for (when `may_stand_in`), and names it (file, id)."""
    linted: set[tuple[str, str]] = set()
    parsed: dict[str, tuple[Any, dict[str, Any]]] = {}
    processes: list[ParsedProcess] = []
    for process_id in parser.get_process_ids():
        source = ""
        try:
            source = parser.get_process_parser(process_id).filename or ""
            spec = parser.get_spec(process_id)
            subs = parser.get_subprocess_specs(process_id)
        except SpiffWorkflowException as exc:
            file, element_id, kind = upstream(bundle, exc, source, docs, fallback=process_id)
            if may_stand_in and kind in _STAND_IN_KINDS and _may_stand_in(file, element_id, docs, stood_in):
                return parsed, processes, (file, str(element_id))
            continue
        except Exception as exc:
            unexpected(bundle, exc, source, docs, fallback=process_id)
            continue
        parsed[process_id] = (spec, subs)
        before = len(bundle.problems)
        for sub_spec in [spec, *subs.values()]:
            key = (sub_spec.file or "", sub_spec.name)
            if key not in linted:
                linted.add(key)
                _guarded(bundle, sub_spec.file or source, docs, _lint_spec, bundle, sub_spec, docs)
        if len(bundle.problems) == before:
            processes.append(ParsedProcess(process_id, spec.description or process_id, source, spec, subs))
    return parsed, processes, None


def _may_stand_in(file: str, element_id: str | None, docs: dict[str, XmlDoc], stood_in: set[tuple[str, str]]) -> bool:
    doc = docs.get(file)
    element = doc.by_id.get(element_id or "") if doc is not None and doc.kind == "bpmn" else None
    return (element is not None and (file, element_id) not in stood_in
            and etree.QName(element).namespace == BPMN_NS and etree.QName(element).localname in _ACTIVITIES
            and etree.QName(element).localname not in ("subProcess", "transaction", "adHocSubProcess"))


def _standing_in(docs: dict[str, XmlDoc], stood_in: set[tuple[str, str]]) -> SpiffBpmnParser:
    """A parser of all `docs` in which a plain bpmn:task (same id, name and flows) replaces each of `stood_in`."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for doc in docs.values():
        root = doc.root
        ids = {element_id for file, element_id in stood_in if file == doc.name}
        if ids:
            root = copy.deepcopy(doc.root)
            for element in [el for el in root.iter(etree.Element) if el.get("id") in ids]:
                task = etree.Element(f"{{{BPMN_NS}}}task", id=element.get("id"))
                if element.get("name") is not None:
                    task.set("name", element.get("name"))
                for child in element:
                    if child.tag in (f"{{{BPMN_NS}}}incoming", f"{{{BPMN_NS}}}outgoing"):
                        task.append(copy.deepcopy(child))
                element.getparent().replace(element, task)
        if doc.kind == "bpmn":
            parser.add_bpmn_xml(root, filename=doc.name)
        else:
            parser.add_dmn_xml(root, filename=doc.name)
    return parser


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
