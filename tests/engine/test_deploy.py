"""Deployment: every file is parsed, validated and linted; problems name the file, element and line."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.commands import Aftercare
from engine.errors import InvalidProcess
from engine.users import Actor

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OWNER = Actor("olivia", "process_owner")


def _mini(**replace: str) -> dict[str, str]:
    text = (FIXTURES / "mini.bpmn").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return {"mini.bpmn": text, "mini.json": (FIXTURES / "mini.json").read_text()}


def _problems(facade: Aftercare, files: dict[str, str]) -> list[dict[str, object]]:
    with pytest.raises(InvalidProcess) as info:
        facade.deploy(files=files, actor=OWNER)
    return info.value.problems


def test_project_procedures_are_deployed_at_start(facade: Aftercare) -> None:
    ids = {p["process_id"] for p in facade.list_processes()}
    assert {"maintenance_request", "fault_handling"} <= ids


def test_a_valid_upload_makes_a_new_version_and_an_unchanged_one_does_not(facade: Aftercare) -> None:
    first = facade.deploy(files=_mini(), actor=OWNER)
    again = facade.deploy(files=_mini(), actor=OWNER)
    changed = facade.deploy(files=_mini(**{"result = answer * 2": "result = answer * 3"}), actor=OWNER)
    assert first == [{"process_id": "mini", "version": 1}]  # the versions this deploy created, nothing else
    assert again == []
    assert changed == [{"process_id": "mini", "version": 2}]
    assert {p["process_id"] for p in facade.list_processes()} >= {"mini", "maintenance_request"}


@pytest.mark.parametrize(("old", "new", "element", "words"), [
    ("result = answer * 2", "x = __import__('os').system('id')", "done", "__import__"),
    ("result = answer * 2", "x = ().__class__.__base__.__subclasses__()", "done", "__class__"),
    ('"PT1H"', "PT1H", "reminder", "unquoted ISO literal"),
    ('"PT1H"', '"an hour"', "reminder", "not valid ISO 8601"),
    ("result = answer * 2", "result = = 2", "done", "SyntaxError"),
    ("mini.json", "missing.json", "step", "missing.json"),
    ('name="service_desk"', 'name="front office"', "lane_desk", "lane 'lane_desk' is named 'front office'"),
    ('targetRef="done"', 'targetRef="nowhere"', "f2", "nowhere"),
])
def test_a_bad_diagram_is_refused_naming_element_and_line(facade: Aftercare, old: str, new: str, element: str,
                                                          words: str) -> None:
    files = _mini(**{old: new})
    problems = _problems(facade, files)
    assert len(problems) == 1
    problem = problems[0]
    assert problem["file"] == "mini.bpmn"
    assert problem["element_id"] == element
    assert words in str(problem["message"])
    line = files["mini.bpmn"].splitlines()[int(str(problem["line"])) - 1]
    assert element in line
    assert "mini" not in {p["process_id"] for p in facade.list_processes()}


def test_malformed_xml_and_json_name_their_lines(facade: Aftercare) -> None:
    files = _mini(**{"</bpmn:process>": ""})
    files["mini.json"] = '{"type": "object",\n  "properties": }'
    problems = {p["file"]: p for p in _problems(facade, files)}
    assert problems["mini.json"]["line"] == 2
    assert "not valid JSON" in str(problems["mini.json"]["message"])
    assert problems["mini.bpmn"]["line"] and "XML" in str(problems["mini.bpmn"]["message"])


def test_a_refused_upload_leaves_the_running_versions_alone(facade: Aftercare) -> None:
    before = facade.list_processes()
    _problems(facade, _mini(**{"result = answer * 2": "import os"}))
    assert facade.list_processes() == before


def test_a_changed_form_alone_makes_a_new_version_for_new_cases(facade: Aftercare) -> None:
    first = {v["process_id"]: v["version"] for v in facade.deploy(files=_mini(), actor=OWNER)}
    form = (FIXTURES / "mini.json").read_text().replace('"title": "Answer"', '"title": "The answer"')
    second = {v["process_id"]: v["version"] for v in facade.deploy(files={"mini.json": form}, actor=OWNER)}
    assert second["mini"] == first["mini"] + 1
    assert "maintenance_request" not in second  # its forms did not change: no new version


# --- located refusals in both languages (engine/deploy.py, engine/guard.py) ------------------------------------------

PROCESSES = FIXTURES.parent.parent / "processes"


def test_a_maintenance_request_without_triage_is_refused_and_nothing_changes(facade: Aftercare) -> None:
    from tests.engine.test_checker import without_step

    text = without_step((PROCESSES / "maintenance_request.bpmn").read_text(encoding="utf-8"), "triage",
                        ("f_ack_triage", "intake_route", "triage_defaults"))
    before = facade.list_processes()
    [problem] = _problems(facade, {"maintenance_request.bpmn": text})
    assert (problem["file"], problem["element_id"]) == ("maintenance_request.bpmn", "maintenance_request")
    assert 'id="maintenance_request"' in text.splitlines()[int(str(problem["line"])) - 1]
    assert "must keep step 'triage'" in str(problem["message"])
    assert "必须保留步骤 'triage'" in str(problem["message_zh"])
    assert facade.list_processes() == before


def test_a_deployed_process_id_in_a_new_file_is_refused_on_that_file_naming_both(facade: Aftercare) -> None:
    text = (PROCESSES / "complaint.bpmn").read_text(encoding="utf-8")
    [problem] = _problems(facade, {"complaint_v2.bpmn": text})
    assert (problem["file"], problem["element_id"]) == ("complaint_v2.bpmn", "complaint")
    assert '<bpmn:process id="complaint"' in text.splitlines()[int(str(problem["line"])) - 1]
    assert "defined in both complaint_v2.bpmn and complaint.bpmn" in str(problem["message"])
    assert "upload the file under the name complaint.bpmn to replace it" in str(problem["message"])
    assert "Duplicate" not in str(problem["message"])


def test_an_upload_with_entities_is_refused_unread(facade: Aftercare) -> None:
    from tests.engine.test_checker import BILLION_LAUGHS

    [problem] = _problems(facade, {"lol.bpmn": BILLION_LAUGHS})
    assert problem["file"] == "lol.bpmn" and problem["line"] == 2
    assert "DOCTYPE" in str(problem["message"]) and "DOCTYPE" in str(problem["message_zh"])
