"""Ways out of the script budget that were closed: modular `pow` with huge operands, hash-colliding `set`/`dict`
builds, joins and translations that grow past the size limit before any check, instruction-template filters that
multiply text, and case data that is cheap to build but huge to store (each test fails without its guard)."""
from __future__ import annotations

from typing import Any

import pytest

from api.templating import instructions
from engine import script_limits
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import InvalidProcess
from engine.script_limits import ScriptBudgetExceeded
from engine.scripting import RestrictedEnvironment, ScriptRejected, compile_checked
from engine.users import Actor
from tests.fixtures.incidents.diagrams import limited, start
from tests.support import Desk

pytestmark = pytest.mark.script_budget(0.1)  # a looping script costs a fraction of a second

OWNER = Actor("process_owner", "process_owner")
COLLIDING = "l = [(i * 999 + j) * 2305843009213693951 for i in range(40) for j in range(999)]\n"


def run(script: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    data = {} if data is None else data
    RestrictedEnvironment({}).execute(script, data)
    return data


def test_modular_pow_with_huge_operands_is_refused_at_run_and_compile_time() -> None:
    with pytest.raises(ScriptBudgetExceeded, match="'pow' with a 20,000-bit exponent or modulus"):
        run("m = 2**20000 - 1\nx = pow(3, m, m)")
    with pytest.raises(ScriptBudgetExceeded, match="'pow' with a 20,000-bit"):
        run("m = 2**20000 - 1\nx = pow(3, 5, m)")  # a huge modulus alone
    with pytest.raises(ScriptRejected, match="line 2: a constant expression goes over the script budget .*'pow'"):
        compile_checked("y = 1\nx = pow(3, 2**20000 - 1, 2**20000 - 1)", "exec")
    assert run("x = pow(3, 2**4000 + 1, 2**4000 - 3)\ny = pow(7, -1, 11)")["y"] == 8  # within the budget


@pytest.mark.parametrize("build", ["set(l)", "frozenset(l)", "dict((k, 1) for k in l)", "dict([(k, k) for k in l])",
                                   "dict.fromkeys(l)"])
def test_hash_colliding_collections_stop_at_the_cpu_deadline(build: str) -> None:
    with pytest.raises(ScriptBudgetExceeded, match="CPU time over 0.1 s"):
        run(f"{COLLIDING}s = {build}")


def test_a_plain_expression_building_a_set_gets_a_deadline() -> None:
    keys = [(i * 999 + j) * 2305843009213693951 for i in range(40) for j in range(999)]
    with pytest.raises(ScriptBudgetExceeded, match="CPU time"):
        RestrictedEnvironment({}).evaluate("len(set(keys)) > 0", {"keys": keys})


def test_set_frozenset_and_dict_still_behave_like_the_builtins() -> None:
    data = run("a = set([1, 2, 2])\nb = dict(a=1)\nc = dict([(1, 2)], z=3)\nd = frozenset('ab')\ne = dict(b)\n"
               "f = isinstance(a, set) and isinstance(b, dict) and isinstance(d, frozenset)\n"
               "f = f and not isinstance(b, set)\n"
               "g = set()\nh = dict()\ni = dict.fromkeys('ab', 0)\nj = set.union({1}, {2})\n")
    assert data == {"a": {1, 2}, "b": {"a": 1}, "c": {1: 2, "z": 3}, "d": frozenset("ab"), "e": {"a": 1},
                    "f": True, "g": set(), "h": {}, "i": {"a": 0, "b": 0}, "j": {1, 2}}


def test_join_checks_its_size_while_it_consumes_the_items() -> None:
    # the generator would fail on its third item: the size limit must stop the join before it gets there
    script = "def parts():\n    yield 'x' * 6000000\n    yield 'x' * 6000000\n    yield 1 / 0\nx = ','.join(parts())"
    with pytest.raises(ScriptBudgetExceeded, match="joined str of about"):
        run(script)
    assert run("x = '-'.join(c for c in 'abc')")["x"] == "a-b-c"


def test_translate_is_refused_when_its_table_would_grow_the_text_too_much() -> None:
    with pytest.raises(ScriptBudgetExceeded, match="str of about 9,000,000,000 bytes"):
        run("x = ('x' * 1000).translate({120: 'y' * 9000000})")
    with pytest.raises(ScriptBudgetExceeded, match="str of about"):
        run("x = ('x' * 1000).translate([None] * 120 + ['y' * 9000000])")
    data = run("x = ('a&b' * 1000000).translate({38: '&amp;'})\ny = 'abc'.translate({97: 'xy', 98: None})")
    assert len(data["x"]) == 7000000 and data["y"] == "xyc"  # a rare expanding character passes the count


@pytest.mark.parametrize(("script", "words"), [
    ("x = str.ljust('a', 10**9)", "str of about 1,000,000,000"),
    ("x = str.join(',', ('x' * 9999999 for _ in range(999)))", "joined str of about"),
    ("x = str.replace('x' * 1000, 'x', 'y' * 9000000)", "str of about 9,000,000,000"),
    ("x = str.translate('x' * 1000, {120: 'y' * 9000000})", "str of about 9,000,000,000"),
    ("s = 'y' * 9999999\nx = '%s' % ([s] * 300,)", "'%' format's values"),
    ("s = 'y' * 9999999\nx = '%s|%s' % (s, [s] * 300)", "'%' format's values"),
])
def test_methods_taken_from_the_type_and_formats_of_containers_are_checked(script: str, words: str) -> None:
    with pytest.raises(ScriptBudgetExceeded, match=words):
        run(script)
    assert run("x = str.join('-', ['a', 'b']) + str.upper('q') + '%s/%d' % ('a', 3) + '%s' % [1]")["x"] == "a-bQa/3[1]"


@pytest.mark.parametrize("template", [
    "{% set a = ['y'*9999999]*300 %}{{ a|join|length }}",
    "{% set a = ['y'*9999999]*300 %}{{ a|join(',')|length }}",
    "{% set a = ['y'*9999999]*300 %}{{ a }}",
    "{% set a = ['y'*9999999]*300 %}{{ a|string|length }}",
    "{% set a = ['y'*9999999]*300 %}{{ a|pprint|length }}",
    "{% set a = ['y'*9999999]*300 %}{{ (a ~ '')|length }}",
    "{% set a = 'x'*1000 %}{{ a|replace('x', 'y'*9000000)|length }}",
    "{% set a = 'x '*100000 %}{{ a|wordwrap(1, wrapstring='y'*10000)|length }}",
    "{{ ([[0]*5000]*999)|sum(start=[])|length }}",
    "{{ ('y'*9999999)|list|length }}",
    "{{ [1]|batch(10**9, 'x')|list|length }}",
    "{% set a = '中' * 1000000 %}{{ (a|urlencode)|length }}",
    "{% set a = ['\\n' * 3000000] %}{{ a|string|length }}",
])
def test_instruction_filters_that_multiply_text_are_refused(template: str) -> None:
    html = instructions(template, {"number": "T-1"})
    assert 'class="notice bad"' in html and "(the limit is 10,000,000)" in html


def test_instruction_filters_still_work_on_ordinary_values() -> None:
    html = instructions("{{ a|join(', ') }} {{ b|replace('a', 'o') }} {{ c|sum }} {{ a|list|length }} "
                        "{{ 'x y'|wordwrap(2, wrapstring='/') }} {{ a|batch(2)|list|length }} {{ c|string }} "
                        "{{ 'a b'|urlencode }}",
                        {"number": "T-1"}, {"a": ["p", "q", "r"], "b": "banana", "c": [1, 2, 3]})
    assert str(html) == "<p>p, q, r bonono 6 3 x/y 2 [1, 2, 3] a%20b</p>"


def test_case_data_that_would_be_huge_to_store_is_refused() -> None:
    with pytest.raises(ScriptBudgetExceeded, match="the case data of about"):
        run("s = 'a' * 9999999\nx = [s] * 40")
    with pytest.raises(ScriptBudgetExceeded, match="the case data"):
        run("items.append([s] * 40)", {"items": [], "s": "b" * 9_000_000})  # grown in place, not assigned
    with pytest.raises(ScriptBudgetExceeded, match="the case data"):
        run("x = []\nfor i in range(40): x = [x, x]")  # shared twice at every level: 2**40 references
    assert run("s = 'a' * 9999999\nx = len([s] * 40)\ns = ''")["x"] == 40  # the list is not kept


def test_a_script_leaving_huge_case_data_parks_its_case(facade: Aftercare, clock: FakeClock) -> None:
    script_limits.configure(cpu_seconds=0.2)
    facade.deploy(files=limited(script="s = 'a' * 9999999\nx = [s] * 40"), actor=OWNER)
    desk = Desk(facade, clock)
    bad = start(facade)
    good = desk.create(title="normal ticket")

    clock.advance(hours=2)
    assert facade.fire_due_timers() == 1  # the good case's timer; the bad case is parked
    [incident] = facade.list_incidents(actor=OWNER)
    assert (incident["ticket_id"], incident["element_id"]) == (bad, "calc")
    assert "the case data of about" in incident["error"]
    assert desk.events(good, "sla_breach")


def test_deploy_still_refuses_a_constant_modular_pow(facade: Aftercare) -> None:
    with pytest.raises(InvalidProcess) as refused:
        facade.deploy(files=limited(script="x = pow(3, 2**20000 - 1, 2**20000 - 1)"), actor=OWNER)
    [problem] = refused.value.problems
    assert problem["element_id"] == "calc" and "'pow'" in problem["message"]


def test_a_dict_key_json_cannot_write_is_refused_where_the_script_leaves_it() -> None:
    with pytest.raises(ScriptBudgetExceeded, match=r"dict key of type tuple \(\(1, 2\)\).*stored as JSON"):
        run("d = {'ok': [{(1, 2): 'x'}]}")
    assert run("d = {7: 'a', 2.5: 'b', True: 'c', None: 'd', 'e': {(1, 2): 'x'}}\nd.pop('e')")["d"][7] == "a"
    assert run("seen = len({(1, 2): 'x'})")["seen"] == 1  # a local the case does not keep


def test_a_script_leaving_a_tuple_key_fails_at_its_element_not_at_the_save(facade: Aftercare) -> None:
    """It was a server error when the case was saved (json refused the key); now it is the diagram's failure at
    the script, told to the overseers with the reason, as any other."""
    from engine.incidents import StartFailed

    facade.deploy(files=limited(script="d = {(1, 2): 'x'}", first="script"), actor=OWNER)
    with pytest.raises(StartFailed):
        start(facade)  # the script runs before the first wait: nothing is created
    [notice] = [i for i in facade.list_incidents(actor=OWNER) if i["kind"] == "start_failed"]
    assert notice["element_id"] == "calc" and "dict key of type tuple" in notice["error"]
