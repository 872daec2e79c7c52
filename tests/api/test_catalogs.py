"""Every timeline entry a diagram or the engine writes has a name in both languages of the staff pages."""
from __future__ import annotations

import pathlib
import re

import pytest

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
