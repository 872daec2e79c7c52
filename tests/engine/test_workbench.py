"""The process owner's workbench through the facade: versions and their files, rollback, bulk migration of running
cases (dry run, move, cases that cannot move), the SLA what-if over real tickets, and a start that does not put
back what a process owner changed."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import Conflict, InvalidProcess, NotFound, ValidationFailed
from engine.users import Actor
from tests.support import Desk

ROOT = Path(__file__).resolve().parents[2]
OWNER = Actor("process_owner", "process_owner")
MAIN = (ROOT / "processes" / "maintenance_request.bpmn").read_text(encoding="utf-8")
SLA = (ROOT / "processes" / "sla.dmn").read_text(encoding="utf-8")


def _version_two(facade: Aftercare) -> None:
    """Fault response renamed; the question answer turned into a manual step (a case there cannot move)."""
    text = MAIN.replace('name="故障响应 Fault response"', 'name="故障响应（新） Fault response, new"')
    start = text.index('<bpmn:userTask id="answer_question"')
    end = text.index("</bpmn:userTask>", start)
    text = (text[:start] + text[start:end].replace("<bpmn:userTask", "<bpmn:manualTask")
            + "</bpmn:manualTask>" + text[end + len("</bpmn:userTask>"):])
    created = facade.deploy(files={"maintenance_request.bpmn": text}, actor=OWNER, note="renamed")
    assert created == [{"process_id": "fault_handling", "version": 2},  # drawn in the same file
                       {"process_id": "maintenance_request", "version": 2}]


def _running(facade: Aftercare) -> dict[int, int]:
    return {v["version"]: v["running_cases"] for v in facade.versions(process_id="maintenance_request")}


def test_versions_list_who_when_note_hash_and_running_cases(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    desk.create()
    _version_two(facade)
    newest, first = facade.versions(process_id="maintenance_request")
    assert (newest["version"], newest["deployed_by"], newest["note"], newest["running_cases"]) == (
        2, "process_owner", "renamed", 0)
    assert (first["version"], first["deployed_by"], first["running_cases"]) == (1, "startup", 1)
    assert newest["hash"] != first["hash"] and len(first["hash"]) == 64
    with pytest.raises(NotFound):
        facade.versions(process_id="no_such_procedure")


def test_a_versions_files_are_its_diagram_called_diagrams_tables_and_forms(facade: Aftercare) -> None:
    files = facade.version_files(process_id="maintenance_request", version=1)
    assert files["maintenance_request.bpmn"] == MAIN
    assert {"change_request.bpmn", "complaint.bpmn", "sla.dmn", "entitlement.dmn", "triage.json",
            "callback.json"} <= set(files)
    assert "inspection.bpmn" not in files and "inspection_checklist.json" not in files  # not used by this one
    with pytest.raises(NotFound):
        facade.version_files(process_id="maintenance_request", version=9)


def test_rollback_deploys_an_old_version_again_as_a_new_one(facade: Aftercare) -> None:
    _version_two(facade)
    assert {"process_id": "maintenance_request", "version": 3} in facade.rollback(
        process_id="maintenance_request", version=1, actor=OWNER)
    assert facade.version_files(process_id="maintenance_request", version=3)["maintenance_request.bpmn"] == MAIN
    assert facade.versions(process_id="maintenance_request")[0]["note"].startswith("rollback to version 1")
    with pytest.raises(Conflict):  # version 1's files are what is deployed now
        facade.rollback(process_id="maintenance_request", version=1, actor=OWNER)


def test_compare_names_the_changed_elements_and_both_diagrams(facade: Aftercare) -> None:
    _version_two(facade)
    result = facade.compare_versions(process_id="maintenance_request", old=1, new=2)
    main = next(b for b in result["changes"]["bpmn"] if b["file"] == "maintenance_request.bpmn")
    assert {"engineer_response", "answer_question"} <= set(main["changed"])
    assert result["changes"]["files"]["changed"] == ["maintenance_request.bpmn"]
    assert result["old_xml"] == MAIN and "Fault response, new" in result["new_xml"]


def test_migration_dry_run_then_move_keeps_tasks_assignees_and_timers(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    fault, question = desk.create(), desk.create(title="怎么导出报表")
    desk.triage(fault, severity=2)
    desk.triage(question, category="question")
    task = desk.task(fault, "engineer_response")
    facade.claim_task(task_id=task["id"], actor=desk.actor("engineer"))
    timer_before = _next_timer(facade, fault)
    _version_two(facade)

    dry = facade.migrate_cases(process_id="maintenance_request", from_version=1, to_version=2, dry_run=True,
                               actor=OWNER)
    verdicts = {c["ticket_id"]: c for c in dry["cases"]}
    assert dry["moved"] == 0 and verdicts[fault]["movable"] is True
    assert verdicts[question]["movable"] is False and "answer_question" in verdicts[question]["reason"]
    assert _running(facade) == {2: 0, 1: 2}  # a dry run changes nothing

    moved = facade.migrate_cases(process_id="maintenance_request", from_version=1, to_version=2, dry_run=False,
                                 actor=OWNER)
    assert moved["moved"] == 1 and _running(facade) == {2: 1, 1: 1}
    after = desk.task(fault, "engineer_response")
    assert (after["id"], after["assignee"], after["due_at"]) == (task["id"], "engineer", task["due_at"])
    assert after["title"] == "故障响应（新） Fault response, new"  # the new version's step
    assert _next_timer(facade, fault) == timer_before
    assert desk.events(fault, "case_migrated")[0]["actor"] == "process_owner"
    assert desk.names(question) == ["answer_question"] and not desk.events(question, "case_migrated")

    # the moved case goes on
    desk.complete(fault, "engineer_response", {"contact_made": True, "diagnosis": "已远程登录排查"})
    assert desk.names(fault) == ["engineer_resolution"]


def test_migration_refuses_the_same_or_an_unknown_version(facade: Aftercare) -> None:
    with pytest.raises(ValidationFailed):
        facade.migrate_cases(process_id="maintenance_request", from_version=1, to_version=1, dry_run=True,
                             actor=OWNER)
    with pytest.raises(NotFound):
        facade.migrate_cases(process_id="maintenance_request", from_version=1, to_version=7, dry_run=True,
                             actor=OWNER)


def test_sla_replay_counts_breaches_then_and_under_the_candidate(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    slow = desk.create()
    desk.triage(slow, severity=2)  # L2 standard: respond 2 h, resolve 24 h round the clock
    desk.complete(slow, "engineer_response", {"contact_made": True, "diagnosis": "已响应"})
    desk.travel(hours=30)  # the resolve deadline passed: a breach
    assert any(b["kind"] == "resolve" for b in desk.ticket(slow)["sla"]["breaches"])
    desk.create()  # not triaged yet: left out
    facade.schedule_inspection(number="HT-2026-003", at=clock.now())
    assert facade.start_due_inspections() == 1  # an inspection is no maintenance request: the SLA table is not its

    actual = facade.replay_sla(files={"sla.dmn": SLA}, days=7)
    assert (actual["tickets"], actual["skipped"], actual["breached_actual"], actual["breached_candidate"]) == (
        1, 1, 1, 1)  # the untriaged ticket counted as left out, as the page says
    looser = SLA.replace("&quot;PT24H&quot;", "&quot;PT48H&quot;")
    candidate = facade.replay_sla(files={"sla.dmn": looser}, days=7)
    assert (candidate["breached_actual"], candidate["breached_candidate"]) == (1, 0)
    row = next(r for r in candidate["by_class"] if r["category"] == "fault" and r["severity"] == 2)
    assert (row["tickets"], row["resolve_within"], row["breached_candidate"]) == (1, "PT48H", 0)
    with pytest.raises(InvalidProcess):
        facade.replay_sla(files={"sla.dmn": SLA.replace("<decision ", "<decisio ")}, days=7)
    with pytest.raises(ValidationFailed):
        facade.replay_sla(files={"sla.dmn": SLA}, days=0)


def test_a_start_does_not_put_back_what_a_process_owner_deployed(facade: Aftercare) -> None:
    _version_two(facade)
    facade.deploy_directory(directory=ROOT / "processes", actor=Actor("startup", "process_owner"))
    assert facade.versions(process_id="maintenance_request")[0]["version"] == 2  # the owner's version stays


def test_check_stores_nothing_and_deploy_names_only_created_versions(facade: Aftercare) -> None:
    before = facade.list_processes()
    broken = MAIN.replace('<bpmn:userTask id="triage"', '<bpmn:userTask id="triage_renamed"', 1)
    problems = facade.check_files(files={"maintenance_request.bpmn": broken})
    assert problems and all(p["file"] == "maintenance_request.bpmn" for p in problems)
    assert facade.check_files(files={"sla.dmn": SLA}) == []
    assert facade.list_processes() == before


def _next_timer(facade: Aftercare, ticket_id: int) -> Any:
    from engine.models import Instance, Ticket

    def read(session: Any) -> Any:
        ticket = session.get(Ticket, ticket_id)
        return session.get(Instance, ticket.instance_id).next_timer_at

    return facade.run_in_unit(read)



def test_a_deploy_from_an_editor_opened_before_someone_elses_deploy_is_refused(facade: Aftercare) -> None:
    import hashlib

    opened = hashlib.sha256(SLA.encode()).hexdigest()  # the text the editor started from
    mine = SLA.replace("&quot;PT4H&quot;", "&quot;PT5H&quot;")
    theirs = SLA.replace("&quot;PT24H&quot;", "&quot;PT48H&quot;")
    facade.deploy(files={"sla.dmn": theirs}, actor=Actor("colleague", "process_owner"))
    with pytest.raises(Conflict) as refused:
        facade.deploy(files={"sla.dmn": mine}, actor=OWNER, based_on={"sla.dmn": opened})
    assert "sla.dmn" in refused.value.message
    assert "PT48H" in facade.current_files()["sla.dmn"]  # their change stands
    fresh = hashlib.sha256(theirs.encode()).hexdigest()
    assert facade.deploy(files={"sla.dmn": mine}, actor=OWNER, based_on={"sla.dmn": fresh})
