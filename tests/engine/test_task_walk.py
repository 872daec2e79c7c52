"""The engine's task-tree walk (engine/task_walk.py) finds the same tasks in the same order as SpiffWorkflow's own
iterator, for every filter, at every step of real cases; and unlike SpiffWorkflow's it has no depth limit, so a
rework loop that goes round hundreds of times does not stall."""
from __future__ import annotations

import sys
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine import incidents, task_walk
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.effects import Effects
from engine.errors import CaseError
from engine.models import Instance, Ticket
from engine.runtime import Runtime
from engine.scripting import make_script_engine
from tests.support import Desk, complete_as_customer

FILTERS: list[dict[str, Any]] = [
    {}, {"state": TaskState.READY}, {"state": TaskState.READY, "manual": True},
    {"state": TaskState.READY, "manual": False}, {"state": TaskState.WAITING}, {"state": TaskState.FUTURE},
    {"state": TaskState.LIKELY}, {"state": TaskState.MAYBE}, {"state": TaskState.COMPLETED},
    {"state": TaskState.CANCELLED}, {"state": TaskState.FINISHED_MASK}, {"state": TaskState.NOT_FINISHED_MASK},
    {"state": TaskState.DEFINITE_MASK}, {"state": TaskState.PREDICTED_MASK},
    {"state": TaskState.READY, "skip_subprocesses": True}, {"skip_subprocesses": True},
    {"spec_name": "engineer_resolution"}, {"lane": "engineer"}, {"state": TaskState.WAITING, "lane": "customer"},
]


def spiffs_own(workflow: Any, first_task: Any = None, **kwargs: Any) -> list[Any]:
    """What SpiffWorkflow 3.2's own iterator finds, without its depth limit."""
    return list(task_walk.spiffworkflow_own()(workflow, first_task, max_depth=sys.maxsize, **kwargs))


