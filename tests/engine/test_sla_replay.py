"""Tests for engine.sla_replay: replaying tickets against a candidate SLA decision table."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from engine.errors import InvalidProcess
from engine.sla_replay import SlaCandidate, TicketFacts, breach_flags, parse_candidate, replay
from tests.conftest import MONDAY_10AM, ROOT, SHANGHAI

SHIPPED = (ROOT / "processes" / "sla.dmn").read_text(encoding="utf-8")
FRIDAY_4PM = datetime(2026, 11, 27, 16, 0, tzinfo=SHANGHAI)
NEXT_MONDAY = datetime(2026, 11, 30, 0, 0, tzinfo=SHANGHAI)
HOUR = timedelta(hours=1)


def edited(old: str, new: str, text: str = SHIPPED) -> str:
    """The shipped table with one edit, as a process owner would make it in the file."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def with_output(entry_id: str, value: str) -> str:
    """The shipped table with the literal of output cell `entry_id` changed (durations are quoted ISO 8601)."""
    pattern = re.compile(rf'(<outputEntry id="{entry_id}"><text>)&quot;[^&]*&quot;(</text>)')
    text, count = pattern.subn(rf"\g<1>&quot;{value}&quot;\g<2>", SHIPPED)
    assert count == 1
    return text


def ticket(number: int = 1, *, created_at: datetime = MONDAY_10AM, category: str | None = "fault",
           severity: int | None = 2, tier: str = "standard", onsite: bool | None = False,
           overrides: dict[str, Any] | None = None, responded: timedelta | None = HOUR,
           resolved: timedelta | None = None, response_breached: bool = False,
           resolve_breached: bool = False) -> TicketFacts:
    """A triaged ticket; `responded` and `resolved` are offsets from `created_at`."""
    return TicketFacts(id=number, number=f"AC-2026-{number:06d}", created_at=created_at, category=category,
                       severity=severity, tier=tier, onsite=onsite, sla_overrides=overrides or {},
                       responded_at=created_at + responded if responded is not None else None,
                       resolved_at=created_at + resolved if resolved is not None else None,
                       actual_response_breached=response_breached, actual_resolve_breached=resolve_breached)


def run(tickets: list[TicketFacts], text: str = SHIPPED, now: datetime = MONDAY_10AM + 10 * 24 * HOUR
        ) -> dict[str, Any]:
    """Replay `tickets` against the table `text`."""
    return replay(parse_candidate(text), tickets, now)


def problems_of(text: str) -> list[dict[str, Any]]:
    """The problems parse_candidate reports for `text`."""
    with pytest.raises(InvalidProcess) as caught:
        parse_candidate(text)
    return caught.value.problems


def line_of(text: str, needle: str) -> int:
    """The 1-based line of `needle` in `text`."""
    return text[:text.index(needle)].count("\n") + 1


# --- parsing the candidate ---------------------------------------------------------------------------------------


def test_shipped_table_parses() -> None:
    candidate = parse_candidate(SHIPPED)
    assert isinstance(candidate, SlaCandidate)
    assert candidate.file == "sla.dmn"
    assert [rule.id for rule in candidate.engine.decision_table.rules][-1] == "sla_rule_11"


def test_broken_xml_is_located() -> None:
    text = edited('<rule id="sla_rule_3">', '<rule id="sla_rule_3"')
    [problem] = problems_of(text)
    assert problem["file"] == "sla.dmn"
    assert problem["message"].startswith("not well-formed XML")
    assert problem["line"] == line_of(text, '<rule id="sla_rule_3"') + 1


@pytest.mark.parametrize("text", ["", "not xml at all", "<definitions/>"])
def test_anything_unreadable_is_an_invalid_process(text: str) -> None:
    assert problems_of(text)[0]["file"] == "sla.dmn"


def test_missing_decision_sla_is_named() -> None:
    [problem] = problems_of(edited('<decision id="sla" ', '<decision id="sla_v2" '))
    assert problem["message"] == "no decision with id 'sla' (decisions found: 'sla_v2')"


def test_input_expression_syntax_error_is_located_once() -> None:
    text = edited("<text>severity</text>", "<text>severity ==</text>")
    [problem] = problems_of(text)
    assert problem["element_id"] == "in_severity"
    assert problem["line"] == line_of(text, 'id="in_severity"')
    assert "SyntaxError" in problem["message"]


