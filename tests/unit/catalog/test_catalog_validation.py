"""Manifest and item folder checks: every problem at once, with file and line."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft7Validator

from portal.catalog.manifest import approval_policy, deprecation_note, parse_dependencies, parse_manifest
from portal.catalog.validate import check_folder, check_schema, input_errors
from tests.helpers import EXAMPLES


def make_item(
    tmp_path: Path,
    manifest: str,
    schema: object = None,
    task: str = "def run(inputs):\n    return 1\n",
    ui: str | None = None,
) -> Path:
    folder = tmp_path / "item"
    folder.mkdir()
    (folder / "manifest.yaml").write_text(manifest)
    (folder / "schema.json").write_text(json.dumps({"type": "object"} if schema is None else schema))
    (folder / "task.py").write_text(task)
    if ui is not None:
        (folder / "ui.json").write_text(ui)
    return folder


GOOD = "id: demo\nname: Demo\nversion: 1.2.3\nentrypoint: task.py\n"


def test_good_manifest_has_no_problems() -> None:
    data, problems = parse_manifest(GOOD + "tags: [a, b]\ntimeout: 30\nresources:\n  memory_mb: 128\n")
    assert problems == []
    assert data["version"] == "1.2.3"


def test_deprecated_is_true_or_a_message() -> None:
    for text, note in (("true", "deprecated"), ('"use 2.0.0"', "use 2.0.0"), ("false", None)):
        data, problems = parse_manifest(GOOD + f"deprecated: {text}\n")
        assert problems == [] and deprecation_note(data) == note
    _, problems = parse_manifest(GOOD + "deprecated: 3\n")
    assert [p.message for p in problems] == ["'deprecated' must be a bool or str"]


def test_unknown_key_is_reported_with_its_line() -> None:
    _, problems = parse_manifest(GOOD + "colour: blue\n")
    assert [(p.message, p.line) for p in problems] == [("unknown key 'colour'", 5)]


def test_missing_fields_bad_types_bad_id_and_version_all_at_once() -> None:
    _, problems = parse_manifest("id: Bad_ID\nversion: one\ntimeout: soon\ntags: x\n")
    messages = {p.message for p in problems}
    assert "missing required key 'name'" in messages
    assert "missing required key 'entrypoint'" in messages
    assert "'timeout' must be a int" in messages
    assert "'tags' must be a list" in messages
    assert any(m.startswith("'id' must be") for m in messages)
    assert "'version' 'one' is not a semantic version (1.2.3)" in messages


def test_invalid_yaml_has_a_line() -> None:
    _, problems = parse_manifest("id: demo\nname: [unclosed\n")
    assert problems[0].message.startswith("invalid YAML") and problems[0].line is not None


def test_folder_checks_schema_ui_and_task(tmp_path: Path) -> None:
    folder = make_item(
        tmp_path,
        GOOD,
        schema={"type": "object", "properties": {"a": {"type": "nope"}}},
        task="def run(inputs):\n    return (\n",
        ui="[1]",
    )
    problems = {(p.file, p.message.split(":")[0]) for p in check_folder(folder).problems}
    assert ("schema.json", "not a valid draft 7 schema at properties/a/type") in problems
    assert ("ui.json", "ui.json must be a JSON object") in problems
    assert ("task.py", "syntax error") in problems


def test_remote_ref_is_refused(tmp_path: Path) -> None:
    folder = make_item(
        tmp_path,
        GOOD,
        schema={
            "type": "object",
            "properties": {"a": {"$ref": "https://example.com/schema.json"}, "b": {"$ref": "#/definitions/x"}},
        },
    )
    messages = [p.message for p in check_folder(folder).problems]
    assert messages == ["remote $ref is not allowed (/properties/a: https://example.com/schema.json)"]


def test_folder_version_must_match_manifest(tmp_path: Path) -> None:
    folder = make_item(tmp_path, GOOD)
    problems = check_folder(folder, expected_version="2.0.0").problems
    assert [p.message for p in problems] == ["'version' '1.2.3' differs from the folder name '2.0.0'"]


def test_missing_entrypoint_file(tmp_path: Path) -> None:
    folder = make_item(tmp_path, GOOD.replace("task.py", "main.py"))
    assert [p.message for p in check_folder(folder).problems] == ["the entrypoint file main.py does not exist"]


def test_examples_are_valid() -> None:
    folders = sorted((EXAMPLES / "items").glob("*/*"))
    assert len(folders) >= 7
    for folder in folders:
        assert check_folder(folder, folder.name, folder.parent.name).problems == [], folder


def test_input_errors_name_every_field() -> None:
    schema = {
        "type": "object",
        "required": ["bucket"],
        "properties": {
            "devices": {"type": "array", "items": {"type": "string", "minLength": 2}},
            "nested": {"type": "object", "required": ["x"]},
        },
    }
    errors = input_errors(Draft7Validator(schema), {"devices": ["ok", "x"], "nested": {}})
    assert {e["field"] for e in errors} == {"bucket", "devices[1]", "nested.x"}


def test_approval_and_secrets_are_checked_and_normalized() -> None:
    data, problems = parse_manifest(
        GOOD + "approval:\n  approvers: [alice, bob]\n  count: 2\n  timeout: 30m\nsecrets: [API_TOKEN]\n"
    )
    assert problems == []
    assert approval_policy(data) == {"approvers": {"users": ["alice", "bob"]}, "count": 2, "timeout": 1800}
    data, _ = parse_manifest(GOOD + "approval:\n  approvers: operator\n")
    assert approval_policy(data) == {"approvers": {"role": "operator"}, "count": 1, "timeout": 86400}
    assert approval_policy(parse_manifest(GOOD)[0]) is None

    _, problems = parse_manifest(
        GOOD + "approval:\n  approvers: boss\n  count: 0\n  timeout: soon\n  quorum: 1\nsecrets: [token]\n"
    )
    messages = {p.message for p in problems}
    assert messages == {
        "unknown key 'approval.quorum'",
        "'approval.approvers' role must be one of viewer, requester, operator, publisher, admin",
        "'approval.count' must be a positive integer",
        "'approval.timeout' must be seconds or a duration like 30m, 24h, 2d",
        "secret name 'token' must look like an environment variable (A-Z, 0-9, _)",
    }
    _, problems = parse_manifest(GOOD + "approval:\n  approvers: [alice]\n  count: 2\n")
    assert [p.message for p in problems] == ["'approval.count' is more than the approvers listed"]


def test_sensitive_inputs_must_be_top_level_properties() -> None:
    good = {"type": "object", "properties": {"password": {"type": "string", "format": "password"}}}
    assert check_schema(good) == []
    nested = {
        "type": "object",
        "definitions": {"pw": {"type": "string", "writeOnly": True}},
        "properties": {
            "login": {"type": "object", "properties": {"password": {"type": "string", "format": "password"}}},
            "token": {"$ref": "#/definitions/pw"},
        },
    }
    messages = sorted(p.message for p in check_schema(nested))
    assert messages == [
        "sensitive inputs must be top-level properties, not /definitions/pw (they would not be masked)",
        "sensitive inputs must be top-level properties, not /properties/login/properties/password "
        "(they would not be masked)",
    ]


def test_an_id_with_a_trailing_newline_is_no_id() -> None:
    """`$` would match before a final newline: ids, names and refs must end where the text ends."""
    _, problems = parse_manifest('id: "backup\\n"\nname: n\nversion: 1.0.0\nentrypoint: task.py\n')
    assert any(p.message.startswith("'id' must be") for p in problems), problems


def test_dependencies_are_a_mapping_or_a_list_with_semver_ranges() -> None:
    assert parse_dependencies({"base": "^1.2", "tools": ">=1.0 <2"}) == ([("base", "^1.2"), ("tools", ">=1.0 <2")], [])
    assert parse_dependencies(["base", "tools@~2.1", {"id": "net", "version": "1.x"}]) == (
        [("base", "*"), ("tools", "~2.1"), ("net", "1.x")],
        [],
    )
    found, problems = parse_dependencies(["Base", "tools@not a range", {"id": "x", "extra": 1}, 3])
    assert found == [] and len(problems) == 4
    _, manifest_problems = parse_manifest(GOOD + "dependencies:\n  base: '>>1'\n")
    assert [p.message for p in manifest_problems] == ["dependency base: '>>1' is not a semver range"]
