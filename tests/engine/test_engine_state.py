"""What the engine stores per case: the state names its spec by hash (stored once), a state written with the spec
inside still loads and runs on, and a case moved to another version keeps working."""
from __future__ import annotations

import json

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import select, update

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.effects import Effects
from engine.kernel import CaseCache
from engine.models import Instance, ProcessSpec, ProcessVersion, Ticket
from engine.users import Actor
from tests.support import Desk, complete_as_customer


def stored(facade: Aftercare, ticket_id: int) -> tuple[Instance, dict[str, object]]:
    """The ticket's instance row and its state, parsed."""
    query = select(Instance).join(Ticket, Ticket.instance_id == Instance.id).where(Ticket.id == ticket_id)
    instance = facade.run_in_unit(lambda s: s.scalars(query).one())
    return instance, json.loads(instance.state)


def finish(desk: Desk, facade: Aftercare, ticket_id: int) -> None:
    """Run a triaged fault to the end: response, resolution, acceptance by link, survey, callback."""
    desk.complete(ticket_id, "engineer_response", {"contact_made": True, "diagnosis": "日志显示证书过期"})
    desk.complete(ticket_id, "engineer_resolution", {"resolution": "更新证书", "outcome": "resolved"})
    complete_as_customer(facade, ticket_id, {"accepted": True})
    desk.complete(ticket_id, "satisfaction_survey", {"score": 5}, role="service_desk")
    desk.complete(ticket_id, "callback", {"recurred": False, "satisfaction": 5})


def test_a_state_names_its_spec_by_hash_and_the_spec_is_stored_once(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    first, second = desk.create(), desk.create(title="第二单")
    (one, state), (two, _) = stored(facade, first), stored(facade, second)
    version = facade.run_in_unit(lambda s: s.get(ProcessVersion, one.version_id))
    assert state["spec_ref"] == version.spec_hash and "spec" not in state and "subprocess_specs" not in state
    specs = facade.run_in_unit(lambda s: s.scalars(select(ProcessSpec.hash).where(
        ProcessSpec.hash == version.spec_hash)).all())
    assert specs == [version.spec_hash] and two.version_id == one.version_id
    assert len(one.state) < len(facade.run_in_unit(lambda s: s.get(ProcessSpec, version.spec_hash)).json)


def test_a_state_written_with_its_spec_inside_still_loads_and_runs_on(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    tid = desk.create()
    instance, _ = stored(facade, tid)
    wf = facade.run_in_unit(lambda s: facade.kernel.load_case(s, instance, Effects(), for_update=False))
    plain = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(dict(SPIFF_CONFIG)))  # SpiffWorkflow's own format
    old_format = plain.serialize_json(wf)
    assert "spec_ref" not in json.loads(old_format) and "spec" in json.loads(old_format)
    facade.run_in_unit(lambda s: s.execute(update(Instance).where(Instance.id == instance.id)
                                           .values(state=old_format)), write=True)
    facade.kernel._cases = CaseCache()  # as after a restart: the stored state is all there is

    desk.triage(tid)
    assert desk.names(tid) == ["engineer_response"]
    _, state = stored(facade, tid)
    assert "spec" not in state and state["spec_ref"] == wf.spec_hash  # saved by reference from now on
    finish(desk, facade, tid)
    assert desk.ticket(tid)["status"] == "archived"


def test_a_case_moved_to_another_version_keeps_working(facade: Aftercare, clock: FakeClock) -> None:
    owner = Actor("process_owner", "process_owner")
    desk = Desk(facade, clock)
    tid = desk.create()
    desk.triage(tid)
    before, _ = stored(facade, tid)
    files = dict(facade.current_files())
    bpmn = files["maintenance_request.bpmn"]
    assert bpmn.count("Triage overdue") == 1
    files["maintenance_request.bpmn"] = bpmn.replace("Triage overdue", "Triage overdue (v2)")  # a new spec
    new = [v["version"] for v in facade.deploy(files=files, actor=owner) if v["process_id"] == "maintenance_request"]
    old_version = facade.run_in_unit(lambda s: s.get(ProcessVersion, before.version_id)).version
    moved = facade.migrate_cases(process_id="maintenance_request", from_version=old_version, to_version=new[0],
                                 dry_run=False, actor=owner)
    assert moved["moved"] == 1
    after, state = stored(facade, tid)
    target = facade.run_in_unit(lambda s: s.get(ProcessVersion, after.version_id))
    source = facade.run_in_unit(lambda s: s.get(ProcessVersion, before.version_id))
    assert target.version == new[0] and state["spec_ref"] == target.spec_hash != source.spec_hash
    facade.kernel._cases = CaseCache()
    finish(desk, facade, tid)
    assert desk.ticket(tid)["status"] == "archived"
