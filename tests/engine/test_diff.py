"""Tests for engine.diff: the semantic diff of two versions of a procedure's files."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine.diff import diff_bundles

ROOT = Path(__file__).resolve().parents[2]

BPMN = "maintenance_request.bpmn"
DMN = "sla.dmn"
FORM = "triage.json"
SHIPPED = {
    BPMN: (ROOT / "processes" / BPMN).read_text(encoding="utf-8"),
    DMN: (ROOT / "processes" / DMN).read_text(encoding="utf-8"),
    FORM: (ROOT / "forms" / FORM).read_text(encoding="utf-8"),
}
NEW_TASK = """    <bpmn:userTask id="review_triage" name="复核分诊 Review triage">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="triage.json"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f_triage_defaults</bpmn:incoming>
      <bpmn:outgoing>f_review_defaults</bpmn:outgoing>
    </bpmn:userTask>
"""
NEW_RULE = """      <rule id="sla_rule_12">
        <description>二级故障（现场）. Severity 2 on site</description>
        <inputEntry id="sla_rule_12_in_1"><text>&quot;fault&quot;</text></inputEntry>
        <inputEntry id="sla_rule_12_in_2"><text>2</text></inputEntry>
        <inputEntry id="sla_rule_12_in_3"><text></text></inputEntry>
        <inputEntry id="sla_rule_12_in_4"><text>True</text></inputEntry>
        <outputEntry id="sla_rule_12_out_1"><text>&quot;PT2H&quot;</text></outputEntry>
        <outputEntry id="sla_rule_12_out_2"><text>&quot;PT12H&quot;</text></outputEntry>
        <outputEntry id="sla_rule_12_out_3"><text>&quot;24x7&quot;</text></outputEntry>
      </rule>
