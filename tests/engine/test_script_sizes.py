"""Size estimates made before a text is built: the text of a value (shared strings counted at every reference,
escapes counted for repr) and the urlencoded form of a value (each byte up to three characters)."""
from __future__ import annotations

import pytest

from engine.script_limits import ScriptBudgetExceeded, check_text, check_urlencoded


def test_urlencoded_text_is_estimated_with_its_quote_expansion() -> None:
    with pytest.raises(ScriptBudgetExceeded, match="urlencoded text of about"):
        check_urlencoded("中" * 1_000_000)  # 3 UTF-8 bytes, each %XX: 9 million characters... and more
    with pytest.raises(ScriptBudgetExceeded, match="urlencoded text of about"):
        check_urlencoded({"k": ["&" * 1_000_000] * 4})  # doseq-like lists: every item quoted
    with pytest.raises(ScriptBudgetExceeded, match="urlencoded text"):
        check_urlencoded([("a", "&" * 3_500_000)])
    assert check_urlencoded({"q": "a b", "n": 3}) == {"q": "a b", "n": 3}


def test_text_estimates_count_shared_strings_and_escapes() -> None:
    with pytest.raises(ScriptBudgetExceeded, match="text of about"):
        check_text(["x" * 1_000_000] * 11)
    with pytest.raises(ScriptBudgetExceeded, match="text of about"):
        check_text("\x00" * 3_000_000, quoted=True)
    assert check_text("x" * 20_000_000) == "x" * 20_000_000  # a str's own text exists already
    assert check_text(["x" * 1_000_000] * 9) is not None
