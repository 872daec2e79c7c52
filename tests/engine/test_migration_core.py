"""Moving running cases to a newer version of their process (engine/migration.py), without a database.

Version 1 is the project's own processes/ and forms/; each later version is the process owner's edit of that XML
(a step added, a step removed, a timer added or changed), deployed through the same checker as an upload."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine import clock as clock_mod
from engine.clock import FakeClock
from engine.deploy import check_files
from engine.effects import Effects
from engine.migration import Assessment, MigrationFailed, MigrationRefused, assess, migrate
from engine.runtime import Runtime
from engine.scripting import calendar_functions, make_script_engine

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
MAIN = "maintenance_request.bpmn"
NEGOTIATION = "paid_service_negotiation.bpmn"
FAULT = {"category": "fault", "severity": 2, "onsite": False}
RESPONSE = {"contact_made": True, "diagnosis": "数据库连接池耗尽"}
RESOLVED = {"resolution": "已修复", "outcome": "resolved"}
PAID_ASSESSMENT = {"change_kind": "enhancement", "change_scope": "新增科室月度统计报表", "effort_days": 5,
                   "assessment_decision": "implement", "assessment_answer": "我们将先为您报价"}
QUOTE = {"quote_items": [{"description": "报表开发", "unit_price": 8000}], "quote_validity_days": 10}


def project_files() -> dict[str, str]:
    """Every process and form of the project: a deployment is always the whole set."""
    return {p.name: p.read_text(encoding="utf-8") for folder in ("processes", "forms")
            for p in sorted((ROOT / folder).iterdir()) if p.suffix in (".bpmn", ".dmn", ".json")}


# -- the process owner's edits, on the XML text ---------------------------------------------------------------------


def _q(tag: str, ns: str = BPMN) -> str:
    return f"{{{ns}}}{tag}"


def _edit(xml: str, change: Callable[[Any], None]) -> str:
    root = etree.fromstring(xml.encode())
    change(root)
    return str(etree.tostring(root, encoding="unicode"))


def _node(root: Any, element_id: str) -> Any:
    return root.xpath(f'//*[@id="{element_id}"]')[0]


def _flows(root: Any, **ends: str) -> list[Any]:
    (end, ref), = ends.items()
    return [f for f in root.iter(_q("sequenceFlow")) if f.get(end) == ref]


def _join_lane(root: Any, beside: str, *element_ids: str) -> None:
    ref = next(r for r in root.iter(_q("flowNodeRef")) if r.text == beside)
    for element_id in element_ids:
        etree.SubElement(ref.getparent(), _q("flowNodeRef")).text = element_id


def _flow(process: Any, flow_id: str, source: str, target: str) -> None:
    etree.SubElement(process, _q("sequenceFlow"), id=flow_id, sourceRef=source, targetRef=target)


def add_step_after(xml: str, after: str, step: str, form: str) -> str:
    """A new user task right after `after`, in the same lane."""
    def change(root: Any) -> None:
        [flow] = _flows(root, sourceRef=after)
        process, target = _node(root, after).getparent(), flow.get("targetRef")
        flow.set("targetRef", step)
        task = etree.SubElement(process, _q("userTask"), id=step, name=step.replace("_", " ").capitalize())
        props = etree.SubElement(etree.SubElement(task, _q("extensionElements")), _q("properties", SPIFF))
        etree.SubElement(props, _q("property", SPIFF), name="formJsonSchemaFilename", value=form)
        _flow(process, f"f_{step}", step, target)
        _join_lane(root, after, step)
    return _edit(xml, change)


def remove_step(xml: str, step: str) -> str:
    """Drop a step; what led to it now leads to what followed it."""
    def change(root: Any) -> None:
        [out] = _flows(root, sourceRef=step)
        for flow in _flows(root, targetRef=step):
            flow.set("targetRef", out.get("targetRef"))
        for element in (out, _node(root, step), *[r for r in root.iter(_q("flowNodeRef")) if r.text == step]):
            element.getparent().remove(element)
    return _edit(xml, change)


def add_reminder(xml: str, on: str, timer: str, duration: str) -> str:
    """A non-interrupting timer on `on` that logs a reminder."""
    def change(root: Any) -> None:
        process = _node(root, on).getparent()
        event = etree.SubElement(process, _q("boundaryEvent"), id=timer, attachedToRef=on, cancelActivity="false")
        etree.SubElement(event, _q("outgoing")).text = f"f_{timer}"
        definition = etree.SubElement(event, _q("timerEventDefinition"), id=f"{timer}_def")
        etree.SubElement(definition, _q("timeDuration")).text = duration
        script = etree.SubElement(process, _q("scriptTask"), id=f"{timer}_log")
        etree.SubElement(script, _q("script")).text = f"log_event('reminder', timer='{timer}')"
        etree.SubElement(process, _q("endEvent"), id=f"{timer}_end")
        _flow(process, f"f_{timer}", timer, f"{timer}_log")
        _flow(process, f"f_{timer}_end", f"{timer}_log", f"{timer}_end")
        _join_lane(root, on, timer, f"{timer}_log", f"{timer}_end")
    return _edit(xml, change)


def set_timer(xml: str, timer: str, expression: str) -> str:
    """A new expression for a timer (timeDate, timeDuration or timeCycle)."""
    def change(root: Any) -> None:
        definition = _node(root, timer).find(_q("timerEventDefinition"))
        definition[0].text = expression
    return _edit(xml, change)


def retype(xml: str, step: str, tag: str) -> str:
    """The same step as another kind of element (a userTask turned manualTask)."""
    def change(root: Any) -> None:
        _node(root, step).tag = _q(tag)
    return _edit(xml, change)


# -- a small desk: deploy versions, start and work cases --------------------------------------------------------------


class Desk:
    """One runtime holding every deployed version, a fake clock and the effects the diagrams asked for."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.runtime = Runtime()
        self.effects = Effects()
        self.engine = make_script_engine({**calendar_functions(clock.now), **self.effects.functions()})

    def deploy(self, files: dict[str, str], process: str = "maintenance_request") -> tuple[str, Any, dict[str, Any]]:
        """(hash, spec, subprocess specs) of `process` in `files`, stored as the app stores a version."""
        bundle = check_files(files)
        assert not bundle.problems, bundle.problems
        parsed = next(p for p in bundle.processes if p.process_id == process)
        spec_hash, text = self.runtime.library.encode(parsed.spec, parsed.subprocess_specs)
        self.runtime.library.ensure(spec_hash, lambda: text)
        spec, subs = self.runtime.library.get(spec_hash)
        return spec_hash, spec, subs

    def start(self, spec_hash: str, **data: Any) -> BpmnWorkflow:
        """A case as the app starts one (the variables of case_start_data)."""
        now = self.clock.now()
        return self.runtime.start(spec_hash, {
            "ticket_id": 1, "ticket_number": "AC-2026-000001", "customer": "青山医院", "category": None,
            "tier": "standard", "contract_number": None, "in_warranty": False, "free_scope": [],
            "contract_calendar": "working", "sla_overrides": {}, "channel": "phone", "title": "系统无法登录",
            "description": "所有用户登录时报 500 错误", "contact_name": "李工",
            "contact_email": "it@qingshan-hospital.example", "created_at": now.isoformat(), "origin_ticket": None,
            **data}, self.engine)

    def complete(self, wf: BpmnWorkflow, step: str, data: dict[str, Any]) -> None:
        """Complete the open task `step` as the API does."""
        self.runtime.complete(wf, self.runtime.ready_task(wf, open_tasks(wf)[step]), data)

    def travel(self, wf: BpmnWorkflow, **delta: float) -> list[str]:
        """Move the clock and fire what fell due, as the scheduler does."""
        self.clock.advance(**delta)
        return self.runtime.advance(wf)

    def reload(self, wf: BpmnWorkflow) -> BpmnWorkflow:
        """The case as the next request loads it."""
        return self.runtime.load(self.runtime.dump(wf), self.engine)


