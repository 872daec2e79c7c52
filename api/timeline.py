"""The ticket timeline as staff read it: a step's form fields under the form's titles, other events' details under
translated labels, and every value in the reader's language (choices by their titles, yes/no, numbers without a
trailing `.0` and with thousands separators, times left for the page to show in Beijing time, rows of items as a
small table); empty values are left out."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .i18n import current, gettext

# Keys the template shows in its own way, or that only matter to the machine.
SHOWN_ELSEWHERE = frozenset({"at", "kind", "actor", "title", "timer", "breach", "level", "reason", "data", "subject",
                             "to", "task", "role", "by", "template", "number", "channel", "roles", "ticket_id", "ref",
                             "process_id", "digest"})

# English msgids (translated in the .po catalogs) for the keys events carry beside a form's fields.
LABELS = {
    "origin": "Opened from", "due": "Due", "due_at": "Due", "response_due": "Response due",
    "resolve_due": "Resolution due", "calendar": "Calendar", "paused_hours": "Paused (hours)", "charge": "Charge",
    "round": "Round", "amount": "Amount", "currency": "Currency", "items": "Quoted items", "quantity": "Quantity",
    "unit_price": "Unit price", "valid_until": "Valid until", "note": "Note", "counter_offer": "Counter-offer",
    "outcome": "Outcome", "description": "Details", "engineer": "Engineer", "visit_date": "Visit date",
    "contract": "Contract", "risks": "Risks", "actions": "Actions needed", "signed_by": "Signed by",
    "filename": "File", "size": "Size", "comment": "Comment", "error": "Error message", "message": "Message",
    "procedure": "Procedure", "version": "Version", "from_version": "From version", "to_version": "To version",
    "answered": "Customer answered", "question": "Question for the customer",
}
# Values of those keys that are codes, by key: English msgids.
VALUES = {
    "charge": {"free": "Free of charge", "paid": "Paid"},
    "outcome": {"assessment_declined": "Declined after assessment", "declined": "Declined by the customer",
                "expired": "Quote expired", "accepted": "Accepted", "not_pursued": "Not pursued"},
    "calendar": {"working": "working", "24x7": "24x7"},
    "currency": {"CNY": "CNY"},
}
# Event keys holding what a form field holds under another name (their titles and item columns come from it).
ALIASES = {"items": "quote_items"}
# Keys whose values are a diagram's "中文 English" text (a procedure's name): the reader's half is shown.
BILINGUAL_VALUES = frozenset({"procedure"})
# Kinds whose reason is written by a diagram or decision table in both languages ("中文 English").
BILINGUAL_REASONS = frozenset({"entitlement", "quote_requested", "quote_prepared", "change_not_pursued",
                               "paid_service_not_pursued", "archived"})
# Reasons diagrams write in English for the machine (msgids); any other reason is someone's own words, kept as is.
MACHINE_REASONS = frozenset({
    "awaiting customer acceptance", "waiting for the customer", "triage overdue", "recurred", "resolve time 80 %",
    "resolve time exceeded",
    "resolve time 150 %", "complaint not answered within one working day",
    "inspection not planned within 5 working days", "inspection checklist overdue"})
ESCALATION_LEVELS = {"manual": "Escalated by hand", "triage": "Supervisor told"}

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")
# "中文 English": the halves apart by white space, or by nothing after a full-width sentence end
# ("此链接已使用过。This link has already been used.")
_BILINGUAL = re.compile(r"^(?P<zh>[^A-Za-z]*[\u3400-\u9fff][^A-Za-z]*?)(?:\s+|(?<=[。！？」』）】]))"
                        r"(?P<en>[A-Z][^\u3400-\u9fff]*)$")


@dataclass(frozen=True)
class Field:
    """One labelled detail of an entry: text, a UTC time the page shows in Beijing time, or a small table."""

    label: str
    text: str = ""
    time: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def entries(ticket: dict[str, Any], forms: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The ticket's timeline, each entry with its reason and escalation level in words and its details as fields;
    `forms` are the schemas of the ticket's steps by task id (from the facade's `task_forms`)."""
    known = _known_fields(forms)
    return [{**e, "reason": _reason(e), "level_text": _level(e), "fields": _fields(e, forms, known)}
            for e in ticket.get("timeline", [])]


