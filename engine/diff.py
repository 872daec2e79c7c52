"""Semantic diff of two versions of a procedure's files, for a process owner's visual diff.

`diff_bundles(old, new)` takes two bundles (file name -> text; .bpmn, .dmn and .json forms) and reports:

- "files": names added, removed, changed (text differs) and the same;
- "bpmn": per diagram, the semantic elements (flow nodes, sequence flows, lanes, data objects, participants,
  message flows, ...) added, removed or changed, by id, with short human-readable details. An element is
  compared on its attributes, its lane and its own child content (documentation, extension elements,
  scripts, conditions, event definitions), never on child flow elements or incoming/outgoing references,
  and never on diagram interchange: moving a shape is not a change;
- "dmn": per decision table, rules added, removed and changed, by rule id;
- "forms": per JSON-Schema form, fields added, removed and changed, and required fields added and removed.

Keys that only make sense when something differs ("inputs_changed", "outputs_changed", "hit_policy_changed",
"order_changed" on a decision; "other_changed" on a form) are present only then. A file that cannot be read
gives {"file", "error"} instead of its entry. The function is pure, never raises, and its output is
JSON-serializable and sorted.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from lxml import etree

from .diff_forms import Unreadable, form_file

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
FLOW_NODES = frozenset({
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "businessRuleTask", "sendTask", "receiveTask",
    "callActivity", "subProcess", "transaction", "adHocSubProcess", "startEvent", "endEvent", "boundaryEvent",
    "intermediateCatchEvent", "intermediateThrowEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "complexGateway",
})
SEMANTIC = FLOW_NODES | {
    "process", "collaboration", "participant", "sequenceFlow", "messageFlow", "lane", "dataObject",
    "dataObjectReference", "dataStore", "dataStoreReference", "textAnnotation", "association",
}
# Children that are references to, or containers of, other semantic elements: not an element's own content.
REFERENCES = frozenset({"incoming", "outgoing", "flowNodeRef", "laneSet", "childLaneSet"})
TEXT_FACETS = {
    "documentation": "documentation", "script": "script", "conditionExpression": "condition",
    "instructionsForEndUser": "instructions", "calledDecisionId": "decision", "preScript": "pre-script",
    "postScript": "post-script",
}
TIMERS = {"timeDuration": "duration", "timeDate": "date", "timeCycle": "cycle"}
PROPERTIES = {"formJsonSchemaFilename": "form", "formUiSchemaFilename": "ui form", "due": "due",
              "assignee": "assignee", "status": "status", "email_template": "e-mail template"}
BULK = frozenset({"documentation", "script", "instructions", "pre-script", "post-script"})
LABELS = {"@sourceRef": "from", "@targetRef": "to", "@attachedToRef": "attached to", "@default": "default flow",
          "@calledElement": "calls", "@processRef": "process"}
SHORT = 80

Compare = Callable[[str, str | None, str | None], list[dict[str, Any]]]


def diff_bundles(old: dict[str, str], new: dict[str, str]) -> dict[str, Any]:
    """Compare two versions of a procedure's files (name -> text); never raises."""
    try:
        before, after = _bundle(old), _bundle(new)
        return {"files": _file_lists(before, after), "bpmn": _per_kind(before, after, ".bpmn", _bpmn_file),
                "dmn": _per_kind(before, after, ".dmn", _dmn_file),
                "forms": _per_kind(before, after, ".json", form_file)}
    except Exception as exc:  # a last resort: the per-file guards should have caught everything
        return {"files": {"added": [], "removed": [], "changed": [], "same": []}, "bpmn": [], "dmn": [],
                "forms": [], "error": f"{type(exc).__name__}: {exc}"}


def _bundle(files: Any) -> dict[str, str]:
    """The bundle as name -> text, whatever was passed in."""
    if not isinstance(files, Mapping):
        return {}
    return {str(name): _as_text(value) for name, value in files.items() if value is not None}