def test_rule_cell_syntax_error_is_located() -> None:
    text = edited('<inputEntry id="sla_rule_9_in_2"><text>2</text>',
                  '<inputEntry id="sla_rule_9_in_2"><text>2 +</text>')
    [problem] = problems_of(text)
    assert (problem["element_id"], problem["line"]) == ("sla_rule_9_in_2", line_of(text, 'id="sla_rule_9_in_2"'))


def test_bad_duration_and_calendar_literals_are_located() -> None:
    text = edited('<outputEntry id="sla_rule_9_out_3"><text>&quot;24x7&quot;',
                  '<outputEntry id="sla_rule_9_out_3"><text>&quot;24/7&quot;',
                  with_output("sla_rule_9_out_2", "24 hours"))
    problems = problems_of(text)
    assert [p["element_id"] for p in problems] == ["sla_rule_9_out_2", "sla_rule_9_out_3"]
    assert "not an ISO-8601 duration" in problems[0]["message"]
    assert "unknown calendar '24/7'" in problems[1]["message"]


def test_missing_output_and_collect_policy_are_refused() -> None:
    text = edited('hitPolicy="FIRST"', 'hitPolicy="COLLECT"', edited('name="sla_calendar"', 'name="calendar"'))
    messages = [p["message"] for p in problems_of(text)]
    assert any("COLLECT" in m for m in messages)
    assert "the table has no output named 'sla_calendar'" in messages


# --- replaying ---------------------------------------------------------------------------------------------------


def test_shipped_table_breaches_severity_2_resolved_after_30_hours() -> None:
    result = run([ticket(resolved=30 * HOUR, resolve_breached=True)])
    assert result["resolve"] == {"actual": 1, "candidate": 1}  # 24 h around the clock
    assert result["response"] == {"actual": 0, "candidate": 0}
    assert (result["breached_actual"], result["breached_candidate"], result["changed"]) == (1, 1, [])


def test_candidate_with_48_hours_for_severity_2_meets_it() -> None:
    result = run([ticket(resolved=30 * HOUR, resolve_breached=True)], with_output("sla_rule_9_out_2", "PT48H"))
    assert result["resolve"] == {"actual": 1, "candidate": 0}
    assert result["breached_candidate"] == 0
    assert result["changed"] == [{
        "id": 1, "number": "AC-2026-000001", "category": "fault", "severity": 2, "actual": "breached",
        "candidate": "met", "response_due": "2026-11-23T04:00:00+00:00", "resolve_due": "2026-11-25T02:00:00+00:00"}]


def test_severity_3_working_calendar_crosses_the_weekend() -> None:
    # Friday 16:00 + 4 working hours = Monday 11:00; + 3 working days (27 h) = Wednesday 16:00.
    due_response, due_resolve = NEXT_MONDAY + 11 * HOUR, NEXT_MONDAY + 2 * 24 * HOUR + 16 * HOUR
    on_time = ticket(1, created_at=FRIDAY_4PM, severity=3, responded=due_response - FRIDAY_4PM,
                     resolved=due_resolve - FRIDAY_4PM)
    late = ticket(2, created_at=FRIDAY_4PM, severity=3, responded=due_response - FRIDAY_4PM + timedelta(minutes=1),
                  resolved=due_resolve - FRIDAY_4PM + timedelta(minutes=1))
    assert run([on_time])["breached_candidate"] == 0
    result = run([late])
    assert result["response"]["candidate"] == result["resolve"]["candidate"] == 1
    assert result["changed"][0]["response_due"] == "2026-11-30T03:00:00+00:00"
    assert result["changed"][0]["resolve_due"] == "2026-12-02T08:00:00+00:00"


def test_open_ticket_is_judged_at_now_and_closed_one_at_closed_at() -> None:
    unanswered = ticket(responded=None)
    assert run([unanswered], now=MONDAY_10AM + HOUR)["breached_candidate"] == 0
    assert run([unanswered], now=MONDAY_10AM + 3 * HOUR)["response"]["candidate"] == 1
    closed = replace(unanswered, closed_at=MONDAY_10AM + HOUR)
    assert run([closed], now=MONDAY_10AM + 3 * HOUR)["breached_candidate"] == 0


def test_contract_override_wins_over_the_table() -> None:
    stricter = ticket(overrides={"2": {"resolve_within": "PT8H"}, "3": {"resolve_within": "PT1H"}},
                      resolved=10 * HOUR)
    laxer = ticket(2, overrides={"2": {"resolve_within": "PT48H", "sla_calendar": "24x7"}}, resolved=30 * HOUR)
    result = run([stricter, laxer])
    assert result["resolve"]["candidate"] == 1
    assert [(c["resolve_within"], c["resolve_candidate"]) for c in result["by_class"]] == [("PT48H", 0), ("PT8H", 1)]
    assert result["changed"][0]["number"] == "AC-2026-000001"