def _fields(event: dict[str, Any], forms: dict[str, dict[str, Any]], known: dict[str, Any]) -> list[Field]:
    if event["kind"] == "task_completed":
        return _form_fields(event.get("data") or {}, forms.get(event.get("task") or "", {}))
    order = {k: i for i, k in enumerate(LABELS)}  # the labelled keys in a reading order, then the rest by name
    keys = sorted((k for k in event if k not in SHOWN_ELSEWHERE), key=lambda k: (order.get(k, len(order)), k))
    extra = {k: event[k] for k in keys}
    if isinstance(extra.get("amount"), int | float) and extra.get("currency"):
        extra["amount"] = f"{_number(extra['amount'])} {_value_text(extra.pop('currency'), {}, 'currency')}"
    fields = []
    for key, value in extra.items():
        prop = known.get(ALIASES.get(key, key), {})
        label = gettext(LABELS[key]) if key in LABELS else _title(prop, key)
        fields.append(_field(label, value, prop, key))
    return [f for f in fields if f is not None]


def _form_fields(data: dict[str, Any], schema: dict[str, Any]) -> list[Field]:
    """A completed form's fields in the form's order (fields it no longer has last), under their titles."""
    props = schema.get("properties", {})
    hidden = _conditions_not_met(schema, data)
    keys = [k for k in props if k in data] + [k for k in data if k not in props]
    fields = [_field(_title(props.get(k, {}), k), data[k], props.get(k, {}), k) for k in keys if k not in hidden]
    return [f for f in fields if f is not None]


def _field(label: str, value: Any, prop: dict[str, Any], key: str) -> Field | None:
    if _empty(value):
        return None
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        columns, rows = _table(value, prop.get("items", {}).get("properties", {}))
        return Field(label, columns=columns, rows=rows) if rows else None
    if isinstance(value, str) and _ISO_TIME.match(value):
        return Field(label, time=value)
    return Field(label, text=_value_text(value, prop, key))


def _table(items: list[dict[str, Any]], props: dict[str, Any]) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Rows of objects as columns (the item schema's order, then any others) and rows of formatted cells."""
    present = {k for item in items for k, v in item.items() if not _empty(v)}
    keys = [k for k in props if k in present] + sorted(present - set(props))
    columns = tuple(gettext(LABELS[k]) if k not in props and k in LABELS else _title(props.get(k, {}), k)
                    for k in keys)
    rows = tuple(tuple("" if _empty(item.get(k)) else _value_text(item[k], props.get(k, {}), k) for k in keys)
                 for item in items if any(not _empty(v) for v in item.values()))
    return columns, rows


def _value_text(value: Any, prop: dict[str, Any], key: str) -> str:
    """One value as a reader wants it: a choice by its title, yes/no, a plain number, a list joined."""
    if isinstance(value, bool):
        words = prop.get("x-true") if value else prop.get("x-false")
        return in_language(str(words)) if words else gettext("Yes" if value else "No")
    for option in prop.get("oneOf", []):
        if option.get("const") == value and not isinstance(option.get("const"), bool):
            return _title(option, str(value))
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, list):
        return ", ".join(_value_text(v, prop.get("items", {}), key) for v in value if not _empty(v))
    if isinstance(value, dict):
        return "; ".join(f"{_humanize(k)}: {_value_text(v, {}, k)}" for k, v in value.items() if not _empty(v))
    text = str(value)
    if key == "size" and text.isdigit():
        return _size(int(text))
    if key in BILINGUAL_VALUES:
        return in_language(text)
    codes = VALUES.get(key, {})
    return gettext(codes[text]) if text in codes else text


def _number(value: float) -> str:
    """1234.0 → 1,234; 6.5 → 6.5; at most two decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    return f"{_number(round(size / 1024, 1))} KB" if size < 1024 * 1024 else f"{_number(round(size / 1048576, 1))} MB"


def _reason(event: dict[str, Any]) -> str:
    """The reason in the reader's language: a diagram's bilingual text halved, a machine reason translated."""
    reason = event.get("reason")
    if _empty(reason):
        return ""
    text = str(reason)
    if event["kind"] in BILINGUAL_REASONS:
        return in_language(text)
    return gettext(text) if text in MACHINE_REASONS else text


def _level(event: dict[str, Any]) -> str:
    """An escalation's level and the roles told, in words."""
    level = event.get("level")
    if _empty(level):
        return ""
    if isinstance(level, int):
        words = f"{gettext('Level')} {level}"
    else:
        words = gettext(ESCALATION_LEVELS.get(str(level), str(level)))
    roles = [gettext(r) for r in event.get("roles") or []]
    return f"{words} → {', '.join(roles)}" if roles else words


