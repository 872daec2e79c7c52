"""The error of a case parked as an incident, as pages show it: what went wrong in the reader's language (the script
budget's limits named as such), then the engine's own text, labelled, as it was recorded (it stays English: it is
what a process owner searches for and quotes)."""
from __future__ import annotations

import re

from markupsafe import Markup, escape

from . import i18n

_ = i18n.gettext
_BUDGET = re.compile(r".*over budget: ?(?P<what>.+?)[.\s]*$", re.S)  # the last one: ScriptBudgetExceeded's text
_CPU = re.compile(r"CPU time over (?P<seconds>\d+(?:\.\d+)?) s")
_STATE = re.compile(r"the case data of about (?P<size>[\d,]+)\+? bytes \(the limit is (?P<limit>[\d,]+)\)")


def summary(error: str) -> str:
    """What went wrong, in the reader's language: a limit of the script budget by name, else a diagram error."""
    budget = _BUDGET.match(error)
    if budget is None:
        return _("The diagram's code failed.")
    what = budget["what"]
    if cpu := _CPU.fullmatch(what):
        return _("Over budget: the code ran longer than its CPU time of %(seconds)s s.") % {"seconds": cpu["seconds"]}
    if state := _STATE.fullmatch(what):
        return _("Over budget: the case data would be about %(size)s bytes; the limit is %(limit)s.") % {
            "size": state["size"], "limit": state["limit"]}
    return _("Over budget: the code needed more than the script budget allows.")


def incident_error(error: str | None, length: int = 2000) -> Markup:
    """The summary, then the recorded error text (cut to `length` characters) under its label, as HTML."""
    if not error:
        return Markup("")
    raw = error if len(error) <= length else error[:length - 1] + "…"
    return Markup('<span class="incident-error">{} <span class="muted">{}</span> <code>{}</code></span>').format(
        summary(error), _("Error text as recorded:"), escape(raw))
