"""A case's stored state is written and read with ujson (engine/state_json.py): the data read back is the data the
standard library would have read back, what ujson refuses goes through the standard library, and a case stored
this way carries on from the stored state alone."""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine import state_json
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.models import Instance, Ticket
from engine.runtime import Runtime
from tests.support import Desk

DEFAULT = Runtime()._encoder.default


def through_stdlib(value: Any) -> Any:
    return json.loads(json.dumps(value, default=DEFAULT))


@pytest.mark.parametrize("value", [
    {"title": "系统无法登录", "path": "a/b", "quote": 'say "hi"\n', "nul": "a\x00b", "bell": "\x07", "emoji": "🙂"},
    {"ints": [0, -1, 2**63 - 1, -(2**63)], "floats": [0.1, 1e-7, 1e300, -2.5], "bools": [True, False, None]},
    {"nested": [[{"a": [1, {"b": ()}]}]], "empty": {}, "tuple": (1, "x"), "set": {3}},
    {7: "int key", 2.5: "float key", True: "bool key", None: "none key"},
    {"when": datetime(2026, 12, 7, 9, 30, tzinfo=UTC), "span": timedelta(hours=4)},
])
def test_what_is_read_back_is_what_the_standard_library_reads_back(value: Any) -> None:
    written = state_json.dumps(value, DEFAULT)
    assert state_json.loads(written) == through_stdlib(value) == json.loads(written)


def test_nan_and_infinity_survive_as_the_standard_library_keeps_them() -> None:
    back = state_json.loads(state_json.dumps({"x": [math.nan, math.inf, -math.inf]}, DEFAULT))["x"]
    assert math.isnan(back[0]) and back[1:] == [math.inf, -math.inf]


def test_integers_beyond_64_bits_round_trip() -> None:
    value = {"huge": 2**70, "negative": -(2**64)}
    assert state_json.loads(state_json.dumps(value, DEFAULT)) == value


def test_a_lone_surrogate_is_written_escaped_as_the_standard_library_writes_it() -> None:
    value = {"surrogate": "a\ud800b"}
    written = state_json.dumps(value, DEFAULT)
    assert written == json.dumps(value, default=DEFAULT) and written.isascii()
    assert state_json.loads(written) == value


def test_what_neither_can_write_fails_as_it_did() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        state_json.dumps(loop, DEFAULT)
    with pytest.raises(TypeError, match="frozenset"):
        state_json.dumps({"x": frozenset([1])}, DEFAULT)
    with pytest.raises(ValueError):
        state_json.loads('{"unterminated": ')


def test_a_chinese_case_is_stored_as_text_and_carries_on_from_it(facade: Aftercare, clock: FakeClock) -> None:
    desk = Desk(facade, clock)
    tid = desk.create(title="打印机卡纸", description="三楼打印机每页都卡纸")
    state = facade.run_in_unit(lambda s: s.get(Instance, s.get(Ticket, tid).instance_id).state)
    assert "三楼打印机每页都卡纸" in state  # UTF-8, not \u escapes: a third of the size
    facade.kernel._cases = type(facade.kernel._cases)()  # nothing in memory: the next step loads the stored state
    desk.triage(tid, category="question")
    assert desk.names(tid) == ["answer_question"]
    assert desk.ticket(tid)["title"] == "打印机卡纸"