"""


def edited(text: str, *edits: tuple[str, str]) -> str:
    """`text` with each (old, new) edit applied; every `old` must occur exactly once, as in a hand edit."""
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def removed_block(text: str, start: str, end: str) -> str:
    """`text` without the lines from the one containing `start` to the next one containing `end`."""
    pattern = re.compile(rf"^[^\n]*{re.escape(start)}.*?{re.escape(end)}[^\n]*\n", re.S | re.M)
    result, count = pattern.subn("", text, count=1)
    assert count == 1, start
    return result


def bpmn_diff(new_text: str) -> dict[str, Any]:
    """The BPMN entry of the shipped diagram against `new_text`."""
    result = diff_bundles({BPMN: SHIPPED[BPMN]}, {BPMN: new_text})
    [entry] = result["bpmn"]
    return entry


def dmn_diff(new_text: str) -> dict[str, Any]:
    """The DMN entry of the shipped SLA table against `new_text`."""
    [entry] = diff_bundles({DMN: SHIPPED[DMN]}, {DMN: new_text})["dmn"]
    return entry


def form_diff(name: str, old_text: str, new_text: str) -> dict[str, Any]:
    """The form entry of `old_text` against `new_text`."""
    [entry] = diff_bundles({name: old_text}, {name: new_text})["forms"]
    return entry


def with_form(**changes: Any) -> str:
    """The shipped triage form with top-level keys replaced."""
    return json.dumps({**json.loads(SHIPPED[FORM]), **changes}, ensure_ascii=False, indent=2)


def test_identical_bundles_give_empty_lists() -> None:
    """Nothing edited: every file is the same and every list is empty."""
    result = diff_bundles(SHIPPED, dict(SHIPPED))
    assert result["files"] == {"added": [], "removed": [], "changed": [], "same": [BPMN, DMN, FORM]}
    assert result["bpmn"] == [{"file": BPMN, "added": [], "removed": [], "changed": [], "details": {}, "parts": {},
                              "names": {}}]
    assert result["dmn"] == [{"file": DMN, "decision": "sla", "added": [], "removed": [], "changed": []}]
    assert result["forms"] == [{"file": FORM, "added": [], "removed": [], "changed": [], "required_added": [],
                                "required_removed": []}]


def test_adding_a_user_task_with_a_flow() -> None:
    """A task inserted after triage: the task and its flow are added, the re-targeted flow changed."""
    text = edited(
        SHIPPED[BPMN],
        ('<bpmn:flowNodeRef>triage_defaults</bpmn:flowNodeRef>',
         '<bpmn:flowNodeRef>triage_defaults</bpmn:flowNodeRef>\n<bpmn:flowNodeRef>review_triage</bpmn:flowNodeRef>'),
        ('    <bpmn:scriptTask id="triage_defaults"', NEW_TASK + '    <bpmn:scriptTask id="triage_defaults"'),
        ('<bpmn:incoming>f_triage_defaults</bpmn:incoming>\n      <bpmn:incoming>f_portal_complaint',
         '<bpmn:incoming>f_review_defaults</bpmn:incoming>\n      <bpmn:incoming>f_portal_complaint'),
        ('<bpmn:sequenceFlow id="f_triage_defaults" sourceRef="triage" targetRef="triage_defaults"/>',
         '<bpmn:sequenceFlow id="f_triage_defaults" sourceRef="triage" targetRef="review_triage"/>\n'
         '<bpmn:sequenceFlow id="f_review_defaults" sourceRef="review_triage" targetRef="triage_defaults"/>'),
        ('      <bpmndi:BPMNShape id="triage_di"',
         '      <bpmndi:BPMNShape id="review_triage_di" bpmnElement="review_triage">'
         '<dc:Bounds x="600" y="220" width="100" height="80"/></bpmndi:BPMNShape>\n'
         '      <bpmndi:BPMNShape id="triage_di"'),
    )
    entry = bpmn_diff(text)
    assert entry["added"] == ["f_review_defaults", "review_triage"]
    assert entry["removed"] == []
    assert entry["changed"] == ["f_triage_defaults"]
    assert entry["details"] == {"f_triage_defaults": ["to: 'triage_defaults' → 'review_triage'"]}
    assert entry["names"] == {"review_triage": "复核分诊 Review triage"}


def test_removing_a_timer_boundary_event() -> None:
    """Deleting the triage timer removes the event and its flow, and changes nothing else."""
    text = removed_block(SHIPPED[BPMN], '<bpmn:boundaryEvent id="triage_timer"', "</bpmn:boundaryEvent>")
    text = removed_block(text, 'BPMNShape id="triage_timer_di"', "</bpmndi:BPMNShape>")
    text = removed_block(text, 'BPMNEdge id="f_triage_timer_di"', "</bpmndi:BPMNEdge>")
    text = edited(text, ("<bpmn:flowNodeRef>triage_timer</bpmn:flowNodeRef>", ""),
                  ('<bpmn:sequenceFlow id="f_triage_timer" sourceRef="triage_timer" targetRef="triage_overdue"/>', ""),
                  ("<bpmn:incoming>f_triage_timer</bpmn:incoming>", ""))
    entry = bpmn_diff(text)
    assert (entry["added"], entry["removed"], entry["changed"]) == ([], ["f_triage_timer", "triage_timer"], [])
    assert entry["names"] == {"triage_timer": "15分钟未分诊 Triage overdue"}


def test_renaming_a_task() -> None:
    """A renamed task is changed, with the old and new name."""
    entry = bpmn_diff(edited(SHIPPED[BPMN], ('name="分类定级 Triage"', 'name="分诊 Triage"')))
    assert (entry["added"], entry["removed"], entry["changed"]) == ([], [], ["triage"])
    assert entry["details"] == {"triage": ["name: '分类定级 Triage' → '分诊 Triage'"]}
    assert entry["names"] == {"triage": "分诊 Triage"}


def test_moving_a_shape_alone_reports_nothing_changed() -> None:
    """Diagram positions are not semantics: the file differs, no element does."""
    text = edited(SHIPPED[BPMN], ('<dc:Bounds x="480" y="220" width="100" height="80"/>',
                                  '<dc:Bounds x="520" y="260" width="120" height="90"/>'))
    result = diff_bundles({BPMN: SHIPPED[BPMN]}, {BPMN: text})
    assert result["files"]["changed"] == [BPMN]
    assert result["bpmn"] == [{"file": BPMN, "added": [], "removed": [], "changed": [], "details": {}, "parts": {},
                              "names": {}}]


def test_timer_form_condition_script_and_lane_changes_are_described() -> None:
    """Each kind of edit gets its short description."""
    text = edited(
        SHIPPED[BPMN],
        ('"PT15M"', '"PT30M"'),
        ('value="triage.json"', 'value="triage2.json"'),
        ("category == 'fault'</bpmn:conditionExpression>",
         "category == 'fault' and severity &lt; 3</bpmn:conditionExpression>"),
        ("record_breach('triage')", "record_breach('triage', late=True)"),
        ("<bpmn:flowNodeRef>triage_overdue</bpmn:flowNodeRef>", ""),
        ("<bpmn:flowNodeRef>handle_complaint</bpmn:flowNodeRef>",
         "<bpmn:flowNodeRef>handle_complaint</bpmn:flowNodeRef><bpmn:flowNodeRef>triage_overdue</bpmn:flowNodeRef>"),
    )
    entry = bpmn_diff(text)
    assert entry["changed"] == ["f_route_fault", "triage", "triage_overdue", "triage_timer"]
    assert entry["details"] == {
        "f_route_fault": ["condition: category == 'fault' → category == 'fault' and severity < 3"],
        "triage": ["form: triage.json → triage2.json"],
        "triage_overdue": ["lane: service_desk → manager", "script changed"],
        "triage_timer": ['timer: "PT15M" → "PT30M"'],
    }


def test_broken_xml_gives_an_error_entry() -> None:
    """Files that do not parse give an error entry, not an exception."""
    broken = {BPMN: SHIPPED[BPMN][:2000], DMN: SHIPPED[DMN].replace("</decision>", ""), FORM: "{not json"}
    result = diff_bundles(SHIPPED, broken)
    assert result["files"]["changed"] == [BPMN, DMN, FORM]
    [bpmn], [dmn], [form] = result["bpmn"], result["dmn"], result["forms"]
    assert set(bpmn) == set(dmn) == set(form) == {"file", "error"}
    assert bpmn["error"].startswith("new version does not parse: ")
    assert dmn["error"].startswith("new version does not parse: ")
    assert form["error"].startswith("new version is not valid JSON: ")


def test_dmn_output_cell_changed_and_rule_added() -> None:
    """An edited output cell changes its rule; a new rule is added with its cells."""
    text = edited(SHIPPED[DMN],
                  ('<outputEntry id="sla_rule_9_out_2"><text>&quot;PT24H&quot;',
                   '<outputEntry id="sla_rule_9_out_2"><text>&quot;PT20H&quot;'),
                  ('      <rule id="sla_rule_10">', NEW_RULE + '      <rule id="sla_rule_10">'))
    entry = dmn_diff(text)
    assert entry["decision"] == "sla"
    assert entry["added"] == [{"id": "sla_rule_12", "inputs": ['"fault"', "2", "", "True"],
                               "outputs": ['"PT2H"', '"PT12H"', '"24x7"'],
                               "description": "二级故障（现场）. Severity 2 on site"}]
    assert entry["removed"] == []
    [changed] = entry["changed"]
    assert changed["id"] == "sla_rule_9"
    assert changed["before"]["outputs"] == ['"PT2H"', '"PT24H"', '"24x7"']
    assert changed["after"]["outputs"] == ['"PT2H"', '"PT20H"', '"24x7"']
    assert changed["before"]["inputs"] == changed["after"]["inputs"] == ['"fault"', "2", "", ""]
    assert "inputs_changed" not in entry and "outputs_changed" not in entry and "order_changed" not in entry


def test_dmn_rule_removed_and_column_relabelled() -> None:
    """A deleted rule is removed; a relabelled input column is reported."""
    text = removed_block(SHIPPED[DMN], '<rule id="sla_rule_3">', "</rule>")
    text = edited(text, ('label="合同级别 Tier"', 'label="合同等级 Contract tier"'))
    entry = dmn_diff(text)
    assert [rule["id"] for rule in entry["removed"]] == ["sla_rule_3"]
    assert entry["added"] == entry["changed"] == []
    labels = [[column["label"] for column in entry["inputs_changed"][side]] for side in ("before", "after")]
    assert labels[0][2] == "合同级别 Tier" and labels[1][2] == "合同等级 Contract tier"
    assert "outputs_changed" not in entry


def test_adding_a_required_form_field() -> None:
    """A new required field is added and required; an edited field is changed."""
    schema = json.loads(SHIPPED[FORM])
    properties = {**schema["properties"], "contact_phone": {"type": "string", "title": "联系电话"}}
    properties["note"] = {**properties["note"], "maxLength": 2000}
    entry = form_diff(FORM, SHIPPED[FORM], with_form(properties=properties,
                                                     required=["category", "contact_phone"]))
    assert entry["added"] == ["contact_phone"]
    assert entry["removed"] == []
    assert [(c["field"], c["before"]["maxLength"], c["after"]["maxLength"]) for c in entry["changed"]] == [
        ("note", 5000, 2000)]
    assert entry["required_added"] == ["contact_phone"]
    assert entry["required_removed"] == []
    assert "other_changed" not in entry


def test_array_item_fields_are_named_by_their_array() -> None:
    """A field of an array's item objects is named "array.field"."""
    old = (ROOT / "forms" / "inspection_checklist.json").read_text(encoding="utf-8")
    schema = json.loads(old)
    items = schema["properties"]["risks"]["items"]
    items["properties"]["owner"] = {"type": "string", "title": "负责人"}
    items["required"] = [*items.get("required", []), "owner"]
    entry = form_diff("inspection_checklist.json", old, json.dumps(schema, ensure_ascii=False))
    assert entry["added"] == ["risks.owner"]
    assert entry["changed"] == []
    assert entry["required_added"] == ["risks.owner"]