def _as_text(value: Any) -> str:
    """A file's content as text."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def _file_lists(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """File names added, removed, changed and unchanged."""
    names = sorted(set(before) | set(after))
    both = [name for name in names if name in before and name in after]
    return {"added": [name for name in names if name not in before],
            "removed": [name for name in names if name not in after],
            "changed": [name for name in both if before[name] != after[name]],
            "same": [name for name in both if before[name] == after[name]]}


def _per_kind(before: dict[str, str], after: dict[str, str], suffix: str, compare: Compare) -> list[dict[str, Any]]:
    """The entries of every file of one kind, in name order."""
    entries: list[dict[str, Any]] = []
    for name in sorted(set(before) | set(after)):
        if name.lower().endswith(suffix):
            entries.extend(_guarded(name, before.get(name), after.get(name), compare))
    return entries


def _guarded(name: str, old: str | None, new: str | None, compare: Compare) -> list[dict[str, Any]]:
    """The entries `compare` gives for one file, or one error entry."""
    try:
        return compare(name, old, new)
    except Unreadable as exc:
        return [{"file": name, "error": str(exc)}]
    except Exception as exc:
        return [{"file": name, "error": f"cannot compare: {type(exc).__name__}: {exc}"}]


# -- XML helpers -------------------------------------------------------------------------------------------------

def _parse_xml(text: str) -> Any:
    """Parse XML with a parser that expands no entities and fetches nothing."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True, encoding="utf-8")
    root = etree.fromstring(text.encode("utf-8", "replace"), parser)
    if root is None:
        raise ValueError("empty document")
    return root


def _xml_root(text: str | None, side: str) -> Any:
    """The parsed root of one version of a file, None when the file is absent."""
    if text is None:
        return None
    try:
        return _parse_xml(text)
    except Exception as exc:
        raise Unreadable(f"{side} version does not parse: {exc}") from exc


def _local(el: Any) -> str:
    """An element's tag without its namespace."""
    return el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""


def _ns(el: Any) -> str:
    """An element's namespace URI ("" when none)."""
    return el.tag[1:].split("}", 1)[0] if isinstance(el.tag, str) and el.tag.startswith("{") else ""


def _children(el: Any) -> list[Any]:
    """An element's child elements (no comments, entities or processing instructions)."""
    return list(el.iterchildren(etree.Element)) if el is not None else []


def _child(el: Any, local: str) -> Any:
    """The first child element named `local`, or None."""
    return next((child for child in _children(el) if _local(child) == local), None)


def _text_of(el: Any) -> str:
    """All the text inside an element, with line ends normalised and the ends stripped."""
    if el is None:
        return ""
    return "".join(str(part) for part in el.itertext()).replace("\r\n", "\n").strip()


def _canonical(el: Any) -> str:
    """A stable text form of a subtree: sorted attributes (ids aside), stripped text."""
    attrs = " ".join(f"{key.rsplit('}', 1)[-1]}={value!r}" for key, value in sorted(el.attrib.items())
                     if key != "id")
    inner = (el.text or "").strip() + "".join(_canonical(c) + (c.tail or "").strip() for c in _children(el))
    return f"<{_local(el)}{' ' + attrs if attrs else ''}>{inner}</{_local(el)}>"


# -- BPMN --------------------------------------------------------------------------------------------------------

def _bpmn_file(name: str, old: str | None, new: str | None) -> list[dict[str, Any]]:
    """The element diff of one BPMN file."""
    before = _bpmn_elements(_xml_root(old, "old"))
    after = _bpmn_elements(_xml_root(new, "new"))
    parts = {key: found for key in sorted(set(before) & set(after)) if (found := _parts(before[key], after[key]))}
    details = {key: [_sentence(part) for part in found] for key, found in parts.items()}
    added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    names = {key: label for key in sorted([*added, *removed, *details])
             if (label := (after.get(key) or before.get(key) or {}).get("@name"))}
    return [{"file": name, "added": added, "removed": removed, "changed": sorted(details), "details": details,
             "parts": parts, "names": names}]


def _is_semantic(el: Any) -> bool:
    """Whether an element is a BPMN model element compared by id."""
    return _ns(el) == BPMN_NS and _local(el) in SEMANTIC


def _bpmn_elements(root: Any) -> dict[str, dict[str, str]]:
    """The semantic elements of a diagram: id -> facets (first of duplicate ids wins)."""
    if root is None:
        return {}
    lanes = _lane_of(root)
    elements: dict[str, dict[str, str]] = {}
    for el in root.iter(etree.Element):
        key = el.get("id")
        if key and key not in elements and _is_semantic(el):
            elements[key] = _facets(el, lanes.get(key))
    return elements


