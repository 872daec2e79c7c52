"""Task forms: JSON Schemas deployed with the diagrams; data is checked against them before a task runs."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from .errors import ValidationFailed
from .users import may_work_on

_TRUE = {"true", "on", "1", "yes"}
_FALSE = {"false", "off", "0", "no"}


def parse(text: str) -> dict[str, Any]:
    """A stored form schema."""
    schema: dict[str, Any] = json.loads(text)
    return schema


def coerce(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Turn form-encoded strings into the types the schema asks for; unknown fields pass to validation.
    Rows of an array of objects arrive as `name-<row>-<field>` (items-0-amount) and become a list of objects."""
    props = schema.get("properties", {})
    out: dict[str, Any] = {}
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in data.items():
        name, _, rest = key.partition("-")
        row, _, field = rest.partition("-")
        item_props = props.get(name, {}).get("items", {}).get("properties", {})
        if props.get(name, {}).get("type") == "array" and row.isdigit() and field in item_props:
            kind = item_props[field].get("type")
            rows.setdefault(name, {}).setdefault(int(row), {})[field] = \
                _coerce_value(kind, value) if isinstance(value, str) else value
            continue
        kind = props.get(key, {}).get("type")
        out[key] = _coerce_value(kind, value) if isinstance(value, str) else value
    for name, by_row in rows.items():
        out[name] = [by_row[i] for i in sorted(by_row) if any(v not in ("", None) for v in by_row[i].values())]
    return out


def with_previous_answer(schema: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """The schema with the fields it marks `"x-prefill": true` defaulting to the step's previous answer
    (a new quote round starts from the last round's items); the cached schema itself is left alone."""
    props = schema.get("properties", {})
    kept = {k: v for k, v in previous.items() if props.get(k, {}).get("x-prefill") and v not in (None, "", [])}
    if not kept:
        return schema
    return {**schema, "properties": {**props, **{k: {**props[k], "default": v} for k, v in kept.items()}}}


def _coerce_value(kind: Any, value: str) -> Any:
    text = value.strip()
    if kind == "boolean" and text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return value
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return value
    return value


def staff_fields(schema: dict[str, Any]) -> dict[str, str]:
    """Fields naming a staff user (`"x-user-role": "engineer"`), with the lane the user must be able to work in."""
    return {name: str(prop["x-user-role"]) for name, prop in schema.get("properties", {}).items()
            if prop.get("x-user-role")}


def with_staff_options(schema: dict[str, Any], staff: Mapping[str, str]) -> dict[str, Any]:
    """The schema with each staff field listing the users who may take its lane's tasks (`x-options`), so a form
    offers a choice instead of a free-typed username; the cached schema itself is left alone."""
    fields = staff_fields(schema)
    if not fields:
        return schema
    props = schema["properties"]
    return {**schema, "properties": {**props, **{
        name: {**props[name], "x-options": sorted(u for u, role in staff.items() if may_work_on(role, lane))}
        for name, lane in fields.items()}}}


def validate(schema: dict[str, Any], data: dict[str, Any], staff: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`data` if it matches the schema and its rules, else ValidationFailed with one entry per field.

    Rules beyond JSON Schema: `"x-not-before": "<field>"` (a date no earlier than another field's date) and
    `"x-user-role": "<lane>"` (an active user, of `staff` {username: role}, who may work in that lane).
    """
    validator = Draft202012Validator(schema)
    errors = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
        errors.append({"field": _field(error), "message": _message(error, schema)})
    if not errors:
        errors = _rule_errors(schema, data, staff or {})
    if errors:
        raise ValidationFailed("the form has errors", errors)
    return data


def _rule_errors(schema: dict[str, Any], data: dict[str, Any], staff: Mapping[str, str]) -> list[dict[str, str]]:
    props = schema.get("properties", {})
    errors = []
    for name, prop in props.items():
        value = data.get(name)
        if value in (None, ""):
            continue
        other = prop.get("x-not-before")
        if other and data.get(other) not in (None, "") and str(value) < str(data[other]):
            title = props.get(other, {})
            errors.append({"field": name, "message": f"不能早于{title.get('title', other)} "
                                                     f"Must not be before {title.get('x-title-en', other)}"})
        lane = prop.get("x-user-role")
        if lane and not (value in staff and may_work_on(staff[value], lane)):
            errors.append({"field": name, "message": f"没有可处理此任务的用户 {value} "
                                                     f"No active user {value} may take {lane} tasks"})
    return errors


def _field(error: Any) -> str:
    if error.path:
        return ".".join(str(p) for p in error.path)
    if error.validator == "required":
        return str(error.message.split("'")[1])
    if error.validator == "additionalProperties":
        extra = error.message.split("'")
        return str(extra[1]) if len(extra) > 1 else "(form)"
    return "(form)"


def _message(error: Any, schema: dict[str, Any]) -> str:
    if error.validator == "required":
        return "此项必填 This field is required"
    if error.validator == "additionalProperties":
        return "表单中没有此字段 This form has no such field"
    if error.validator in ("oneOf", "enum", "const"):
        prop = schema.get("properties", {}).get(_field(error), {})
        allowed = [str(o.get("const")) for o in prop.get("oneOf", [])] or [str(v) for v in prop.get("enum", [])]
        if allowed:
            return f"取值无效 Must be one of {', '.join(allowed)}"
    return _bounds_message(error)


_TYPES = {"integer": ("整数", "a whole number"), "number": ("数字", "a number"), "boolean": ("是或否", "yes or no"),
          "string": ("文字", "text"), "array": ("列表", "a list"), "object": ("一组字段", "a group of fields")}
_BOUNDS = {"minLength": ("至少 {} 个字符", "At least {} characters"),
           "maxLength": ("最多 {} 个字符", "At most {} characters"),
           "minimum": ("不能小于 {}", "Must be at least {}"), "exclusiveMinimum": ("须大于 {}", "Must be more than {}"),
           "maximum": ("不能大于 {}", "Must be at most {}"), "exclusiveMaximum": ("须小于 {}", "Must be less than {}"),
           "minItems": ("至少 {} 项", "At least {} entries"), "maxItems": ("最多 {} 项", "At most {} entries"),
           "format": ("格式不正确（{}）", "Not a valid {}"), "pattern": ("格式不正确", "Not in the expected format")}


def _bounds_message(error: Any) -> str:
    """A bilingual "中文 English" message for the checks a form field has; never the submitted value itself."""
    limit, kind = error.validator_value, error.validator
    if kind == "minLength" and limit == 1:
        return "此项必填 This field is required"
    if kind == "type":
        zh, en = _TYPES.get(str(limit), (str(limit), str(limit)))
        return f"须为{zh} Must be {en}"
    if kind in _BOUNDS:
        zh, en = _BOUNDS[kind]
        return f"{zh.format(limit)} {en.format(limit)}"
    return "取值无效 This value is not valid"
