"""The server's schema errors read like the form's: both are checked against the same cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from portal.catalog.validate import input_errors

CASES = json.loads(
    (Path(__file__).parents[3] / "frontend" / "src" / "lib" / "formMessages.cases.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_errors_in_words(case: dict[str, Any]) -> None:
    validator = Draft7Validator(case["schema"], format_checker=Draft7Validator.FORMAT_CHECKER)
    got = sorted(input_errors(validator, case["inputs"]), key=lambda e: (e["field"], e["message"]))
    assert got == sorted(case["errors"], key=lambda e: (e["field"], e["message"]))


def test_several_unexpected_inputs_are_named_together() -> None:
    validator = Draft7Validator({"type": "object", "properties": {}, "additionalProperties": False})
    assert input_errors(validator, {"x": 1, "y": 2}) == [
        {"field": "(root)", "message": "x, y are not inputs of this item"}
    ]


def test_names_with_quotes_and_inputs_allowed_by_a_pattern() -> None:
    schema = {
        "type": "object",
        "required": ["it's"],
        "properties": {"it's": {"title": "Its"}},
        "patternProperties": {"^x-": {}},
        "additionalProperties": False,
    }
    errors = input_errors(Draft7Validator(schema), {"x-extra": 1, "bad": 2})
    assert sorted(errors, key=lambda e: e["field"]) == [
        {"field": "(root)", "message": "bad is not an input of this item"},
        {"field": "it's", "message": "Its is required"},
    ]