def open_tasks(wf: BpmnWorkflow) -> dict[str, str]:
    """bpmn id -> task id of the open manual tasks, called processes included."""
    return {t.task_spec.bpmn_id: str(t.id) for t in wf.get_tasks(state=TaskState.READY, manual=True)}


def task(wf: BpmnWorkflow, step: str) -> Task:
    """The one open task `step`."""
    [found] = wf.get_tasks(state=TaskState.READY, manual=True, spec_name=step)
    return found


def timers(wf: BpmnWorkflow) -> dict[str, Any]:
    """bpmn id -> Spiff's stored due value of every waiting timer."""
    return {t.task_spec.bpmn_id: t.internal_data["event_value"] for t in wf.event_manager.tasks.values()
            if isinstance(t.task_spec.event_definition, TimerEventDefinition)}


def shape(wf: BpmnWorkflow) -> dict[Any, tuple[str, str, int, str, Any]]:
    """Every task that has run or waits: process, step, state, internal data, data (predictions excluded)."""
    return {t.id: (w.spec.name, t.task_spec.name, t.state, repr(t.internal_data), t.data)
            for w in [wf, *wf.subprocesses.values()] for t in w.tasks.values()
            if not t.has_state(TaskState.FUTURE | TaskState.PREDICTED_MASK)}


