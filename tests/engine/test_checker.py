"""The deploy checker refuses every bad upload with a located problem in both languages, and never raises.

Third-party files under tests/fixtures/third_party/ (kept byte for byte):
- camunda-bpm-examples_*: github.com/camunda/camunda-bpm-examples @ 8b86bcf8 (usertask/task-camunda-forms
  invoiceApproval.bpmn, clients/java/order-handling/order-handling.bpmn, dmn-engine/dmn-engine-drg
  dinnerDecisions.dmn)
- spiff-example-cli_*: github.com/sartography/spiff-example-cli @ 9876974e (bpmn/tutorial/...)
- bpmn-js-examples_*: github.com/bpmn-io/bpmn-js-examples @ 09cb51df (colors/resources/pizza-collaboration.bpmn,
  theming/resources/kitchen-sink.bpmn)
- dmn-js-examples_*: github.com/bpmn-io/dmn-js-examples @ ca7caf51 (starter/diagram.dmn,
  properties-panel/resources/diagram.dmn)
- camunda7_*, camunda_modeler5_feel.dmn, dmn12_collect_sum.dmn, trisotech_prefixed.dmn: written for these tests the
  way Camunda Modeler 5 (Camunda 7 platform) and Trisotech export (Process_1-style ids, camunda: extensions, bare
  PT4H timers, JUEL conditions, Groovy scripts, data stores, FEEL unary tests, prefixed DMN).
"""
from __future__ import annotations

import ast
import json
import random
import re
import string
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from engine.checker_messages import TEMPLATES, clean_upstream, render
from engine.deploy import check_files

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
THIRD = FIXTURES / "third_party"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
MINI = (FIXTURES / "mini.bpmn").read_text()
MINI_FORM = (FIXTURES / "mini.json").read_text()
SLA = (ROOT / "processes" / "sla.dmn").read_text()
INTERNALS = re.compile(r"object at 0x|Traceback|SpiffWorkflow\.|lxml\.|<class |(?<!Syntax)Error:|Error\(|Exception")
HAN = re.compile(r"[\u4e00-\u9fff]")


def product_files() -> dict[str, str]:
    """What a deployment holds: the project's diagrams, decision tables and forms."""
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "processes").iterdir())
             if p.suffix in (".bpmn", ".dmn")}
    files.update({p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "forms").glob("*.json"))})
    return files


def problems_of(files: dict[str, Any], uploaded: set[str] | None = None) -> list[dict[str, Any]]:
    """The problems, each checked for the shape every caller relies on."""
    problems = check_files(files, uploaded=uploaded).problems
    for p in problems:
        assert set(p) == {"file", "element_id", "line", "message", "message_zh"}, p
        assert p["file"] in files, p
        assert p["message"] and p["message_zh"], p
        assert not INTERNALS.search(p["message"]), p
        assert not INTERNALS.search(p["message_zh"]), p
        assert HAN.search(p["message_zh"]), p
        assert p["line"] is None or (isinstance(p["line"], int) and p["line"] >= 1), p
    return problems