def _lane_of(root: Any) -> dict[str, str]:
    """Flow node id -> the name of its innermost lane."""
    found: dict[str, tuple[int, str]] = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        depth = sum(1 for _ in lane.iterancestors(f"{{{BPMN_NS}}}lane"))
        label = lane.get("name") or lane.get("id") or "?"
        for ref in lane.iterchildren(f"{{{BPMN_NS}}}flowNodeRef"):
            node = (ref.text or "").strip()
            if node and depth >= found.get(node, (-1, ""))[0]:
                found[node] = (depth, label)
    return {node: label for node, (_, label) in found.items()}


def _facets(el: Any, lane: str | None) -> dict[str, str]:
    """What an element is compared on: its type, attributes ("@name"), lane and own child content."""
    facets = {"type": _local(el)}
    for key, value in el.attrib.items():
        local = key.rsplit("}", 1)[-1]
        if local != "id":
            facets[f"@{local}"] = value
    if lane is not None:
        facets["lane"] = lane
    _content(el, facets)
    return facets


def _content(el: Any, facets: dict[str, str]) -> None:
    """Collect an element's own child content into `facets`, skipping child flow elements and references."""
    for child in _children(el):
        local = _local(child)
        if _is_semantic(child) or (_ns(child) == BPMN_NS and local in REFERENCES):
            continue
        if local in ("extensionElements", "properties"):
            _content(child, facets)
        elif local.endswith("EventDefinition"):
            _add(facets, "event", _event_label(child))
            _content(child, facets)
        elif local in TIMERS:
            _add(facets, "timer kind", TIMERS[local])
            _add(facets, "timer", _text_of(child))
        elif local == "property" and child.get("name"):
            name = child.get("name")
            _add(facets, PROPERTIES.get(name, f"property {name}"), child.get("value", _canonical(child)))
        else:
            _add(facets, TEXT_FACETS.get(local, local),
                 _text_of(child) if local in TEXT_FACETS else _canonical(child))


def _event_label(el: Any) -> str:
    """An event definition as "timer", "message messageRef=...", ..."""
    kind = _local(el).removesuffix("EventDefinition") or _local(el)
    refs = [f"{key.rsplit('}', 1)[-1]}={value}" for key, value in sorted(el.attrib.items()) if key != "id"]
    return " ".join([kind, *refs])


def _add(facets: dict[str, str], key: str, value: str) -> None:
    """Record one facet, joining repeated ones."""
    facets[key] = f"{facets[key]}\n{value}" if key in facets else value


def _parts(old: dict[str, str], new: dict[str, str]) -> list[dict[str, Any]]:
    """What differs between two versions of an element, one change each: `label` (the facet, in English words:
    "name", "condition", "timer" ...), `change` ("added", "removed", "changed": too long to show; "value": `old` →
    `new`; "lane"; "moved_to" / "left": a lane) and the values shown. The workbench shows them in the reader's
    language; `_sentence` words one in English (the API's `details`)."""
    keys = sorted(set(old) | set(new), key=_facet_order)
    return [_part(key, old.get(key), new.get(key)) for key in keys if old.get(key) != new.get(key)]


def _facet_order(key: str) -> tuple[int, str]:
    """Type, name and lane first, then the other attributes, then content."""
    rank = {"type": 0, "@name": 1, "lane": 2}.get(key, 3 if key.startswith("@") else 4)
    return rank, key


def _part(key: str, old: str | None, new: str | None) -> dict[str, Any]:
    """One change of one facet."""
    label = LABELS.get(key, key.lstrip("@"))
    if key == "lane":
        change = "moved_to" if old is None else "left" if new is None else "lane"
        return {"label": label, "change": change, "old": old, "new": new}
    if key in BULK or not (_short(old) and _short(new)):
        change = "added" if old is None else "removed" if new is None else "changed"
        return {"label": label, "change": change, "old": None, "new": None}
    return {"label": label, "change": "value", "old": _show(key, old), "new": _show(key, new)}


def _sentence(part: dict[str, Any]) -> str:
    """One change in English, e.g. "name: 'a' → 'b'", "lane: a → b", "moved to lane a" or "script changed"."""
    label, change, old, new = part["label"], part["change"], part["old"], part["new"]
    if change == "moved_to":
        return f"moved to lane {new}"
    if change == "left":
        return f"no longer in lane {old}"
    if change in ("added", "removed", "changed"):
        return f"{label} {change}"
    return f"{label}: {old} → {new}"


def _short(value: str | None) -> bool:
    """Whether a value fits on one short line."""
    return value is None or (len(value) <= SHORT and "\n" not in value)