def run_to_the_end(desk: Desk, wf: BpmnWorkflow) -> None:
    """Accept, answer the survey and call back: the rest of a maintenance request."""
    desk.complete(wf, "customer_acceptance", {"accepted": True})
    desk.complete(wf, "satisfaction_survey", {"score": 5})
    desk.complete(wf, "callback", {"recurred": False, "satisfaction": 5, "comment": "满意"})
    assert wf.is_completed()


@pytest.fixture
def desk() -> Iterator[Desk]:
    before = clock_mod._current
    clock = FakeClock(MONDAY_10AM)
    clock_mod.install(clock)
    yield Desk(clock)
    clock_mod.install(before)  # the timer module reads the installed clock: leave it as other tests expect


@pytest.fixture
def v1(desk: Desk) -> tuple[str, Any, dict[str, Any]]:
    return desk.deploy(project_files())


def version(files: dict[str, str], name: str, *edits: Callable[[str], str]) -> dict[str, str]:
    """`files` with the edits applied, in order, to the file `name`."""
    text = files[name]
    for edit in edits:
        text = edit(text)
    return {**files, name: text}


# -- tests ------------------------------------------------------------------------------------------------------------


# A fault case's steps, and where the case waits after the first n of them.
FAULT_STEPS: list[tuple[str, dict[str, Any]]] = [
    ("triage", FAULT), ("engineer_response", RESPONSE), ("engineer_resolution", RESOLVED),
    ("customer_acceptance", {"accepted": True})]
STAGES = ["triage", "fault_response_in_call", "fault_resolution_in_call", "acceptance", "survey_and_callback"]


@pytest.mark.parametrize("done", range(len(STAGES)), ids=STAGES)
def test_moving_to_the_same_version_changes_nothing(desk: Desk, v1: Any, done: int) -> None:
    spec_hash, spec, subs = v1
    wf = desk.start(spec_hash)
    for step, data in FAULT_STEPS[:done]:
        desk.complete(wf, step, data)
    moved = migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=spec_hash)
    assert shape(moved) == shape(wf)
    assert timers(moved) == timers(wf) and open_tasks(moved) == open_tasks(wf)


def test_a_new_step_after_the_waiting_one_is_reached_and_the_case_keeps_its_task(desk: Desk, v1: Any) -> None:
    old_hash, _, _ = v1
    wf = desk.start(old_hash)
    desk.complete(wf, "triage", FAULT)
    response = task(wf, "engineer_response")
    response.data["draft_note"] = "客户 14:00 前可远程"  # saved on the open task, not yet completed
    state_before = desk.runtime.dump(wf)
    new_hash, spec, subs = desk.deploy(version(project_files(), MAIN, lambda x: add_step_after(
        x, "engineer_response", "remote_check", "fault_response.json")))

    assert assess(wf, spec, subs, version=2) == Assessment(True)
    moved = desk.reload(migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash, version=2))

    assert desk.runtime.dump(wf) == state_before and wf.spec_hash == old_hash  # the input is untouched
    assert open_tasks(moved) == {"engineer_response": str(response.id)}  # the id the e-mail links carry
    assert desk.runtime.ready_tasks(moved) == desk.runtime.ready_tasks(wf)  # the task list row, due time included
    kept = task(moved, "engineer_response")
    assert kept.data == response.data and kept.data["draft_note"] == "客户 14:00 前可远程"
    assert kept.data["contact_name"] == "李工" and kept.task_spec.lane == "engineer"
    [fault] = moved.subprocesses.values()
    assert fault.spec is subs["fault_handling"] and moved.spec is spec and moved.spec_hash == new_hash
    desk.complete(moved, "engineer_response", RESPONSE)
    assert list(open_tasks(moved)) == ["remote_check"]  # version 2's new step
    desk.complete(moved, "remote_check", {"contact_made": True, "diagnosis": "远程确认"})
    desk.complete(moved, "engineer_resolution", RESOLVED)
    run_to_the_end(desk, moved)