def test_form_rule_changes_are_flagged() -> None:
    """A change outside the fields (conditional requirements) is listed in other_changed."""
    entry = form_diff(FORM, SHIPPED[FORM], with_form(then={"required": ["severity"]}))
    assert (entry["added"], entry["removed"], entry["changed"]) == ([], [], [])
    assert entry["other_changed"] == ["then"]


def test_added_and_removed_files() -> None:
    """Whole files added or removed report all their contents as added or removed."""
    new = {BPMN: SHIPPED[BPMN], "callback.json": (ROOT / "forms" / "callback.json").read_text(encoding="utf-8")}
    result = diff_bundles(SHIPPED, new)
    assert result["files"] == {"added": ["callback.json"], "removed": [DMN, FORM], "changed": [], "same": [BPMN]}
    [added_form, removed_form] = result["forms"]
    assert added_form["file"] == "callback.json"
    assert added_form["added"] == ["comment", "recurred", "satisfaction"]
    assert added_form["required_added"] == ["recurred", "satisfaction"]
    assert removed_form["removed"] == ["category", "note", "onsite", "severity"]
    [dmn] = result["dmn"]
    assert [rule["id"] for rule in dmn["removed"]] == [f"sla_rule_{n}" for n in range(1, 12)]


def test_never_raises_and_expands_no_entities() -> None:
    """Odd input never raises, and external entities are not read."""
    xxe = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="p">'
           '<bpmn:task id="t" name="x"><bpmn:documentation>&e;</bpmn:documentation></bpmn:task>'
           '</bpmn:process></bpmn:definitions>')
    odd = {"a.bpmn": "", "b.bpmn": xxe, "c.dmn": "<x/>", "d.json": "[1, 2]", "e.json": '{"properties": 3}',
           "f.bpmn": "<?xml version='1.0' encoding='latin-1'?><x>é</x>", "g.dmn": b"<definitions/>"}
    for old, new in [({}, odd), (odd, {}), (odd, SHIPPED), (None, odd), (odd, "nonsense")]:
        result = diff_bundles(old, new)  # type: ignore[arg-type]
        assert "root:" not in json.dumps(result)
    result = diff_bundles({}, odd)  # type: ignore[arg-type]
    by_file = {entry["file"]: entry for entry in result["bpmn"] + result["dmn"] + result["forms"]}
    assert by_file["a.bpmn"]["error"].startswith("new version does not parse")
    assert by_file["b.bpmn"]["added"] == ["p", "t"]
    assert by_file["d.json"] == {"file": "d.json", "error": "new version is not a JSON object"}
    assert by_file["e.json"]["added"] == []