def _known_fields(forms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every field of the ticket's forms by name (first form wins), for events that repeat a form's field."""
    known: dict[str, Any] = {}
    for schema in forms.values():
        for name, prop in schema.get("properties", {}).items():
            known.setdefault(name, prop)
    return known


def _conditions_not_met(schema: dict[str, Any], data: dict[str, Any]) -> set[str]:
    """Fields the schema asks for only under a condition (`if`/`then`) the data does not meet: a severity set
    on a change request means nothing."""
    condition = schema.get("if", {}).get("properties", {})
    met = all(data.get(k) == p["const"] for k, p in condition.items() if isinstance(p, dict) and "const" in p)
    return set() if met else set(schema.get("then", {}).get("required", [])) - set(schema.get("required", []))


def _title(prop: dict[str, Any], key: str) -> str:
    """A schema title (or a choice's) in the reader's language, else the key made readable. The timeline is read by
    staff: a field may name itself for them (`x-staff-title`, `x-staff-title-en`) where its form speaks to the one who
    fills it in ("Your decision" on the customer's page is "Customer's decision" here)."""
    zh = prop.get("x-staff-title") or prop.get("title")
    en = prop.get("x-staff-title-en") or prop.get("x-title-en")
    title = (en or zh) if current() == "en" else (zh or en)
    return str(title) if title else _humanize(key)


def _humanize(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()


def in_language(text: str) -> str:
    """The reader's half of a "中文 English" text; any other text whole."""
    return language_half(text, current())


def language_half(text: str, language: str) -> str:
    """The `language` half ("en", else Chinese) of a "中文 English" text; any other text whole."""
    match = _BILINGUAL.match(text.strip())
    if not match:
        return text
    return match["en"] if language == "en" else match["zh"]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


# --- the conversation and the procedure in one stream (the ticket page) ---------------------------------------

# Timeline events that stand for a message: the stream shows the message itself instead.
MESSAGE_EVENTS = frozenset({"message_posted", "note_added", "message_received"})
STREAMS = ("all", "messages", "notes", "procedure")


def stream(timeline_entries: list[dict[str, Any]], messages: list[dict[str, Any]],
           show: str = "all") -> list[dict[str, Any]]:
    """The conversation and the procedure's timeline as one list, oldest first; each item says which filter it
    belongs to (`stream`: messages, notes or procedure) and `hidden` when the chosen filter `show` leaves it out."""
    show = show if show in STREAMS else "all"
    items = [{**m, "kind": "message", "stream": "notes" if m.get("internal") else "messages", "message": m}
             for m in messages]
    items += [{**e, "stream": "procedure"} for e in timeline_entries if e.get("kind") not in MESSAGE_EVENTS]
    items.sort(key=lambda item: (str(item.get("at") or ""), 0 if item["kind"] == "message" else 1))
    for item in items:
        item["hidden"] = show != "all" and item["stream"] != show
    return items


# Entries a recurring timer leaves again and again (a progress notice every 4 hours, its e-mail): in a long run they are
# folded into one line that opens, so a case that waited days still reads as its steps. Only what repeats at least
# ROUTINE_REPEATS times on the ticket is routine: a deadline's one timer, a one-off e-mail stay in view.
ROUTINE_KINDS = frozenset({"timer_fired", "progress_update", "email_sent"})
ROUTINE_REPEATS, FOLD_FROM, LEFT_OPEN = 3, 6, 2  # folded: at least four, the latest two left open


def fold(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`stream`'s items with each run of FOLD_FROM or more routine entries in a row folded into one item of kind
    "folded" (`items`: the folded ones; `labels`: what they were, with counts; `first`, `last`: when), its latest
    LEFT_OPEN left in view after it."""
    counts = Counter(_routine_key(item) for item in items)
    routine = {key for key, n in counts.items() if key is not None and n >= ROUTINE_REPEATS}
    out: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []

    def close_run() -> None:
        if len(run) >= FOLD_FROM:
            folded = run[:-LEFT_OPEN]
            labels = Counter(_routine_key(item) for item in folded)
            out.append({"kind": "folded", "stream": "procedure", "hidden": folded[0]["hidden"], "items": folded,
                        "first": folded[0].get("at"), "last": folded[-1].get("at"),
                        "labels": [{"kind": key[0], "label": key[1], "count": n}
                                   for key, n in labels.items() if key is not None]})
            out.extend(run[-LEFT_OPEN:])
        else:
            out.extend(run)
        run.clear()

    for item in items:
        if _routine_key(item) in routine:
            run.append(item)
        else:
            close_run()
            out.append(item)
    close_run()
    return out


def _routine_key(item: dict[str, Any]) -> tuple[str, str] | None:
    """What makes two entries the same routine entry: their kind and the timer, title or subject they name."""
    if item.get("stream") != "procedure" or item.get("kind") not in ROUTINE_KINDS:
        return None
    return str(item["kind"]), str(item.get("timer") or item.get("title") or item.get("subject") or "")