def test_by_class_counts_sorted_by_category_then_severity() -> None:
    tickets = [
        ticket(1, category="question", severity=None, onsite=None, resolved=HOUR),
        ticket(2, resolved=30 * HOUR, resolve_breached=True),
        ticket(3, resolved=20 * HOUR, resolve_breached=True),
        ticket(4, tier="premium", resolved=13 * HOUR),
        ticket(5, severity=3, responded=5 * HOUR, response_breached=True, resolved=2 * HOUR),
        ticket(6, category=None, severity=None),
    ]
    result = run(tickets)
    assert (result["tickets"], result["skipped"], result["unmatched"]) == (5, 1, 0)
    assert (result["breached_actual"], result["breached_candidate"]) == (3, 3)
    rows = [(c["category"], c["severity"], c["tier"], c["respond_within"], c["resolve_within"], c["tickets"],
             c["breached_actual"], c["breached_candidate"]) for c in result["by_class"]]
    assert rows == [("fault", 2, "premium", "PT1H", "PT12H", 1, 0, 1),
                    ("fault", 2, "standard", "PT2H", "PT24H", 2, 2, 1),
                    ("fault", 3, "standard", "PT4H", "P3D", 1, 1, 1),
                    ("question", 3, "standard", "PT4H", "P1D", 1, 0, 0)]
    fault_3 = result["by_class"][2]
    assert (fault_3["response_actual"], fault_3["response_candidate"], fault_3["resolve_candidate"]) == (1, 1, 0)
    assert [c["number"] for c in result["changed"]] == ["AC-2026-000003", "AC-2026-000004"]


def test_ticket_no_rule_matches_is_unmatched_and_not_breached() -> None:
    start = SHIPPED.index('<rule id="sla_rule_11">')
    text = SHIPPED[:start] + SHIPPED[SHIPPED.index("</rule>", start) + len("</rule>"):]
    tickets = [ticket(1, category="warranty", responded=None, resolve_breached=True), ticket(2, resolved=HOUR)]
    result = run(tickets, text)
    assert (result["tickets"], result["unmatched"], result["breached_candidate"]) == (2, 1, 0)
    unmatched = [c for c in result["by_class"] if c["respond_within"] is None]
    assert [(c["category"], c["tickets"], c["resolve_actual"]) for c in unmatched] == [("warranty", 1, 1)]


def test_a_cell_failing_at_run_time_is_located() -> None:
    text = edited('<inputEntry id="sla_rule_9_in_3"><text></text>',
                  '<inputEntry id="sla_rule_9_in_3"><text>contract_level</text>')
    with pytest.raises(InvalidProcess) as caught:
        run([ticket(1), ticket(2)], text)
    [problem] = caught.value.problems
    assert problem["element_id"] == "sla_rule_9"
    assert problem["message"].startswith("ticket AC-2026-000001:") and "contract_level" in problem["message"]


def test_changed_examples_are_capped_at_50() -> None:
    tickets = [ticket(n, resolved=30 * HOUR, resolve_breached=True) for n in range(1, 61)]
    result = run(tickets, with_output("sla_rule_9_out_2", "PT48H"))
    assert (result["tickets"], len(result["changed"])) == (60, 50)


def test_breach_flags_read_ticket_breaches() -> None:
    assert breach_flags([{"kind": "triage", "at": "x"}, {"kind": "resolve", "at": "y"}]) == (False, True)
    assert breach_flags([{"kind": "response"}, {"kind": "callback"}]) == (True, False)
    assert breach_flags([]) == (False, False)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="created_at"):
        ticket(created_at=datetime(2026, 11, 23, 10))


def test_an_output_failing_at_run_time_is_located_at_its_rule() -> None:
    text = edited('<outputEntry id="sla_rule_9_out_2"><text>&quot;PT24H&quot;</text>',
                  '<outputEntry id="sla_rule_9_out_2"><text>resolve_hours[tier]</text>')
    with pytest.raises(InvalidProcess) as caught:
        run([ticket(1)], text)
    [problem] = caught.value.problems
    assert problem["element_id"] == "sla_rule_9" and "resolve_hours" in problem["message"]