def test_waiting_timers_keep_their_due_times_though_version_2_changes_them(desk: Desk, v1: Any) -> None:
    old_hash, _, _ = v1
    wf = desk.start(old_hash)
    desk.travel(wf, minutes=10)
    v2 = version(project_files(), MAIN, lambda x: set_timer(x, "triage_timer", '"PT30M"'))  # a longer triage time
    new_hash, spec, subs = desk.deploy(v2)
    moved = migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash)
    assert timers(moved) == timers(wf) == {"triage_timer": "2026-11-23T02:15:00+00:00"}  # 10:15 Shanghai, not 10:40
    assert desk.runtime.next_timer_at(moved) == desk.runtime.next_timer_at(wf)
    assert desk.travel(moved, minutes=6) == ["15分钟未分诊 Triage overdue"]
    assert "triage" in open_tasks(moved)


def test_timers_around_a_call_activity_keep_due_times_and_the_cycle_its_count(desk: Desk, v1: Any) -> None:
    old_hash, _, _ = v1
    wf = desk.start(old_hash)
    desk.complete(wf, "triage", FAULT)
    assert desk.travel(wf, hours=5) == ["每4小时 Every 4 h", "响应超时 Response due"]
    before = timers(wf)
    assert before["progress_timer"]["next"] == "2026-11-23T10:00:00+00:00"  # the cycle fired once, at 14:00
    new_hash, spec, subs = desk.deploy(version(
        project_files(), MAIN, lambda x: set_timer(x, "progress_timer", '"R/PT2H"'),
        lambda x: set_timer(x, "resolve_breach_timer", "add_working_hours(created_at, 1)")))
    desk.clock.advance(minutes=30)  # the move happens later than the timers started
    moved = desk.reload(migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash))
    assert timers(moved) == before
    assert desk.runtime.next_timer_at(moved) == desk.runtime.next_timer_at(wf)
    assert desk.travel(moved, hours=3, minutes=31) == ["每4小时 Every 4 h"]  # 18:00, on the old 4-hour schedule
    assert timers(moved)["progress_timer"]["next"] == "2026-11-23T14:00:00+00:00"


def test_an_intermediate_timer_keeps_its_due_time_and_leads_to_the_new_step(desk: Desk) -> None:
    files = {"follow_up.bpmn": (FIXTURES / "migration" / "follow_up.bpmn").read_text(encoding="utf-8"),
             "mini.json": (FIXTURES / "mini.json").read_text(encoding="utf-8")}
    old_hash, _, _ = desk.deploy(files, "follow_up")
    wf = desk.start(old_hash)
    desk.complete(wf, "call_customer", {"answer": 1})
    desk.travel(wf, hours=20)
    new_hash, spec, subs = desk.deploy(version(
        files, "follow_up.bpmn", lambda x: set_timer(x, "wait_two_days", '"P3D"'),
        lambda x: add_step_after(x, "wait_two_days", "send_survey", "mini.json")), "follow_up")
    moved = desk.reload(migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash))
    assert timers(moved) == timers(wf) == {"wait_two_days": "2026-11-25T02:00:00+00:00"}
    assert desk.travel(moved, hours=27) == []
    assert desk.travel(moved, hours=2) == ["Two days later"]  # after two days, not three
    assert list(open_tasks(moved)) == ["send_survey"]
    desk.complete(moved, "send_survey", {"answer": 2})
    desk.complete(moved, "check_back", {"answer": 3})
    assert moved.is_completed()


def test_a_case_two_calls_deep_moves_with_its_called_processes(desk: Desk, v1: Any) -> None:
    old_hash, _, _ = v1
    wf = desk.start(old_hash, title="新增科室月度报表")
    desk.complete(wf, "triage", {"category": "change"})
    desk.complete(wf, "change_assessment", PAID_ASSESSMENT)
    quote_task = open_tasks(wf)["prepare_quote"]
    new_hash, spec, subs = desk.deploy(version(project_files(), NEGOTIATION, lambda x: add_step_after(
        x, "prepare_quote", "check_quote", "approve_quote.json")))
    moved = desk.reload(migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash, version=2))
    assert open_tasks(moved) == {"prepare_quote": quote_task}
    assert {sub.spec.name: sub.spec for sub in moved.subprocesses.values()} == {
        "change_request": subs["change_request"], "paid_service_negotiation": subs["paid_service_negotiation"]}
    assert timers(moved) == timers(wf)  # the change's resolve deadline on the call activity
    desk.complete(moved, "prepare_quote", QUOTE)
    assert list(open_tasks(moved)) == ["check_quote"]
    desk.complete(moved, "check_quote", {"approved": True})
    desk.complete(moved, "quote_decision", {"quote_decision": "decline"})
    assert moved.is_completed() and moved.data["change_outcome"] == "not_pursued"


