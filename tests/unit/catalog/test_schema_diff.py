"""The structural diff of two input schemas: each kind of change found, and marked breaking or compatible."""

from __future__ import annotations

from typing import Any

from portal.catalog.schema_diff import diff


def changes(old: dict[str, Any], new: dict[str, Any]) -> set[tuple[str, str, bool]]:
    return {(c.path, c.kind, c.breaking) for c in diff(old, new)}


def obj(required: list[str] | None = None, closed: bool = False, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def test_the_same_schema_has_no_changes() -> None:
    schema = obj(["host"], host={"type": "string", "maxLength": 10})
    assert diff(schema, schema) == []


def test_fields_added_optional_or_required() -> None:
    old = obj(host={"type": "string"})
    assert changes(old, obj(host={"type": "string"}, port={"type": "integer"})) == {("port", "added", False)}
    required = obj(["port"], host={"type": "string"}, port={"type": "integer"})
    assert changes(old, required) == {("port", "added", True)}
    defaulted = obj(["port"], host={"type": "string"}, port={"type": "integer", "default": 22})
    assert changes(old, defaulted) == {("port", "added", False)}


def test_a_removed_field_breaks_only_a_closed_schema() -> None:
    old = obj(host={"type": "string"}, port={"type": "integer"})
    assert changes(old, obj(host={"type": "string"})) == {("port", "removed", False)}
    assert ("port", "removed", True) in changes(old, obj(closed=True, host={"type": "string"}))


def test_a_field_that_looks_renamed() -> None:
    old = obj(hostname={"type": "string"}, port={"type": "integer"})
    new = obj(host={"type": "string"}, port={"type": "integer"})
    assert changes(old, new) == {("hostname", "renamed", True)}


def test_types_narrowed_break_and_widened_do_not() -> None:
    assert changes(obj(n={"type": "number"}), obj(n={"type": "integer"})) == {("n", "type_changed", True)}
    assert changes(obj(n={"type": "integer"}), obj(n={"type": "number"})) == {("n", "type_changed", False)}
    assert changes(obj(n={"type": "string"}), obj(n={"type": "array"})) == {("n", "type_changed", True)}


def test_newly_required_enum_and_bounds() -> None:
    old = obj(
        mode={"type": "string", "enum": ["a", "b"]},
        count={"type": "integer", "minimum": 1, "maximum": 10},
        name={"type": "string"},
    )
    new = obj(
        ["name"],
        mode={"type": "string", "enum": ["a", "c"]},
        count={"type": "integer", "minimum": 2, "maximum": 20},
        name={"type": "string"},
    )
    assert changes(old, new) == {
        ("name", "newly_required", True),
        ("mode", "enum_values_removed", True),
        ("mode", "enum_values_added", False),
        ("count", "bound_tightened", True),
        ("count", "bound_loosened", False),
    }


def test_defaults_patterns_and_nested_objects_and_arrays() -> None:
    old = obj(
        creds=obj(user={"type": "string", "default": "root"}),
        hosts={"type": "array", "items": {"type": "string"}},
    )
    new = obj(
        creds=obj(user={"type": "string", "default": "admin", "pattern": "^[a-z]+$"}),
        hosts={"type": "array", "items": {"type": "string", "maxLength": 64}},
    )
    assert changes(old, new) == {
        ("creds.user", "default_changed", False),
        ("creds.user", "pattern_changed", True),
        ("hosts[]", "bound_tightened", True),
    }


def test_breaking_changes_come_first_and_ui_changes_are_compatible() -> None:
    old, new = obj(a={"type": "string"}), obj(["a"], a={"type": "string"}, b={"type": "string"})
    found = diff(old, new, {"ui:order": ["a"]}, {"ui:order": ["b", "a"]})
    assert [c.breaking for c in found] == sorted((c.breaking for c in found), reverse=True)
    assert ("uiSchema.ui:order", "ui_changed", False) in {(c.path, c.kind, c.breaking) for c in found}