def only(problems: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(problems) == 1, problems
    return problems[0]


def line_text(text: str, line: int | None) -> str:
    assert line, "the problem names no line"
    return text.splitlines()[line - 1]


def assert_located(text: str, problem: dict[str, Any]) -> None:
    """The problem's line is where its element starts, or where a part of that element starts (an XSD error in a
    child without an id is reported at the child's line, under the nearest id)."""
    root = etree.fromstring(text.encode())
    element = next(e for e in root.iter() if isinstance(e.tag, str) and e.get("id") == problem["element_id"])
    assert problem["line"] in {e.sourceline for e in element.iter()}, problem


# --- never raises --------------------------------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="p" isExecutable="true"><bpmn:documentation>&lol9;</bpmn:documentation></bpmn:process>
</bpmn:definitions>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="p" isExecutable="true"><bpmn:documentation>&secret;</bpmn:documentation></bpmn:process>
</bpmn:definitions>"""
DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
TWO_DECISIONS = SLA.replace("</definitions>", '<decision id="second" name="Second"><decisionTable id="t2">'
                            '<input id="i2"><inputExpression id="e2" typeRef="string"><text>x</text>'
                            '</inputExpression></input><output id="o2" name="y" typeRef="string"/>'
                            "</decisionTable></decision></definitions>").replace(
    SLA[SLA.index("<dmndi:DMNDI>"):SLA.index("</dmndi:DMNDI>") + len("</dmndi:DMNDI>")], "")
NASTY: dict[str, dict[str, Any]] = {
    "empty bpmn": {"a.bpmn": ""},
    "blank dmn": {"a.dmn": "  \n\t"},
    "empty form": {"f.json": ""},
    "not a string": {"a.bpmn": b"<bpmn:definitions/>"},
    "lone surrogate": {"a.bpmn": "<a>\udcff</a>"},
    "nul bytes": {"a.bpmn": "\x00\x00<a/>"},
    "truncated": {"a.bpmn": MINI[:700]},
    "billion laughs": {"a.bpmn": BILLION_LAUGHS},
    "external entity": {"a.bpmn": XXE},
    "no namespace": {"a.bpmn": '<definitions><process id="p"/></definitions>'},
    "html": {"a.bpmn": "<html><body>hello</body></html>"},
    "no process": {"a.bpmn": f'<bpmn:definitions xmlns:bpmn="{BPMN}" id="d" targetNamespace="x"/>'},
    "not executable": {"mini.bpmn": MINI.replace('isExecutable="true"', 'isExecutable="false"'),
                       "mini.json": MINI_FORM},
    "dmn uploaded as bpmn": {"sla.bpmn": SLA},
    "bpmn uploaded as dmn": {"mini.dmn": MINI},
    "dmn without namespace": {"a.dmn": '<definitions><decision id="x"/></definitions>'},
    "dmn with another prefix (lxml XPathEvalError)": {
        "a.dmn": SLA.replace("<definitions xmlns=", "<semantic:definitions xmlns:semantic=")
                    .replace("</definitions>", "</semantic:definitions>")},
    "dmn without decision": {"a.dmn": f'<definitions xmlns="{DMN13}" id="d" name="d" namespace="x"/>'},
    "dmn with two decisions": {"sla.dmn": TWO_DECISIONS},
    "dmn 1.4": {"a.dmn": SLA.replace(DMN13, "https://www.omg.org/spec/DMN/20211108/MODEL/")},
    "dmn table without id (KeyError)": {"sla.dmn": SLA.replace(' id="sla_table"', "")},
    "dmn rule with more entries than inputs (IndexError)": {
        "sla.dmn": SLA.replace('<inputEntry id="sla_rule_1_in_4"><text></text></inputEntry>',
                               '<inputEntry id="sla_rule_1_in_4"><text></text></inputEntry>'
                               '<inputEntry id="sla_rule_1_in_5"><text>1</text></inputEntry>')},
    "data store": {"mini.bpmn": MINI.replace('<bpmn:process id="mini"', '<bpmn:dataStore id="ds" name="Ticket DB"/>'
                                                                          '<bpmn:process id="mini"'),
                   "mini.json": MINI_FORM},
    "form true": {"f.json": "true"},
    "form list": {"f.json": "[1, 2]"},
    "form nested deeply": {"f.json": "[" * 50_000 + "]" * 50_000},
    "unknown extension": {"notes.txt": "hello"},
    "xml deeply nested": {"a.bpmn": "<a>" * 5000 + "</a>" * 5000},
}


@pytest.mark.parametrize("files", NASTY.values(), ids=NASTY.keys())
def test_nasty_uploads_are_refused_with_a_located_problem(files: dict[str, Any]) -> None:
    problems = problems_of(files)
    assert problems, "refused"
    assert {p["file"] for p in problems} <= set(files)


def test_entities_are_refused_unread() -> None:
    for text in (BILLION_LAUGHS, XXE):
        problem = only(problems_of({"a.bpmn": text}))
        assert "DOCTYPE" in problem["message"] and "DOCTYPE" in problem["message_zh"]
        assert problem["line"] == 2
        assert "lol" not in problem["message"] and "root:" not in problem["message"]


def test_random_text_never_raises() -> None:
    rng = random.Random(20261123)
    alphabet = string.printable + "<>/=\"'&;:{}[]?!-" + "流程步骤表单\udcff\x00"
    seeds = [MINI, SLA, MINI_FORM]
    for index in range(300):
        kind = rng.choice([".bpmn", ".dmn", ".json"])
        choice = rng.random()
        if choice < 0.3:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        elif choice < 0.6:
            seed = rng.choice(seeds)
            text = seed[:rng.randint(0, len(seed))]
        else:
            seed = list(rng.choice(seeds))
            for _ in range(rng.randint(1, 8)):
                seed[rng.randrange(len(seed))] = rng.choice(alphabet)
            text = "".join(seed)
        problems_of({f"f{index}{kind}": text, "mini.json": MINI_FORM})


def test_random_bytes_decoded_never_raise() -> None:
    rng = random.Random(7)
    for index in range(100):
        raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
        for text in (raw.decode("latin-1"), raw.decode("utf-8", errors="surrogateescape")):
            problems_of({f"r{index}.bpmn": text, f"r{index}.dmn": text, f"r{index}.json": text})


def test_a_table_without_an_id_is_located_at_its_decision() -> None:
    text = SLA.replace(' id="sla_table"', "")
    problem = only(problems_of({"sla.dmn": text}))
    assert problem["element_id"] == "sla"
    assert "decisionTable" in line_text(text, problem["line"])
    assert "dmn:decisionTable" in problem["message"] and "'id'" in problem["message"]
    assert "缺少" in problem["message_zh"]


def test_a_prefixed_dmn_is_refused_instead_of_crashing_the_parser() -> None:
    problem = only(problems_of({"t.dmn": (THIRD / "trisotech_prefixed.dmn").read_text()}))
    assert problem["element_id"] == "_c2a7f1f0-1b36-4f4e-9b0a-6f3f0d5e8a11" and problem["line"] == 2
    assert "'semantic:'" in problem["message"] and "前缀" in problem["message_zh"]


def test_a_data_store_is_refused_at_the_data_store() -> None:
    text = (THIRD / "camunda7_data_store.bpmn").read_text()
    problem = only(problems_of({"lookup.bpmn": text}))
    assert problem["element_id"] == "DataStore_crm"
    assert 'id="DataStore_crm"' in line_text(text, problem["line"])
    assert problem["message"].startswith("data store 'CRM database' is not supported")
    assert problem["message_zh"].startswith("不支持数据存储 'CRM database'")


def test_two_decisions_in_one_file_are_refused_at_the_second() -> None:
    problem = only(problems_of({"sla.dmn": TWO_DECISIONS}))
    assert problem["element_id"] == "second" and 'id="second"' in line_text(TWO_DECISIONS, problem["line"])
    assert "2 decisions (sla, second)" in problem["message"] and "决策" in problem["message_zh"]


def test_a_collect_sum_table_is_refused_at_the_table() -> None:
    text = SLA.replace('hitPolicy="FIRST"', 'hitPolicy="COLLECT" aggregation="SUM"')
    problem = only(problems_of({"sla.dmn": text}))
    assert problem["element_id"] == "sla_table" and 'id="sla_table"' in line_text(text, problem["line"])
    assert "COLLECT SUM" in problem["message"] and "命中策略" in problem["message_zh"]


# --- messages ------------------------------------------------------------------------------------------------------

def test_every_template_has_the_same_placeholders_in_both_languages() -> None:
    for kind, (en, zh) in TEMPLATES.items():
        assert set(re.findall(r"{(\w+)}", en)) == set(re.findall(r"{(\w+)}", zh)), kind
        assert HAN.search(zh), kind
        params = {name: "x" for name in re.findall(r"{(\w+)}", en)}
        message, message_zh = render(kind, **params)
        assert "{" not in message.replace("${", "").replace("{{", "") or kind in ("juel",), kind
        assert message_zh


def test_pairs_give_each_language_its_half() -> None:
    assert render("code_refused", what=("script", "脚本"), reason="r", source="'s'") == (
        "script is refused: r in 's'", "脚本被拒绝：r（'s'）")


def test_upstream_text_loses_python_internals() -> None:
    text = ("Traceback (most recent call last):\n  File x\nKeyError: 'id'")
    assert clean_upstream(text) == ""
    cleaned = clean_upstream("Error in <SpiffWorkflow.bpmn.specs.UserTask object at 0x7f3a2b1c> of "
                             "SpiffWorkflow.bpmn.specs.mixins.ExclusiveGatewayTask: "
                             "Element '{http://www.omg.org/spec/BPMN/20100524/MODEL}sequenceFlow' is wrong.")
    assert "0x" not in cleaned and "SpiffWorkflow" not in cleaned and "{http" not in cleaned
    assert "'bpmn:sequenceFlow'" in cleaned and "exclusive gateway task" in cleaned


# --- process and decision ids that two files define ----------------------------------------------------------------

def _process(pid: str) -> str:
    return MINI.replace('id="mini"', f'id="{pid}"').replace('processRef="mini"', f'processRef="{pid}"')


def test_a_process_id_in_two_files_is_refused_on_the_uploaded_file_naming_both() -> None:
    files = {"a.bpmn": _process("Process_1"), "b.bpmn": _process("Process_1"), "mini.json": MINI_FORM}
    problem = only(problems_of(files, uploaded={"b.bpmn", "mini.json"}))
    assert (problem["file"], problem["element_id"]) == ("b.bpmn", "Process_1")
    assert '<bpmn:process id="Process_1"' in line_text(files["b.bpmn"], problem["line"])
    assert problem["message"] == ("process id 'Process_1' is defined in both b.bpmn and a.bpmn; a process id belongs "
                                  "to exactly one file: rename it in one of them, or upload the file under the name "
                                  "a.bpmn to replace it")
    assert "b.bpmn" in problem["message_zh"] and "a.bpmn" in problem["message_zh"] and "流程" in problem["message_zh"]


def test_an_upload_replacing_a_deployed_name_is_blamed_even_when_it_comes_first() -> None:
    # The caller merges deployed files first: a.bpmn keeps its place, but this request uploaded it.
    files = {"a.bpmn": _process("shared"), "b.bpmn": _process("shared"), "mini.json": MINI_FORM}
    problem = only(problems_of(files, uploaded={"a.bpmn"}))
    assert problem["file"] == "a.bpmn" and "upload the file under the name b.bpmn" in problem["message"]


def test_a_copy_of_a_deployed_diagram_is_refused_once_per_process_id() -> None:
    files = product_files()
    files["maintenance_request_v2.bpmn"] = files["maintenance_request.bpmn"]
    problems = problems_of(files, uploaded={"maintenance_request_v2.bpmn"})
    assert {(p["file"], p["element_id"]) for p in problems} == {
        ("maintenance_request_v2.bpmn", "maintenance_request"), ("maintenance_request_v2.bpmn", "fault_handling")}
    for p in problems:
        assert "maintenance_request.bpmn" in p["message"] and "Duplicate" not in p["message"]
        assert f'id="{p["element_id"]}"' in line_text(files["maintenance_request_v2.bpmn"], p["line"])


def test_a_decision_id_in_two_files_is_refused() -> None:
    files = product_files()
    files["sla_2027.dmn"] = files["sla.dmn"]
    problem = only(problems_of(files, uploaded={"sla_2027.dmn"}))
    assert (problem["file"], problem["element_id"], problem["line"]) == ("sla_2027.dmn", "sla", 5)
    assert "decision id 'sla' is defined in both sla_2027.dmn and sla.dmn" in problem["message"]
    assert "决策表 ID 'sla'" in problem["message_zh"]


# --- the product's own steps ---------------------------------------------------------------------------------------

def _edit(xml: str, change: Any) -> str:
    root = etree.fromstring(xml.encode())
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


def _q(tag: str) -> str:
    return f"{{{BPMN}}}{tag}"


def without_step(xml: str, step: str, bypass: tuple[str, str, str]) -> str:
    """`xml` with `step`, its boundary events and their flows deleted, as a modeler deletes them, and a flow
    `bypass` = (id, source, target) drawn around the gap."""
    def change(root: Any) -> None:
        gone = {step} | {b.get("id") for b in root.iter(_q("boundaryEvent")) if b.get("attachedToRef") == step}
        for element in [e for e in root.iter() if isinstance(e.tag, str) and e.get("id") in gone]:
            element.getparent().remove(element)
        flows = {f.get("id") for f in root.iter(_q("sequenceFlow"))
                 if f.get("sourceRef") in gone or f.get("targetRef") in gone}
        for element in [e for e in root.iter() if isinstance(e.tag, str) and (
                e.get("id") in flows or (e.tag in (_q("incoming"), _q("outgoing"), _q("flowNodeRef"))
                                         and e.text in flows | gone))]:
            element.getparent().remove(element)
        flow_id, source, target = bypass
        process = next(p for p in root.iter(_q("process")) if any(e.get("id") == source for e in p.iter()))
        etree.SubElement(process, _q("sequenceFlow"), id=flow_id, sourceRef=source, targetRef=target)
    return _edit(xml, change)


def test_the_project_procedures_pass_the_guard() -> None:
    assert problems_of(product_files()) == []


def test_a_maintenance_request_without_triage_is_refused_at_the_process() -> None:
    files = product_files()
    files["maintenance_request.bpmn"] = without_step(files["maintenance_request.bpmn"], "triage",
                                                     ("f_ack_triage", "intake_route", "triage_defaults"))
    problem = only(problems_of(files, uploaded={"maintenance_request.bpmn"}))
    assert (problem["file"], problem["element_id"]) == ("maintenance_request.bpmn", "maintenance_request")
    assert '<bpmn:process id="maintenance_request"' in line_text(files["maintenance_request.bpmn"], problem["line"])
    assert problem["message"].startswith("process 'maintenance_request' must keep step 'triage' (user task): ")
    assert "category, severity and on-site" in problem["message"]
    assert problem["message_zh"].startswith("流程 'maintenance_request' 必须保留步骤 'triage'（用户任务）：")


def test_a_step_drawn_but_cut_off_from_the_start_is_named_as_such() -> None:
    files = product_files()

    def cut(root: Any) -> None:
        flow = next(f for f in root.iter(_q("sequenceFlow")) if f.get("id") == "f_ack_triage")
        flow.set("targetRef", "triage_defaults")
    files["maintenance_request.bpmn"] = _edit(files["maintenance_request.bpmn"], cut)
    problem = only(problems_of(files))
    assert problem["element_id"] == "maintenance_request" and "is drawn, but no sequence flow" in problem["message"]
    assert "'triage'" in problem["message"] and "开始事件" in problem["message_zh"]


def test_a_customer_step_moved_out_of_the_customer_lane_is_refused_at_the_step() -> None:
    files = product_files()

    def move(root: Any) -> None:
        ref = next(r for r in root.iter(_q("flowNodeRef")) if r.text == "customer_acceptance")
        desk = next(lane for lane in ref.getparent().getparent() if lane.get("name") == "service_desk")
        desk.append(ref)
    files["maintenance_request.bpmn"] = _edit(files["maintenance_request.bpmn"], move)
    problem = only(problems_of(files))
    assert (problem["file"], problem["element_id"]) == ("maintenance_request.bpmn", "customer_acceptance")
    assert 'id="customer_acceptance"' in line_text(files["maintenance_request.bpmn"], problem["line"])
    assert "must stay in lane 'customer'" in problem["message"]
    assert "the product opens the customer's acceptance page" in problem["message"]
    assert "泳道 'customer'" in problem["message_zh"] and "验收页面" in problem["message_zh"]


def test_a_triage_form_without_severity_is_refused_at_the_form() -> None:
    files = product_files()
    files["triage.json"] = files["triage.json"].replace('"severity"', '"urgency"')
    problem = only(problems_of(files, uploaded={"triage.json"}))
    assert (problem["file"], problem["element_id"]) == ("triage.json", "properties")
    assert '"properties"' in line_text(files["triage.json"], problem["line"])
    assert "form 'triage.json' of step 'triage' (process 'maintenance_request') must keep field 'severity'" in \
        problem["message"]
    assert "表单 'triage.json'" in problem["message_zh"] and "'severity'" in problem["message_zh"]


def test_an_inspection_checklist_without_a_report_field_is_refused() -> None:
    files = product_files()
    files["inspection_checklist.json"] = files["inspection_checklist.json"].replace('"backup_ok"', '"backup"')
    problem = only(problems_of(files))
    assert (problem["file"], problem["element_id"]) == ("inspection.bpmn", "inspection")
    assert "must collect field 'backup_ok'" in problem["message"] and "系统巡检报告" in problem["message_zh"]


def test_a_maintenance_request_that_no_longer_calls_the_complaint_procedure_is_refused() -> None:
    files = product_files()
    files["maintenance_request.bpmn"] = files["maintenance_request.bpmn"].replace(
        'calledElement="complaint"', 'calledElement="change_request"')
    problem = only(problems_of(files))
    assert (problem["file"], problem["element_id"]) == ("maintenance_request.bpmn", "maintenance_request")
    assert "call activity that calls process 'complaint'" in problem["message"] and "调用活动" in problem["message_zh"]


def test_the_sla_table_keeps_its_id_and_the_outputs_the_code_reads() -> None:
    files = product_files()
    files["sla.dmn"] = SLA.replace('<decision id="sla"', '<decision id="sla_2027"').replace(
        'dmnElementRef="sla"', 'dmnElementRef="sla_2027"')
    problem = only(problems_of(files, uploaded={"sla.dmn"}))
    assert (problem["file"], problem["element_id"], problem["line"]) == ("sla.dmn", "sla_2027", 5)
    assert "sla.dmn must define decision table 'sla'" in problem["message"] and "决策表 'sla'" in problem["message_zh"]

    files["sla.dmn"] = SLA.replace('name="sla_calendar"', 'name="calendar"')
    problem = only(problems_of(files, uploaded={"sla.dmn"}))
    assert (problem["file"], problem["element_id"]) == ("sla.dmn", "sla")
    assert "must keep output 'sla_calendar'" in problem["message"] and "输出列" in problem["message_zh"]


# --- real diagrams from other tools --------------------------------------------------------------------------------

# file -> [(element id, words of the English message, words of the Chinese message)]; [] = accepted
THIRD_PARTY: dict[str, list[tuple[str, str, str]]] = {
    "camunda-bpm-examples_invoiceApproval.bpmn": [
        ("UserTask_1", "is in no lane", "泳道"),
        ("UserTask_1", "Camunda form 'camunda-forms:app:task-form.form'", "表单")],
    "camunda-bpm-examples_order-handling.bpmn": [
        ("Task_1yjkccw", "service task 'Archive invoice'", "服务任务"),
        ("Task_06z99p1", "service task 'Create Invoice'", "服务任务"),
        ("StartEvent_1", "timer '0/5 0/1 * 1/1 * ?' is a cron expression", "cron")],
    "camunda-bpm-examples_dinnerDecisions.dmn": [("dish", "2 decisions (beverages, dish)", "决策")],
    "spiff-example-cli_timer_start.bpmn": [("Flow_032rj36", "does not follow the BPMN 2.0 schema", "规范")],
    "spiff-example-cli_threaded_service_task.bpmn": [("any_task", "service task 'Any Task'", "服务任务")],
    "spiff-example-cli_top_level.bpmn": [
        ("Activity_0jnqqws", "calls decision table 'shipping_costs', which is not deployed", "决策表"),
        ("Activity_0gnvuqr", "calls process 'customize_product', which is not deployed", "调用活动"),
        ("Lane_1c3gw8l", "lane 'Lane_1c3gw8l' is named 'Customer', which is no role", "泳道"),
        ("Activity_0gg5h3v", "names form 'select_shipping_method.json', which is not deployed", "表单"),
        ("Activity_0h1938t", "names no form", "表单"),
        ("Activity_0t2klx8", "names form 'enter_payment_info.json', which is not deployed", "表单"),
        ("Lane_165jb2o", "lane 'Lane_165jb2o' is named 'Employee', which is no role", "泳道"),
        ("Activity_1p0c9z2", "names no form", "表单"),
        ("Activity_0h4nuly", "names form 'enter_shipping_address.json', which is not deployed", "表单"),
        ("Activity_1f76alf", "names no form", "表单"),
        ("Activity_1f2e8xi", "names no form", "表单")],
    "spiff-example-cli_call_activity.bpmn": [
        ("Activity_1x1kw47", "calls decision table 'product_prices', which is not deployed", "决策表"),
        ("Activity_1uazifo", "is in no lane", "泳道"),
        ("Activity_1uazifo", "names form 'select_product_and_quantity.json', which is not deployed", "表单"),
        ("Activity_0263vxi", "is in no lane", "泳道"),
        ("Activity_0263vxi", "names form 'select_product_color.json', which is not deployed", "表单"),
        ("Activity_1mkqpod", "is in no lane", "泳道"),
        ("Activity_1mkqpod", "names form 'select_product_style.json', which is not deployed", "表单"),
        ("Activity_1x0wxtq", "is in no lane", "泳道"),
        ("Activity_1x0wxtq", "names form 'select_product_size.json', which is not deployed", "表单")],
    "spiff-example-cli_product_prices.dmn": [],
    "spiff-example-cli_shipping_costs.dmn": [],
    "bpmn-js-examples_pizza-collaboration.bpmn": [("_6-1", "not marked executable", "可执行")],
    "bpmn-js-examples_kitchen-sink.bpmn": [("IntermediateThrowEvent_1liyvfn", "bpmn:linkEventDefinition", "规范")],
    "dmn-js-examples_dish-decision.dmn": [("season", "3 decisions", "决策")],
    "dmn-js-examples_new-table.dmn": [],
    "camunda7_data_store.bpmn": [("DataStore_crm", "data store 'CRM database'", "数据存储")],
    "camunda7_service_request.bpmn": [
        ("Lane_desk", "lane 'Lane_desk' is named 'Service Desk', which is no role", "泳道"),
        ("Activity_triage", "Camunda form 'embedded:app:forms/triage.html'", "表单"),
        ("Flow_urgent", "written in JUEL ('${severity == 1}')", "JUEL"),
        ("Lane_engineer", "lane 'Lane_engineer' is named 'Engineer', which is no role", "泳道"),
        ("Activity_fix", "names no form", "表单"),
        ("Event_reminder", "timer 'PT4H' is an unquoted ISO literal", "定时器"),
        ("Activity_remind", "written in groovy", "脚本任务")],
    "camunda_modeler5_feel.dmn": [
        ("UnaryTests_0sev12", "FEEL (a range); decision tables here use Python: write 1 <= ? <= 2", "区间"),
        ("UnaryTests_0gold", 'write ? in ("gold","silver")', "值列表"),
        ("UnaryTests_0notgold", 'write ? != "gold"', "否定"),
        ("UnaryTests_0since", "a FEEL function", "FEEL 函数")],
    "dmn12_collect_sum.dmn": [("definitions_quote_fees", "save the table as DMN 1.3", "DMN 1.3")],
    "trisotech_prefixed.dmn": [("_c2a7f1f0-1b36-4f4e-9b0a-6f3f0d5e8a11", "prefix 'semantic:'", "前缀")],
}


def test_every_third_party_fixture_is_listed() -> None:
    assert {p.name for p in THIRD.iterdir()} == set(THIRD_PARTY)


@pytest.mark.parametrize("name", sorted(THIRD_PARTY))
def test_third_party_files_are_refused_where_they_go_wrong(name: str) -> None:
    text = (THIRD / name).read_text(encoding="utf-8")
    problems = problems_of({name: text})
    expected = THIRD_PARTY[name]
    assert len(problems) == len(expected), problems
    for problem, (element_id, words, words_zh) in zip(problems, expected, strict=True):
        assert problem["file"] == name
        assert problem["element_id"] == element_id, problem
        assert words in problem["message"], problem
        assert words_zh in problem["message_zh"], problem
        assert_located(text, problem)


def test_the_spiff_tutorial_set_is_refused_for_lanes_and_forms_only() -> None:
    names = ["top_level.bpmn", "call_activity.bpmn", "product_prices.dmn", "shipping_costs.dmn"]
    files = {name: (THIRD / f"spiff-example-cli_{name}").read_text(encoding="utf-8") for name in names}
    problems = problems_of(files)
    assert {p["file"] for p in problems} == {"top_level.bpmn", "call_activity.bpmn"}
    assert all(re.search(r"lane|form", p["message"]) for p in problems), problems
    assert all(f'id="{p["element_id"]}"' in line_text(files[p["file"]], p["line"]) for p in problems)


def test_a_product_process_marked_not_executable_is_refused() -> None:
    files = product_files()
    files["maintenance_request.bpmn"] = files["maintenance_request.bpmn"].replace(
        '<bpmn:process id="maintenance_request" name="维护请求 Maintenance request" isExecutable="true"',
        '<bpmn:process id="maintenance_request" name="维护请求 Maintenance request" isExecutable="false"')
    problem = only(problems_of(files))
    assert (problem["file"], problem["element_id"]) == ("maintenance_request.bpmn", "maintenance_request")
    assert "must stay executable" in problem["message"] and "可执行" in problem["message_zh"]


@pytest.mark.parametrize(("old", "new", "element", "words", "words_zh"), [
    ('attachedToRef="step"', 'attachedToRef="ghost"', "reminder", "attachedToRef='ghost'", "边界事件"),
    ('<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>', "", "mini",
     "has no start event", "开始事件"),
    ('<bpmn:sequenceFlow id="f3"', '<bpmn:sequenceFlow id="f9" sourceRef="step" targetRef="finish" />'
                                   '<bpmn:sequenceFlow id="f3"', "step", "more than one outgoing", "网关"),
    ('<bpmn:scriptTask id="done" name="Done">', '<bpmn:callActivity id="done" name="Done" calledElement="nowhere">',
     "done", "calls process 'nowhere', which is not deployed", "调用活动"),
])
def test_engine_refusals_are_templated_and_located(old: str, new: str, element: str, words: str,
                                                   words_zh: str) -> None:
    text = MINI.replace(old, new)
    if "callActivity" in new:
        text = text.replace("<bpmn:script>result = answer * 2</bpmn:script>\n    </bpmn:scriptTask>",
                            "</bpmn:callActivity>")
    if "startEvent" in old:
        text = text.replace('<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="step" />', "").replace(
            "<bpmn:flowNodeRef>start</bpmn:flowNodeRef>", "")
    problem = only(problems_of({"mini.bpmn": text, "mini.json": MINI_FORM}))
    assert problem["element_id"] == element and words in problem["message"] and words_zh in problem["message_zh"]
    assert_located(text, problem)


def test_a_crash_inside_a_step_becomes_a_problem_on_the_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.guard

    def crash(*args: Any) -> None:
        raise RuntimeError("boom in <engine.guard._Process object at 0x7f00deadbeef>")
    monkeypatch.setattr(engine.guard, "check_procedures", crash)
    files = product_files()
    problem = only(problems_of(files, uploaded={"complaint.bpmn"}))
    assert problem["file"] == "complaint.bpmn"
    assert problem["message"] == "this part of the file could not be read: boom in"
    assert problem["message_zh"] == "无法读取文件的这一部分：boom in"


def test_a_crash_inside_spiff_is_located_at_the_element_it_was_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser

    original = TaskParser.parse_node

    def crash(self: Any) -> Any:
        if self.node.get("id") == "done":
            return {}["missing"]
        return original(self)
    monkeypatch.setattr(TaskParser, "parse_node", crash)
    problem = only(problems_of({"mini.bpmn": MINI, "mini.json": MINI_FORM}))
    assert problem["element_id"] == "done" and 'id="done"' in line_text(MINI, problem["line"])
    assert problem["message"] == "bpmn:scriptTask has no attribute 'missing', which the engine needs"


# --- every project file still deploys ------------------------------------------------------------------------------

def test_every_project_diagram_table_and_form_deploys_without_a_problem() -> None:
    files = product_files()
    assert problems_of(files) == []
    for name, text in files.items():
        if name.endswith((".json", ".dmn")):  # a form or a decision table stands on its own
            assert problems_of({name: text}) == [], name
        assert problems_of(files, uploaded={name}) == [], name


# --- names read that nothing sets ----------------------------------------------------------------------------------

def with_mini(old: str, new: str, form: str = MINI_FORM) -> dict[str, str]:
    assert old in MINI, old
    return {"mini.bpmn": MINI.replace(old, new), "mini.json": form}


def test_a_condition_reading_a_misspelt_variable_is_refused_at_the_flow_with_a_suggestion() -> None:
    files = product_files()
    text = files["maintenance_request.bpmn"]
    flow = text.index('<bpmn:sequenceFlow id="f_portal_complaint"')
    files["maintenance_request.bpmn"] = text[:flow] + text[flow:].replace("category == 'complaint'",
                                                                          "categroy == 'complaint'", 1)
    problem = only(problems_of(files, uploaded={"maintenance_request.bpmn"}))
    assert (problem["file"], problem["element_id"]) == ("maintenance_request.bpmn", "f_portal_complaint")
    assert 'id="f_portal_complaint"' in line_text(files["maintenance_request.bpmn"], problem["line"])
    assert problem["message"] == ("the condition of flow 'f_portal_complaint' reads 'categroy', which no step, form "
                                  "or start variable of this procedure sets (did you mean 'category'?)")
    assert problem["message_zh"] == ("顺序流 'f_portal_complaint' 的条件读取了 'categroy'，但本流程的步骤、表单和"
                                     "启动变量都没有设置它（是否应为 'category'？）")


def test_a_pre_script_calling_a_builtin_the_sandbox_lacks_is_refused_at_its_step() -> None:
    files = with_mini("<spiffworkflow:properties>", "<spiffworkflow:preScript>secret = open('/etc/passwd').read()"
                                                    "</spiffworkflow:preScript><spiffworkflow:properties>")
    problem = only(problems_of(files))
    assert (problem["file"], problem["element_id"]) == ("mini.bpmn", "step")
    assert 'id="step"' in line_text(files["mini.bpmn"], problem["line"])
    assert problem["message"].startswith("the pre-script of step 'step' uses 'open', which diagram scripts may not "
                                         "use")
    assert "步骤 'step' 的前置脚本使用了 'open'" in problem["message_zh"]


@pytest.mark.parametrize(("old", "new", "element", "words", "words_zh"), [
    ('value="mini.json" />', 'value="mini.json" /><spiffworkflow:property name="due" value="deadline" />', "step",
     "the 'due' property of step 'step' reads 'deadline'", "'due' 属性读取了 'deadline'"),
    ('<bpmn:timeDuration>"PT1H"</bpmn:timeDuration>', "<bpmn:timeDate>remind_at</bpmn:timeDate>", "reminder",
     "the timer of 'reminder' reads 'remind_at'", "定时器读取了 'remind_at'"),
    ("result = answer * 2", "result = answr * 2", "done",
     "the script of step 'done' reads 'answr', which no step, form or start variable of this procedure sets (did you "
     "mean 'answer'?)", "是否应为 'answer'"),
    ("<bpmn:script>log_event('reminded')</bpmn:script>", "<bpmn:script>log_evnt('reminded')</bpmn:script>", "remind",
     "reads 'log_evnt'", "是否应为 'log_event'"),
])
def test_unknown_names_are_refused_wherever_code_reads_them(old: str, new: str, element: str, words: str,
                                                            words_zh: str) -> None:
    files = with_mini(old, new)
    problem = only(problems_of(files))
    assert (problem["file"], problem["element_id"]) == ("mini.bpmn", element)
    assert words in problem["message"] and words_zh in problem["message_zh"]
    assert_located(files["mini.bpmn"], problem)


def test_every_way_a_procedure_sets_a_name_counts() -> None:
    form = json.dumps({"type": "object", "properties": {
        "answer": {"type": "integer"},
        "lines": {"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer"}}}}},
        "if": {"properties": {"answer": {"const": 1}}}, "then": {"properties": {"note": {"type": "string"}}}})
    script = """a, (b, c) = 1, (2, 3)
for i in range(answer):
    pass
total = sum([x * 2 for x in range(3)]) + sum(qty for qty in [1])
double = lambda y: y * 2
def twice(z):
    return z * 2
try:
    note = note
except NameError as missing:
    note = str(missing)
result = answer + a + b + c + i + total + double(1) + twice(2) + len(lines) + len(title) + len(tier)
result = result + (1 if in_warranty else 0) + len(free_scope) + len(str(sla_overrides)) + len(ticket_number)
log_event('done', due=add_working_hours(created_at, 1, '24x7'), when=now(), ref=contact_email, cal=contract_calendar)"""
    files = with_mini("result = answer * 2", script, form)
    files["mini.bpmn"] = files["mini.bpmn"].replace(
        'value="mini.json" />', 'value="mini.json" /><spiffworkflow:property name="due" '
                                'value="add_working_days(created_at, 1)" />')
    assert problems_of(files) == []


CALLER = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" id="caller_defs" targetNamespace="x">
  <bpmn:process id="caller" isExecutable="true">
    <bpmn:startEvent id="caller_start" />
    <bpmn:scriptTask id="caller_set" scriptFormat="python"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:callActivity id="caller_call" calledElement="callee" />
    <bpmn:scriptTask id="caller_use" scriptFormat="python"><bpmn:script>z = y * 2</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="caller_end" />
    <bpmn:sequenceFlow id="cf1" sourceRef="caller_start" targetRef="caller_set" />
    <bpmn:sequenceFlow id="cf2" sourceRef="caller_set" targetRef="caller_call" />
    <bpmn:sequenceFlow id="cf3" sourceRef="caller_call" targetRef="caller_use" />
    <bpmn:sequenceFlow id="cf4" sourceRef="caller_use" targetRef="caller_end" />
  </bpmn:process>
</bpmn:definitions>"""
CALLEE = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" id="callee_defs" targetNamespace="x">
  <bpmn:process id="callee" isExecutable="true">
    <bpmn:startEvent id="callee_start" />
    <bpmn:scriptTask id="callee_use" scriptFormat="python"><bpmn:script>y = x + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="callee_end" />
    <bpmn:sequenceFlow id="ef1" sourceRef="callee_start" targetRef="callee_use" />
    <bpmn:sequenceFlow id="ef2" sourceRef="callee_use" targetRef="callee_end" />
  </bpmn:process>
</bpmn:definitions>"""


def test_names_flow_into_and_out_of_called_processes_but_a_process_alone_has_only_its_own() -> None:
    assert problems_of({"caller.bpmn": CALLER, "callee.bpmn": CALLEE}) == []
    problem = only(problems_of({"callee.bpmn": CALLEE}))
    assert (problem["file"], problem["element_id"]) == ("callee.bpmn", "callee_use")
    assert "the script of step 'callee_use' reads 'x'" in problem["message"]
    assert_located(CALLEE, problem)


def test_a_decision_table_input_is_checked_against_the_procedures_that_call_it() -> None:
    files = product_files()
    files["sla.dmn"] = SLA.replace("<text>severity</text>", "<text>severty</text>")
    problem = only(problems_of(files, uploaded={"sla.dmn"}))
    assert (problem["file"], problem["element_id"]) == ("sla.dmn", "in_severity")
    assert_located(files["sla.dmn"], problem)
    assert "decision table 'sla' reads 'severty'" in problem["message"] and "(did you mean 'severity'?)" in \
        problem["message"]
    assert "决策表 'sla' 的输入表达式" in problem["message_zh"]
    assert problems_of({"sla.dmn": files["sla.dmn"]}) == []  # alone: no procedure calls it, nothing to check against


@pytest.mark.parametrize(("old", "new", "cell", "words", "words_zh"), [
    # a value typed without its quotes is read as a variable: every ticket reaching the table would fail
    ('<inputEntry id="sla_rule_1_in_1"><text>&quot;complaint&quot;</text>',
     '<inputEntry id="sla_rule_1_in_1"><text>complaint</text>', "sla_rule_1_in_1",
     "row 1 of decision table 'sla' (column '类别 Category') reads 'complaint'",
     "决策表 'sla' 第 1 行（列 '类别 Category'）"),
    ('<inputEntry id="sla_rule_1_in_2"><text></text>', '<inputEntry id="sla_rule_1_in_2"><text>&gt; max_sevrity</text>',
     "sla_rule_1_in_2", "reads 'max_sevrity'", "第 1 行"),
])
def test_a_decision_table_cell_reading_an_unknown_name_is_refused_at_the_cell(
        old: str, new: str, cell: str, words: str, words_zh: str) -> None:
    files = product_files()
    assert old in files["sla.dmn"]
    files["sla.dmn"] = files["sla.dmn"].replace(old, new, 1)
    problem = only(problems_of(files, uploaded={"sla.dmn"}))
    assert (problem["file"], problem["element_id"]) == ("sla.dmn", cell)
    assert words in problem["message"] and words_zh in problem["message_zh"]
    assert_located(files["sla.dmn"], problem)


def test_decision_table_tests_on_the_column_value_are_not_names() -> None:
    files = product_files()
    files["sla.dmn"] = files["sla.dmn"].replace('<inputEntry id="sla_rule_1_in_2"><text></text>',
                                                '<inputEntry id="sla_rule_1_in_2"><text>1 &lt;= ? &lt;= 3</text>', 1)
    files["sla.dmn"] = files["sla.dmn"].replace('<inputEntry id="sla_rule_2_in_2"><text></text>',
                                                '<inputEntry id="sla_rule_2_in_2"><text>&gt; 2</text>', 1)
    assert problems_of(files, uploaded={"sla.dmn"}) == []


def test_a_multi_instance_cardinality_reading_an_unknown_name_is_refused_at_its_step() -> None:
    files = with_mini('<bpmn:outgoing>f3</bpmn:outgoing>\n      <bpmn:script>result = answer * 2</bpmn:script>',
                      '<bpmn:outgoing>f3</bpmn:outgoing><bpmn:multiInstanceLoopCharacteristics isSequential="true">'
                      '<bpmn:loopCardinality>answr</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>'
                      '\n      <bpmn:script>result = answer * 2</bpmn:script>')
    problem = only(problems_of(files))
    assert (problem["file"], problem["element_id"]) == ("mini.bpmn", "done")
    assert "the loop cardinality of step 'done' reads 'answr'" in problem["message"]
    assert "(did you mean 'answer'?)" in problem["message"] and "步骤 'done' 的循环次数" in problem["message_zh"]


def test_start_variables_come_from_the_code_that_starts_a_case() -> None:
    from engine.checker_names import START_EXTRAS, engine_functions, sandbox_names, start_variables

    assert {"ticket_id", "ticket_number", "customer", "tier", "in_warranty", "free_scope", "contract_calendar",
            "sla_overrides", "created_at", "origin_ticket", "inspection_due"} <= start_variables()
    assert {"now", "add_working_hours", "log_event", "escalate", "open_ticket"} <= engine_functions() <= sandbox_names()
    assert {"len", "sum", "NameError", "isinstance"} <= sandbox_names()
    assert not {"open", "eval", "exec", "print", "__import__"} & sandbox_names()
    # Every extra= the engine passes when it starts a case is a start variable.
    passed: set[str] = set()
    for path in (ROOT / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "extra" and isinstance(node.value, ast.Dict):
                passed |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    assert passed and passed <= set(START_EXTRAS)


# --- the SLA table's values ----------------------------------------------------------------------------------------

def _sla_cell(text: str, entry: str, value: str) -> str:
    old = f'<outputEntry id="{entry}"><text>'
    start = text.index(old) + len(old)
    return text[:start] + value + text[text.index("</text>", start):]


def test_sla_outputs_must_be_durations_and_calendars_the_engine_accepts() -> None:
    files = product_files()
    text = _sla_cell(SLA, "sla_rule_1_out_1", "PT4H")
    text = _sla_cell(text, "sla_rule_2_out_2", "&quot;4 hours&quot;")
    text = _sla_cell(text, "sla_rule_6_out_2", "&quot;P-1D&quot;")
    text = _sla_cell(text, "sla_rule_4_out_3", "&quot;weekdays&quot;")
    text = _sla_cell(text, "sla_rule_3_out_1", "")
    files["sla.dmn"] = text
    problems = problems_of(files, uploaded={"sla.dmn"})
    by_entry = {p["element_id"]: p for p in problems}
    assert set(by_entry) == {"sla_rule_1_out_1", "sla_rule_2_out_2", "sla_rule_6_out_2", "sla_rule_4_out_3",
                             "sla_rule_3_out_1"}
    for p in problems:
        assert p["file"] == "sla.dmn" and f'id="{p["element_id"]}"' in line_text(text, p["line"])
        assert "fails the ticket as it starts" in p["message"] and "工单在启动时失败" in p["message_zh"]
    assert "gives respond_within as PT4H, which Python reads as a variable name; write \"PT4H\", in quotes" in \
        by_entry["sla_rule_1_out_1"]["message"]
    assert "带引号的 \"PT4H\"" in by_entry["sla_rule_1_out_1"]["message_zh"]
    assert "'4 hours' is not an ISO-8601 duration" in by_entry["sla_rule_2_out_2"]["message"]
    assert "'P-1D' is not an ISO-8601 duration" in by_entry["sla_rule_6_out_2"]["message"]
    assert "unknown calendar 'weekdays'" in by_entry["sla_rule_4_out_3"]["message"]
    assert "gives no respond_within" in by_entry["sla_rule_3_out_1"]["message"]
    assert "没有给出 respond_within" in by_entry["sla_rule_3_out_1"]["message_zh"]


def test_the_checker_and_the_sla_replay_judge_a_duration_alike() -> None:
    from engine.errors import InvalidProcess
    from engine.sla_replay import parse_candidate

    text = _sla_cell(SLA, "sla_rule_6_out_2", "&quot;P-1D&quot;")
    with pytest.raises(InvalidProcess) as info:
        parse_candidate(text)
    [replayed] = info.value.problems
    reason = replayed["message"].split(": ", 1)[1]
    files = product_files()
    files["sla.dmn"] = text
    checked = only(problems_of(files, uploaded={"sla.dmn"}))
    assert replayed["element_id"] == checked["element_id"] == "sla_rule_6_out_2"
    assert "'P-1D' is not an ISO-8601 duration" in reason and reason in checked["message"]


def test_the_other_product_tables_give_values_of_the_shape_their_procedures_test() -> None:
    files = product_files()
    files["entitlement.dmn"] = _sla_cell(_sla_cell(files["entitlement.dmn"], "entitlement_rule_1_out_1", "free"),
                                         "entitlement_rule_3_out_1", "&quot;charged&quot;")
    files["quote_approval.dmn"] = _sla_cell(files["quote_approval.dmn"], "quote_approval_rule_1_out_1", "true")
    problems = problems_of(files, uploaded={"entitlement.dmn", "quote_approval.dmn"})
    assert [(p["file"], p["element_id"]) for p in problems] == [
        ("entitlement.dmn", "entitlement_rule_1_out_1"), ("entitlement.dmn", "entitlement_rule_3_out_1"),
        ("quote_approval.dmn", "quote_approval_rule_1_out_1")]
    assert 'gives charge as free, which Python reads as a variable name; write "free", in quotes' in \
        problems[0]["message"]
    assert 'charge = "charged", which is none of the values the procedure tests; write "free" or "paid"' in \
        problems[1]["message"]
    assert "write True:" in problems[2]["message"] and "请写成 True" in problems[2]["message_zh"]


# --- timers --------------------------------------------------------------------------------------------------------

TIMER = '<bpmn:timeDuration>"PT1H"</bpmn:timeDuration>'


@pytest.mark.parametrize(("new", "words", "words_zh"), [
    ('<bpmn:timeDate>"PT4H"</bpmn:timeDate>', "the date timer (timeDate) holds a duration ('PT4H'); a date timer "
     'needs an ISO date-time such as "2026-12-01T09:00:00+08:00" or an expression giving one, e.g. add_working_hours(',
     "日期定时器（timeDate）的值 'PT4H' 是时长"),
    ('<bpmn:timeDuration>"R/PT4H"</bpmn:timeDuration>', "the duration timer (timeDuration) holds a cycle ('R/PT4H'); "
     'a duration timer needs a duration such as "PT4H"', "时长定时器"),
    ('<bpmn:timeCycle>"PT4H"</bpmn:timeCycle>', 'a cycle timer needs a repetition such as "R3/PT4H"', "循环定时器"),
    ('<bpmn:timeDate>"2026-12-01T09:00:00+08:00"</bpmn:timeDate>', None, None),
    ('<bpmn:timeCycle>"R3/PT4H"</bpmn:timeCycle>', None, None),
    ("<bpmn:timeDate>2026-12-01T09:00:00</bpmn:timeDate>",
     "timer '2026-12-01T09:00:00' is an unquoted ISO literal; timer expressions are Python, write "
     '"2026-12-01T09:00:00" with quotes', "带引号"),
    ("<bpmn:timeDuration>2026-12-01T09:00:00</bpmn:timeDuration>", "holds a date-time ('2026-12-01T09:00:00')",
     "日期时间"),
    ("<bpmn:timeDuration></bpmn:timeDuration>", "the timer of 'One hour' has no expression", "没有表达式"),
    ("<bpmn:timeDuration>  </bpmn:timeDuration>", "the timer of 'One hour' has no expression", "没有表达式"),
    ("", "the timer of 'One hour' has no expression", "没有表达式"),
    ("<bpmn:timeCycle>0 0 9 * * ?</bpmn:timeCycle>", "is a cron expression, which the engine does not read", "cron"),
])
def test_timer_literals_must_fit_their_kind(new: str, words: str | None, words_zh: str | None) -> None:
    files = with_mini(TIMER, new)
    problems = problems_of(files)
    if words is None:
        assert problems == []
        return
    problem = only(problems)
    assert (problem["file"], problem["element_id"]) == ("mini.bpmn", "reminder")
    assert words in problem["message"] and words_zh in problem["message_zh"], problem
    assert "octal" not in problem["message"] and "Unknown Time Specification" not in problem["message"]
    assert_located(files["mini.bpmn"], problem)


# --- elements the checker missed -----------------------------------------------------------------------------------

def test_a_data_store_reference_drawn_in_bpmn_js_is_refused_at_the_reference() -> None:
    files = with_mini('<bpmn:startEvent id="start">',
                      '<bpmn:dataStoreReference id="DataStoreReference_0x1" />\n    <bpmn:startEvent id="start">')
    problem = only(problems_of(files))
    assert (problem["file"], problem["element_id"]) == ("mini.bpmn", "DataStoreReference_0x1")
    assert 'id="DataStoreReference_0x1"' in line_text(files["mini.bpmn"], problem["line"])
    assert problem["message"].startswith("data store 'DataStoreReference_0x1' is not supported")
    assert "数据存储" in problem["message_zh"]


@pytest.mark.parametrize("lane", ['name=""', ""])
def test_a_lane_without_a_role_name_is_refused_at_the_lane(lane: str) -> None:
    files = with_mini('name="service_desk"', lane)
    problem = only(problems_of(files))
    assert (problem["file"], problem["element_id"]) == ("mini.bpmn", "lane_desk")
    assert 'id="lane_desk"' in line_text(files["mini.bpmn"], problem["line"])
    assert problem["message"].startswith("lane 'lane_desk' is named '', which is no role; name it after a role: "
                                         "service_desk, ")
    assert "in no lane" not in problem["message"] and "泳道 'lane_desk'" in problem["message_zh"]


def test_a_user_task_no_flow_leads_to_is_refused() -> None:
    lonely = ('<bpmn:userTask id="lonely" name="Lonely"><bpmn:extensionElements><spiffworkflow:properties>'
              '<spiffworkflow:property name="formJsonSchemaFilename" value="mini.json" /></spiffworkflow:properties>'
              "</bpmn:extensionElements><bpmn:outgoing>f9</bpmn:outgoing></bpmn:userTask>\n"
              '    <bpmn:sequenceFlow id="f9" sourceRef="lonely" targetRef="finish" />\n    ')
    files = with_mini('<bpmn:scriptTask id="done" name="Done">', lonely + '<bpmn:scriptTask id="done" name="Done">')
    files["mini.bpmn"] = files["mini.bpmn"].replace("<bpmn:flowNodeRef>finish</bpmn:flowNodeRef>",
                                                    "<bpmn:flowNodeRef>finish</bpmn:flowNodeRef>"
                                                    "<bpmn:flowNodeRef>lonely</bpmn:flowNodeRef>")
    problem = only(problems_of(files))
    assert (problem["file"], problem["element_id"]) == ("mini.bpmn", "lonely")
    assert 'id="lonely"' in line_text(files["mini.bpmn"], problem["line"])
    assert problem["message"].startswith("step 'lonely' is not connected: no flow leads to it")
    assert "没有连接" in problem["message_zh"]


# --- a foreign diagram: every problem in one pass ------------------------------------------------------------------

def test_a_camunda_diagram_gets_every_problem_at_once_even_with_a_service_task() -> None:
    text = (THIRD / "camunda7_service_request.bpmn").read_text(encoding="utf-8")
    text = text.replace('<bpmn:messageFlow id="Flow_msg_out" sourceRef="Event_notify" '
                        'targetRef="Participant_Customer" />', "")
    throw = text[text.index('<bpmn:intermediateThrowEvent id="Event_notify"'):
                 text.index("</bpmn:intermediateThrowEvent>") + len("</bpmn:intermediateThrowEvent>")]
    text = text.replace(throw, '<bpmn:serviceTask id="Event_notify" name="Notify" camunda:class="org.example.Notify">'
                               "<bpmn:incoming>Flow_0s3</bpmn:incoming><bpmn:outgoing>Flow_0s4</bpmn:outgoing>"
                               "</bpmn:serviceTask>")
    text = text.replace("${severity == 1}", "${!approved &amp;&amp; amount &gt; 1000}")
    problems = problems_of({"request.bpmn": text})
    assert [p["element_id"] for p in problems] == ["Event_notify", "Lane_desk", "Activity_triage", "Flow_urgent",
                                                   "Lane_engineer", "Activity_fix", "Event_reminder", "Activity_remind"]
    assert problems[0]["message_zh"].startswith("不支持服务任务 'Notify'")
    assert "write 'not approved and amount > 1000'" in problems[3]["message"]
    assert "请写成 'not approved and amount > 1000'" in problems[3]["message_zh"]
    assert "unquoted ISO literal" in problems[6]["message"] and "groovy" in problems[7]["message"]
    for p in problems:
        assert_located(text, p)


@pytest.mark.parametrize(("juel", "python"), [
    ("${!approved && amount > 1000}", "'not approved and amount > 1000'"),
    ("${empty comment || status eq 'open'}", "\"not comment or status == 'open'\""),
    ("#{answer != null}", "'answer is not None'"),
    ("${approved ? 'yes' : 'no'}", "it as a Python expression"),
    ("${execution.getVariable('approved')}", "it as a Python expression"),
])
def test_juel_conditions_get_their_python_translation(juel: str, python: str) -> None:
    files = with_mini("<bpmn:script>result = answer * 2</bpmn:script>", "<bpmn:script>result = 1</bpmn:script>")
    files["mini.bpmn"] = files["mini.bpmn"].replace(
        '<bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="done" />',
        '<bpmn:exclusiveGateway id="gw" default="f2b" />'
        '<bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="gw" />'
        f'<bpmn:sequenceFlow id="f2a" sourceRef="gw" targetRef="done"><bpmn:conditionExpression>'
        f'{juel.replace("&", "&amp;").replace(">", "&gt;")}</bpmn:conditionExpression></bpmn:sequenceFlow>'
        '<bpmn:sequenceFlow id="f2b" sourceRef="gw" targetRef="done" />')
    problem = only(problems_of(files))
    assert problem["element_id"] == "f2a" and "written in JUEL" in problem["message"]
    assert problem["message"].endswith(f"write {python}")


# --- the product's form fields keep their types --------------------------------------------------------------------

def _field(form: str, name: str, change: Any) -> str:
    schema = json.loads(product_files()[form])
    change(schema["properties"][name])
    return json.dumps(schema, ensure_ascii=False, indent=2)


@pytest.mark.parametrize(("form", "field", "change", "words"), [
    ("triage.json", "category", lambda p: p["oneOf"].pop(), "a string offering the values question, fault, change"),
    ("triage.json", "category", lambda p: p.update(type="integer"), "routes the ticket"),
    ("triage.json", "severity", lambda p: p.update(type="string"), "an integer from 1 to 3"),
    ("triage.json", "severity", lambda p: p["oneOf"].append({"const": 4, "title": "4"}), "matches severity 1, 2 or 3"),
    ("triage.json", "onsite", lambda p: p.update(type="string"), "a boolean (true or false)"),
    ("callback.json", "recurred", lambda p: p.update(type="string"), "reopens the ticket when recurred is true"),
    ("callback.json", "satisfaction", lambda p: p.update(type="number"), "an integer: the score is stored"),
    ("customer_acceptance.json", "accepted", lambda p: p.update(type="string"), "closes the ticket when accepted"),
])
def test_the_product_form_fields_keep_the_types_the_product_relies_on(form: str, field: str, change: Any,
                                                                      words: str) -> None:
    files = product_files()
    files[form] = _field(form, field, change)
    problem = only(problems_of(files, uploaded={form}))
    assert (problem["file"], problem["element_id"]) == (form, f"properties/{field}")
    assert f'"{field}": {{' in line_text(files[form], problem["line"])
    assert f"field '{field}' must be" in problem["message"] and words in problem["message"]
    assert f"字段 '{field}' 必须是" in problem["message_zh"]


# --- JSON syntax errors: the same line and column as the form editor ---------------------------------------------

BROKEN_FORMS = [
    '{\n  "type": "object",\n  "title": "Triage",\n  "description": "Classify the request."\n  "properties": {}\n}',
    '{\n  "type": "object",\n  "properties": {"a": {"type": "string"},\n  }\n}',
    '{\n  "type": "object",\n  "required": ["a",\n  ]\n}',
    '{\n  "type": "object",\n  "title": "abc\n"}',
    '{\n  "type": "object",\n  "a": 1\n}\n x',
]


def test_a_json_error_is_reported_where_reading_stopped() -> None:
    problem = only(problems_of({"triage.json": BROKEN_FORMS[0]}))
    assert problem["line"] == 5 and "line 5, column 3" in problem["message"]  # the token after the missing comma
    assert "is a comma missing after the value before?" in problem["message"]
    assert "第 5 行第 3 列" in problem["message_zh"] and "缺少逗号" in problem["message_zh"]


def test_the_form_editor_and_the_checker_place_json_errors_alike() -> None:
    editor = ROOT / "api" / "static" / "workbench" / "form-editor.js"
    script = ("global.window = {}; require(process.argv[1]); const texts = JSON.parse(process.argv[2]);"
              "console.log(JSON.stringify(texts.map(t => window.AftercareFormEditor.check(t, 'en'))));")
    run = subprocess.run(["node", "-e", script, str(editor), json.dumps(BROKEN_FORMS)], capture_output=True,
                         text=True, timeout=60, check=True)
    for text, shown in zip(BROKEN_FORMS, json.loads(run.stdout), strict=True):
        problem = only(problems_of({"f.json": text}))
        where = re.search(r"at line (\d+), column (\d+):", problem["message"])
        assert where is not None and problem["line"] == int(where.group(1)), problem
        assert (shown["line"], shown["column"]) == (problem["line"], int(where.group(2))), (text, shown, problem)


@pytest.mark.parametrize(("text", "line", "where", "english", "chinese"), [
    ('{\n  "type": "object",\n  "properties": {\n    "a": {"type": "objekt"}\n  }\n}', 4, "properties/a/type",
     '"objekt" is not a type: one of string', '"objekt" 不是类型名'),
    ('{\n  "type": "object",\n  "required": "a"\n}', 3, "required", '"a" should be of type array',
     '"a" 的类型应为 array'),
    ('{\n  "type": "object",\n  "properties": {\n    "n": {"type": "integer", "minLength": -1}\n  }\n}', 4,
     "properties/n/minLength", "-1 is too small", "-1 太小"),
    # a field called "type" is a field, not a type name; a value that reads like a later key is not that key
    ('{\n  "type": "object",\n  "properties": {\n    "b": {"title": "a", "type": "string"},\n    "a": {"type": 5}'
     '\n  }\n}', 5, "properties/a/type", "5 is not a type", "5 不是类型名"),
    ('{\n  "type": "object",\n  "properties": {\n    "type": "string"\n  }\n}', 4, "properties/type",
     '"string" should be of type object', '"string" 的类型应为 object')])
def test_a_form_that_is_no_json_schema_names_the_key_and_its_line_in_both_languages(
        text: str, line: int, where: str, english: str, chinese: str) -> None:
    problem = only(problems_of({"f.json": text}))
    assert (problem["element_id"], problem["line"]) == (where, line)
    assert english in problem["message"] and chinese in problem["message_zh"]
    assert "valid under" not in problem["message_zh"] and "objekt' is not" not in problem["message_zh"]