def test_an_assigned_task_keeps_its_task_list_row(desk: Desk, v1: Any) -> None:
    old_hash, _, _ = v1
    wf = desk.start(old_hash, title="新增科室月度报表")
    desk.complete(wf, "triage", {"category": "change"})
    desk.complete(wf, "change_assessment", PAID_ASSESSMENT)
    desk.complete(wf, "prepare_quote", QUOTE)
    desk.complete(wf, "quote_decision", {"quote_decision": "accept"})
    desk.complete(wf, "schedule_change", {"planned_start": "2026-12-01", "planned_end": "2026-12-03",
                                          "change_engineer": "zhang.wei"})
    rows = desk.runtime.ready_tasks(wf)
    assert [(r.bpmn_id, r.assignee, str(r.due_at)) for r in rows] == [
        ("implement_change", "zhang.wei", "2026-12-03 10:00:00+00:00")]
    new_hash, spec, subs = desk.deploy(version(project_files(), "change_request.bpmn", lambda x: add_step_after(
        x, "implement_change", "release_check", "implement_change.json")))
    moved = desk.reload(migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash))
    assert desk.runtime.ready_tasks(moved) == rows  # same id, assignee, due time, form and instructions
    desk.complete(moved, "implement_change", {"resolution": "已上线月度报表", "release_version": "2.1"})
    assert list(open_tasks(moved)) == ["release_check"]
    desk.complete(moved, "release_check", {"resolution": "已核对", "release_version": "2.1"})
    run_to_the_end(desk, moved)


def test_a_case_waiting_at_a_removed_step_is_refused_and_left_untouched(desk: Desk, v1: Any) -> None:
    old_hash, old_spec, _ = v1
    wf = desk.start(old_hash)
    desk.complete(wf, "triage", FAULT)
    desk.complete(wf, "engineer_response", RESPONSE)
    state_before = desk.runtime.dump(wf)
    files = version(project_files(), MAIN, lambda x: remove_step(x, "engineer_resolution"))
    # what the removed step's form set (later flows read it) is asked for by the response form now
    response_form = json.loads(files["fault_response.json"])
    resolution_form = json.loads(files["fault_resolution.json"])
    response_form["properties"] = {**resolution_form["properties"], **response_form["properties"]}
    files["fault_response.json"] = json.dumps(response_form, ensure_ascii=False)
    new_hash, spec, subs = desk.deploy(files)

    verdict = assess(wf, spec, subs, version=3)
    assert verdict == Assessment(False, "waits at step 'engineer_resolution', which version 3 no longer has",
                                 "等待中的步骤 engineer_resolution 在新版本中已不存在")
    with pytest.raises(MigrationRefused) as refused:
        migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash, version=3)
    assert (refused.value.reason, refused.value.reason_zh) == (verdict.reason, verdict.reason_zh)
    assert desk.runtime.dump(wf) == state_before and wf.spec is old_spec
    desk.complete(wf, "engineer_resolution", RESOLVED)  # it still runs on version 1
    run_to_the_end(desk, wf)


def test_a_case_whose_waiting_timer_is_removed_is_refused(desk: Desk, v1: Any) -> None:
    old_hash, _, _ = v1
    wf = desk.start(old_hash)
    new_hash, spec, subs = desk.deploy(version(project_files(), MAIN, lambda x: remove_step(x, "triage_timer")))
    with pytest.raises(MigrationRefused) as refused:
        migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash, version=2)
    assert refused.value.reason == "waits at timer 'triage_timer', which version 2 no longer has"
    assert refused.value.reason_zh == "等待中的定时器 triage_timer 在新版本中已不存在"


def test_a_removed_step_the_case_has_passed_does_not_hold_it_back(desk: Desk, v1: Any) -> None:
    old_hash, _, _ = v1
    wf = desk.start(old_hash)
    triage = open_tasks(wf)["triage"]
    new_hash, spec, subs = desk.deploy(version(project_files(), MAIN, lambda x: remove_step(x, "acknowledge")))
    assert assess(wf, spec, subs).movable
    moved = desk.reload(migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash))
    assert open_tasks(moved) == {"triage": triage} and timers(moved) == timers(wf)
    assert "acknowledge" not in {t.task_spec.name for t in moved.tasks.values()}
    desk.complete(moved, "triage", {"category": "question"})
    desk.complete(moved, "answer_question", {"answer": "在报表菜单中选择导出"})
    run_to_the_end(desk, moved)