def test_output_is_json_serializable_and_deterministic() -> None:
    """The output serializes to the same JSON whatever the input order."""
    new = {BPMN: edited(SHIPPED[BPMN], ('"PT15M"', '"PT1H"')), DMN: SHIPPED[DMN].replace("PT24H", "PT20H"),
           FORM: with_form(required=[])}
    first = json.dumps(diff_bundles(SHIPPED, new), ensure_ascii=False)
    reordered = json.dumps(diff_bundles(dict(reversed(SHIPPED.items())), dict(reversed(new.items()))),
                           ensure_ascii=False)
    assert first == reordered
    assert json.loads(first)["forms"][0]["required_removed"] == ["category"]


def test_a_form_title_and_a_fields_label_changed_say_from_what_to_what() -> None:
    schema = json.loads(SHIPPED[FORM])
    schema["title"] = "分类定级（新）"
    first = sorted(schema["properties"])[0]
    schema["properties"][first]["title"] = "新标题"
    entry = form_diff(FORM, SHIPPED[FORM], json.dumps(schema, ensure_ascii=False))
    assert entry["other"] == [{"key": "title", "before": json.loads(SHIPPED[FORM])["title"], "after": "分类定级（新）"}]
    [changed] = entry["changed"]
    assert changed["field"] == first and changed["what"] == [
        {"key": "title", "before": json.loads(SHIPPED[FORM])["properties"][first].get("title", "—"), "after": "新标题"}]