def _show(key: str, value: str | None) -> str:
    """A value as shown in a description: attributes quoted, content as written."""
    if value is None:
        return "(none)"
    return f"'{value}'" if key.startswith("@") or not value else value


# -- DMN ---------------------------------------------------------------------------------------------------------

def _dmn_file(name: str, old: str | None, new: str | None) -> list[dict[str, Any]]:
    """The rule diff of every decision table in one DMN file."""
    before = _decisions(_xml_root(old, "old"))
    after = _decisions(_xml_root(new, "new"))
    return [_decision_entry(name, key, before.get(key) or _no_table(), after.get(key) or _no_table())
            for key in sorted(set(before) | set(after), key=_natural)]


def _decisions(root: Any) -> dict[str, dict[str, Any]]:
    """Decision id -> its table (hit policy, columns, rules by id)."""
    if root is None:
        return {}
    found: dict[str, dict[str, Any]] = {}
    decisions = [el for el in root.iter(etree.Element) if _local(el) == "decision"]
    for index, el in enumerate(decisions, start=1):
        found.setdefault(el.get("id") or f"decision {index}", _decision(el))
    return found


def _decision(el: Any) -> dict[str, Any]:
    """A decision's table: hit policy, input and output columns, rules by id in table order."""
    table = _child(el, "decisionTable")
    if table is None:
        return _no_table()
    children = _children(table)
    rules: dict[str, dict[str, Any]] = {}
    for index, rule in enumerate((c for c in children if _local(c) == "rule"), start=1):
        rules.setdefault(rule.get("id") or f"rule {index}", _rule(rule))
    return {"hit_policy": table.get("hitPolicy", "UNIQUE"), "rules": rules,
            "inputs": [_input_column(c) for c in children if _local(c) == "input"],
            "outputs": [_output_column(c) for c in children if _local(c) == "output"]}


def _no_table() -> dict[str, Any]:
    """A decision without a table (or absent from one version)."""
    return {"hit_policy": None, "inputs": [], "outputs": [], "rules": {}}


def _rule(el: Any) -> dict[str, Any]:
    """A rule's cells (input and output texts, in column order) and description."""
    cells = _children(el)
    return {"inputs": [_text_of(_child(c, "text")) for c in cells if _local(c) == "inputEntry"],
            "outputs": [_text_of(_child(c, "text")) for c in cells if _local(c) == "outputEntry"],
            "description": _text_of(_child(el, "description"))}


def _input_column(el: Any) -> dict[str, str]:
    """An input column: label, expression and type."""
    expression = _child(el, "inputExpression")
    typeref = expression.get("typeRef", "") if expression is not None else ""
    return {"label": el.get("label", ""), "expression": _text_of(_child(expression, "text")), "type": typeref}


def _output_column(el: Any) -> dict[str, str]:
    """An output column: label, variable name and type."""
    return {"label": el.get("label", ""), "name": el.get("name", ""), "type": el.get("typeRef", "")}


def _decision_entry(name: str, decision: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The diff of one decision table."""
    entry: dict[str, Any] = {"file": name, "decision": decision, **_rule_changes(old["rules"], new["rules"])}
    for key in ("inputs", "outputs"):
        if old[key] != new[key]:
            entry[f"{key}_changed"] = {"before": old[key], "after": new[key]}
    if None not in (old["hit_policy"], new["hit_policy"]) and old["hit_policy"] != new["hit_policy"]:
        entry["hit_policy_changed"] = {"before": old["hit_policy"], "after": new["hit_policy"]}
    common = set(old["rules"]) & set(new["rules"])
    if [r for r in old["rules"] if r in common] != [r for r in new["rules"] if r in common]:
        entry["order_changed"] = True
    return entry


def _rule_changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> dict[str, list[Any]]:
    """Rules added, removed and changed, by rule id."""
    return {"added": [{"id": key, **new[key]} for key in sorted(set(new) - set(old), key=_natural)],
            "removed": [{"id": key, **old[key]} for key in sorted(set(old) - set(new), key=_natural)],
            "changed": [{"id": key, "before": old[key], "after": new[key]}
                        for key in sorted(set(old) & set(new), key=_natural) if old[key] != new[key]]}


def _natural(text: str) -> tuple[list[Any], str]:
    """A sort key putting "rule_2" before "rule_10"."""
    parts = re.split(r"(\d+)", text)
    return [int(part) if index % 2 else part for index, part in enumerate(parts)], text
