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

import random
import re
import string
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
    "camunda-bpm-examples_order-handling.bpmn": [("Task_1yjkccw", "service task 'Archive invoice'", "服务任务")],
    "camunda-bpm-examples_dinnerDecisions.dmn": [("dish", "2 decisions (beverages, dish)", "决策")],
    "spiff-example-cli_timer_start.bpmn": [("Flow_032rj36", "does not follow the BPMN 2.0 schema", "规范")],
    "spiff-example-cli_threaded_service_task.bpmn": [("any_task", "service task 'Any Task'", "服务任务")],
    "spiff-example-cli_top_level.bpmn": [
        ("Activity_0jnqqws", "calls decision table 'shipping_costs', which is not deployed", "决策表")],
    "spiff-example-cli_call_activity.bpmn": [
        ("Activity_1x1kw47", "calls decision table 'product_prices', which is not deployed", "决策表")],
    "spiff-example-cli_product_prices.dmn": [],
    "spiff-example-cli_shipping_costs.dmn": [],
    "bpmn-js-examples_pizza-collaboration.bpmn": [("_6-1", "not marked executable", "可执行")],
    "bpmn-js-examples_kitchen-sink.bpmn": [("IntermediateThrowEvent_1liyvfn", "bpmn:linkEventDefinition", "规范")],
    "dmn-js-examples_dish-decision.dmn": [("season", "3 decisions", "决策")],
    "dmn-js-examples_new-table.dmn": [],
    "camunda7_data_store.bpmn": [("DataStore_crm", "data store 'CRM database'", "数据存储")],
    "camunda7_service_request.bpmn": [
        ("Activity_triage", "in lane 'Service Desk'", "泳道"),
        ("Activity_triage", "Camunda form 'embedded:app:forms/triage.html'", "表单"),
        ("Flow_urgent", "written in JUEL ('${severity == 1}')", "JUEL"),
        ("Activity_fix", "in lane 'Engineer'", "泳道"),
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