def assert_same_walks(workflow: Any) -> int:
    """Every filter, from the root and from a task inside the tree, in the case and in each called process."""
    compared = 0
    for wf in [workflow, *workflow.subprocesses.values()]:
        middle = list(wf.tasks.values())[len(wf.tasks) // 2]
        for first in (None, middle):
            for kwargs in FILTERS:
                ours = [t.id for t in wf.get_tasks(first, **kwargs)]
                assert ours == [t.id for t in spiffs_own(wf, first, **kwargs)], kwargs
                compared += bool(ours)
    return compared


def case_workflow(facade: Aftercare, ticket_id: int) -> Any:
    """The ticket's workflow as stored now."""
    def load(session: Any) -> Any:
        instance = session.scalars(session.query(Instance).join(Ticket, Ticket.instance_id == Instance.id)
                                   .filter(Ticket.id == ticket_id).statement).one()
        return facade.kernel.load_case(session, instance, Effects(), for_update=False)
    return facade.run_in_unit(load)


def test_the_walk_equals_spiffworkflows_at_every_step_of_a_lifecycle(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    steps = [lambda: desk.triage(tid),
             lambda: desk.complete(tid, "engineer_response", {"contact_made": True, "diagnosis": "证书过期"}),
             lambda: desk.complete(tid, "engineer_resolution", {"resolution": "更新证书", "outcome": "resolved"}),
             lambda: complete_as_customer(facade, tid, {"accepted": False, "reason": "仍然报错"}),  # rework
             lambda: desk.complete(tid, "engineer_resolution", {"resolution": "重启服务", "outcome": "resolved"}),
             lambda: complete_as_customer(facade, tid, {"accepted": True}),
             lambda: desk.complete(tid, "satisfaction_survey", {"score": 5}, role="service_desk"),
             lambda: desk.complete(tid, "callback", {"recurred": False, "satisfaction": 5})]
    compared = assert_same_walks(case_workflow(facade, tid))
    for step in steps:
        step()
        compared += assert_same_walks(case_workflow(facade, tid))
    assert desk.ticket(tid)["status"] == "archived"
    assert compared > 100  # the filters found tasks: the lists compared were not all empty


LOOP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="rework" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="work"><bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>again</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>passes = passes + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="check" default="done"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>again</bpmn:outgoing><bpmn:outgoing>done</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>done</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="check"/>
    <bpmn:sequenceFlow id="again" sourceRef="check" targetRef="work">
      <bpmn:conditionExpression>passes &lt; 600</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="done" sourceRef="check" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def loop_workflow(after_the_loop: str = "") -> BpmnWorkflow:
    """The loop, going on to `after_the_loop` (elements ending in a flow to `end` named "last"), else to its end."""
    xml = LOOP
    if after_the_loop:
        xml = xml.replace('<bpmn:sequenceFlow id="done" sourceRef="check" targetRef="end"/>', after_the_loop)
        xml = xml.replace('<bpmn:incoming>done</bpmn:incoming></bpmn:endEvent>',
                          '<bpmn:incoming>last</bpmn:incoming></bpmn:endEvent>')
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(xml.encode())
    workflow = BpmnWorkflow(parser.get_spec("rework"), script_engine=make_script_engine({}))
    workflow.get_next_task(state=TaskState.READY).data["passes"] = 0
    return workflow


def test_a_loop_that_goes_round_600_times_runs_to_its_end() -> None:
    workflow = loop_workflow()
    workflow.do_engine_steps()
    assert workflow.is_completed() and workflow.data["passes"] == 600
    assert max(task.depth for task in workflow.tasks.values()) > 1000


def test_spiffworkflows_own_walk_cuts_the_same_loop_short() -> None:
    """The reason for the walk's missing depth limit: with SpiffWorkflow's own iterator (it stops at depth 1000)
    the tasks below that depth are invisible, and the loop ends as if done after some 500 passes, without an
    error and without the data of the passes that did not run."""
    with task_walk.spiffworkflow_as_released():
        workflow = loop_workflow()
        workflow.do_engine_steps()
    passes = max((t.data.get("passes", 0) for t in workflow.tasks.values()), default=0)
    assert 400 < passes < 600 and workflow.data.get("passes") != 600


def loop_then_review() -> BpmnWorkflow:
    """The loop, then a user task below depth 1000 of the task tree."""
    return loop_workflow("""
    <bpmn:sequenceFlow id="done" sourceRef="check" targetRef="review"/>
    <bpmn:userTask id="review"><bpmn:incoming>done</bpmn:incoming><bpmn:outgoing>last</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="last" sourceRef="review" targetRef="end"/>""")


def test_a_case_waiting_below_depth_1000_is_not_completed() -> None:
    workflow = loop_then_review()
    workflow.do_engine_steps()
    (review,) = workflow.get_tasks(state=TaskState.READY, manual=True)
    assert review.task_spec.name == "review" and review.depth > 1000
    assert not workflow.is_completed()  # SpiffWorkflow's own check stops at depth 1000 (test below)
    review.run()
    workflow.do_engine_steps()
    assert workflow.is_completed() and workflow.data["passes"] == 600


def test_spiffworkflow_as_released_calls_that_case_completed() -> None:
    """Why SpiffWorkflow's own iterators lose their depth limit too: as released, `is_completed` walks only 1000
    levels deep, and a case with a step still to run below them counts as completed (its ticket would close)."""
    with task_walk.spiffworkflow_as_released():
        workflow = loop_then_review()
        workflow.do_engine_steps()
        assert [t for t in workflow.tasks.values() if t.state == TaskState.READY]  # a step is still to run
        assert workflow.is_completed()


def test_a_join_too_deep_for_spiffworkflow_is_the_cases_error_not_the_servers() -> None:
    """SpiffWorkflow checks a parallel join's branches recursively: more than about 1,000 levels deep that is
    Python's recursion limit, a failure of this case (it parks as an incident), not of the server."""
    workflow = loop_workflow("""
    <bpmn:sequenceFlow id="done" sourceRef="check" targetRef="split"/>
    <bpmn:parallelGateway id="split"><bpmn:incoming>done</bpmn:incoming>
      <bpmn:outgoing>a1</bpmn:outgoing><bpmn:outgoing>b1</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:parallelGateway id="join"><bpmn:incoming>a1</bpmn:incoming><bpmn:incoming>b1</bpmn:incoming>
      <bpmn:outgoing>last</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:sequenceFlow id="a1" sourceRef="split" targetRef="join"/>
    <bpmn:sequenceFlow id="b1" sourceRef="split" targetRef="join"/>
    <bpmn:sequenceFlow id="last" sourceRef="join" targetRef="end"/>""")
    with pytest.raises(CaseError, match="too deep"):
        Runtime().advance(workflow)
    assert incidents.is_diagram_failure(CaseError("too deep"))
