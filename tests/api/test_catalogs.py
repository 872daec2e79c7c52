"""Every timeline entry a diagram or the engine writes has a name in both languages of the staff pages."""
from __future__ import annotations

import pathlib
import re

import pytest
from babel.messages.pofile import read_po

from api import i18n

ROOT = pathlib.Path(__file__).resolve().parents[2]


def timeline_kinds() -> set[str]:
    """The kinds of events the diagrams log and the engine records."""
    kinds: set[str] = set()
    for path in (ROOT / "processes").glob("*.bpmn"):
        kinds |= set(re.findall(r"log_event\('([a-z_]+)'", path.read_text()))
    for path in (ROOT / "engine").glob("*.py"):
        kinds |= set(re.findall(r"\bevent\(session, [^\n]*?\"([a-z_]+)\"", path.read_text()))
    return kinds


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_timeline_kind_is_translated(language: str) -> None:
    kinds = timeline_kinds()
    assert {"ticket_created", "quote_counter_offer", "inspection_signed", "complaint_answered"} <= kinds
    catalog = i18n._load(language)
    untranslated = sorted(k for k in kinds if not catalog.get(k) or catalog[k] == k)
    assert untranslated == []


@pytest.mark.parametrize("folder", sorted(p.name for p in i18n.CATALOGS.iterdir() if p.is_dir()))
def test_no_msgid_has_two_translations_in_one_language(folder: str) -> None:
    """The catalogs of a language are merged into one table (api/i18n.py), so a msgid two .po files translate
    differently silently takes the later one everywhere: the ticket category "question" became the waiting
    step's "问题"."""
    seen: dict[str, dict[str, str]] = {}
    for path in sorted((i18n.CATALOGS / folder / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle):
                if message.id and message.string:
                    seen.setdefault(str(message.id), {})[path.name] = str(message.string)
    clashes = {msgid: where for msgid, where in seen.items() if len(set(where.values())) > 1}
    assert clashes == {}


def test_the_question_category_keeps_its_name_beside_the_waiting_steps_question() -> None:
    assert (i18n.translate("question", "zh-CN"), i18n.translate("question", "en")) == ("操作疑问", "Usage question")
    assert i18n.translate("Question for the customer", "zh-CN") == "给客户的问题"