def test_a_finished_call_the_new_version_drops_is_forgotten(desk: Desk, v1: Any) -> None:
    old_hash, _, _ = v1
    wf = desk.start(old_hash)
    desk.complete(wf, "triage", FAULT)
    desk.complete(wf, "engineer_response", RESPONSE)
    desk.complete(wf, "engineer_resolution", {"outcome": "paid", "needs_paid_service": True,
                                              "paid_service_description": "更换主板（保外）"})
    desk.complete(wf, "prepare_quote", QUOTE)
    desk.complete(wf, "quote_decision", {"quote_decision": "accept"})
    desk.complete(wf, "engineer_resolution", RESOLVED)
    assert list(open_tasks(wf)) == ["customer_acceptance"]
    assert sorted(sub.spec.name for sub in wf.subprocesses.values()) == ["fault_handling", "paid_service_negotiation"]
    new_hash, spec, subs = desk.deploy(version(project_files(), MAIN, lambda x: remove_step(
        x, "negotiate_paid_service")))  # version 2: paid service is agreed outside the fault handling
    moved = desk.reload(migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash))
    assert sorted(sub.spec.name for sub in moved.subprocesses.values()) == ["fault_handling"]
    assert open_tasks(moved) == open_tasks(wf) and timers(moved) == timers(wf)
    run_to_the_end(desk, moved)


def test_a_timer_added_to_the_waiting_step_starts_at_the_move(desk: Desk, v1: Any) -> None:
    old_hash, _, _ = v1
    wf = desk.start(old_hash)
    desk.complete(wf, "triage", FAULT)
    desk.complete(wf, "engineer_response", RESPONSE)
    resolution = open_tasks(wf)["engineer_resolution"]
    data = dict(task(wf, "engineer_resolution").data)
    new_hash, spec, subs = desk.deploy(version(project_files(), MAIN, lambda x: add_reminder(
        x, "engineer_resolution", "resolution_reminder", '"PT2H"')))
    desk.clock.advance(minutes=20)
    moved = desk.reload(migrate(wf, spec, subs, runtime=desk.runtime, spec_hash=new_hash))
    assert timers(moved) == {**timers(wf), "resolution_reminder": "2026-11-23T04:20:00+00:00"}  # 12:20 Shanghai
    assert desk.travel(moved, hours=2, minutes=1) == ["resolution_reminder"]
    assert ("reminder", {"timer": "resolution_reminder"}) in desk.effects.events
    assert open_tasks(moved) == {"engineer_resolution": resolution}
    assert task(moved, "engineer_resolution").data == data
    desk.complete(moved, "engineer_resolution", RESOLVED)
    run_to_the_end(desk, moved)


def test_a_step_of_another_kind_is_refused(desk: Desk, v1: Any) -> None:
    old_hash, _, _ = v1
    wf = desk.start(old_hash)
    desk.complete(wf, "triage", FAULT)
    _, spec, subs = desk.deploy(version(project_files(), MAIN, lambda x: retype(x, "engineer_response", "manualTask")))
    assert assess(wf, spec, subs, version=2) == Assessment(
        False, "waits at step 'engineer_response', which version 2 turns from a user task into a manual task",
        "等待中的步骤 engineer_response 在新版本中已从用户任务改为人工任务")


def test_an_ended_case_does_not_move(desk: Desk, v1: Any) -> None:
    spec_hash, spec, subs = v1
    wf = desk.start(spec_hash)
    desk.complete(wf, "triage", {"category": "question"})
    desk.complete(wf, "answer_question", {"answer": "在报表菜单中选择导出"})
    run_to_the_end(desk, wf)
    assert assess(wf, spec, subs) == Assessment(False, "the case has ended", "工单流程已结束")


def test_a_move_that_fails_leaves_the_case_as_it_was(desk: Desk, v1: Any) -> None:
    old_hash, spec, subs = v1
    wf = desk.start(old_hash)
    state_before = desk.runtime.dump(wf)
    with pytest.raises(MigrationFailed) as failed:
        migrate(wf, spec, subs, runtime=desk.runtime, spec_hash="0" * 64)  # a version the library does not hold
    assert failed.value.reason.startswith("the case could not be moved to the new version")
    assert desk.runtime.dump(wf) == state_before
    assert desk.runtime.next_timer_at(wf) == desk.clock.now() + timedelta(minutes=15)
