"""The forms part of the semantic diff (engine/diff.py): per JSON-Schema form, fields added, removed and changed (with
the keys that changed, old -> new), required fields added and removed, and the form's own keys that changed."""
from __future__ import annotations

import json
from typing import Any


class Unreadable(Exception):
    """One version of a file that cannot be read."""


def form_file(name: str, old: str | None, new: str | None) -> list[dict[str, Any]]:
    """The field diff of one JSON-Schema form."""
    before, after = _form(old, "old"), _form(new, "new")
    fields_before, fields_after = _fields(before), _fields(after)
    required_before, required_after = _required(before), _required(after)
    entry: dict[str, Any] = {
        "file": name, "added": sorted(set(fields_after) - set(fields_before)),
        "removed": sorted(set(fields_before) - set(fields_after)),
        "changed": [{"field": key, "before": fields_before[key], "after": fields_after[key],
                     "what": _what_changed(fields_before[key], fields_after[key])}
                    for key in sorted(set(fields_before) & set(fields_after))
                    if not _same(fields_before[key], fields_after[key])],
        "required_added": sorted(required_after - required_before),
        "required_removed": sorted(required_before - required_after)}
    other = sorted(key for key in set(before) | set(after)
                   if key not in ("properties", "required") and not _same(before.get(key), after.get(key)))
    if other:
        entry["other_changed"] = other
        entry["other"] = [{"key": key, "before": _shown(before.get(key)), "after": _shown(after.get(key))}
                          for key in other]
    return [entry]


def _what_changed(before: Any, after: Any) -> list[dict[str, str]]:
    """The keys of a field's schema that differ, each with its old and new value shortened (a whole field that is
    no object: one entry keyed "")."""
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return [{"key": "", "before": _shown(before), "after": _shown(after)}]
    return [{"key": key, "before": _shown(before.get(key)), "after": _shown(after.get(key))}
            for key in sorted(set(before) | set(after)) if not _same(before.get(key), after.get(key))]


def _shown(value: Any, limit: int = 120) -> str:
    """A schema value as the compare page shows it: a text as it is, anything else as JSON; "—" when absent."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _form(text: str | None, side: str) -> dict[str, Any]:
    """One version of a form as a JSON object ({} when the file is absent)."""
    if text is None:
        return {}
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise Unreadable(f"{side} version is not valid JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise Unreadable(f"{side} version is not a JSON object")
    return schema


def _same(a: Any, b: Any) -> bool:
    """JSON equality (unlike ==, 1 and true differ)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _fields(schema: dict[str, Any]) -> dict[str, Any]:
    """Field name -> schema; fields of an array of objects are named "array.field"."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    fields: dict[str, Any] = {}
    for key, spec in properties.items():
        inner = _item_properties(spec)
        if inner is None:
            fields[key] = spec
            continue
        items = {k: v for k, v in spec["items"].items() if k not in ("properties", "required")}
        fields[key] = {**spec, "items": items}
        fields.update({f"{key}.{sub}": sub_spec for sub, sub_spec in inner.items()})
    return fields


def _item_properties(spec: Any) -> dict[str, Any] | None:
    """The item properties of an array-of-objects field, None for other fields."""
    items = spec.get("items") if isinstance(spec, dict) else None
    properties = items.get("properties") if isinstance(items, dict) else None
    return properties if isinstance(properties, dict) else None


def _required(schema: dict[str, Any]) -> set[str]:
    """Required field names, including "array.field" for required item fields."""
    names = set(_names(schema.get("required")))
    properties = schema.get("properties")
    for key, spec in (properties.items() if isinstance(properties, dict) else []):
        if _item_properties(spec) is not None:
            names.update(f"{key}.{sub}" for sub in _names(spec["items"].get("required")))
    return names


def _names(value: Any) -> list[str]:
    """The strings of a JSON "required" list."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
