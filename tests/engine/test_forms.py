"""Form data from HTML posts is turned into the schema's types before validation."""
from __future__ import annotations

import pytest

from engine.errors import ValidationFailed
from engine.forms import coerce, validate

QUOTE = {"type": "object", "required": ["items"], "additionalProperties": False, "properties": {
    "items": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["description", "amount"],
              "properties": {"description": {"type": "string"}, "amount": {"type": "number", "minimum": 0}}}},
    "validity_days": {"type": "integer"}, "urgent": {"type": "boolean"}}}


def test_rows_of_an_array_become_a_list_of_typed_objects() -> None:
    posted = {"items-0-description": "报表开发", "items-0-amount": "8000", "items-1-description": "培训",
              "items-1-amount": "1500.5", "items-2-description": "", "items-2-amount": "", "validity_days": "10",
              "urgent": "true"}
    data = validate(QUOTE, coerce(QUOTE, posted))
    assert data == {"items": [{"description": "报表开发", "amount": 8000.0},
                              {"description": "培训", "amount": 1500.5}], "validity_days": 10, "urgent": True}


def test_a_bad_row_names_its_field() -> None:
    with pytest.raises(ValidationFailed) as info:
        validate(QUOTE, coerce(QUOTE, {"items-0-description": "x", "items-0-amount": "-3"}))
    assert info.value.errors[0]["field"] == "items.0.amount"
