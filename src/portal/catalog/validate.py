"""Check an item version folder as a whole, and validate job inputs against an item's schema."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from portal.catalog import input_messages
from portal.catalog.item_tests import Case, read_cases
from portal.catalog.manifest import Problem, parse_manifest

MANIFEST = "manifest.yaml"
SCHEMA = "schema.json"
UI = "ui.json"
README = "README.md"
MAX_TEXT_FILE = 1_048_576


@dataclass
class ItemFolder:
    """A checked item version: its parsed files, and every problem found."""

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] = field(default_factory=dict)
    ui: dict[str, Any] = field(default_factory=dict)
    readme: str = ""
    tests: list[Case] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _read_text(path: Path, name: str, problems: list[Problem]) -> str | None:
    try:
        if path.stat().st_size > MAX_TEXT_FILE:
            problems.append(Problem(name, f"file is larger than {MAX_TEXT_FILE} bytes"))
            return None
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, f"cannot read: {exc}"))
        return None


def _load_json(text: str, name: str, problems: list[Problem]) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(Problem(name, f"invalid JSON: {exc.msg}", exc.lineno))
        return None


def _remote_refs(node: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                found.append(f"{path or '/'}: {value}")
            else:
                found.extend(_remote_refs(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_remote_refs(value, f"{path}/{index}"))
    return found


def _is_sensitive(node: Any) -> bool:
    return isinstance(node, dict) and (node.get("writeOnly") is True or node.get("format") == "password")


def _misplaced_sensitive(node: Any, path: str = "") -> list[str]:
    """Paths of sensitive markers anywhere but on a plain top-level property (`/properties/NAME`).

    Only those are masked and sealed; a marker deeper down (or behind a `$ref`) would look protected and not be.
    """
    found: list[str] = []
    top_level = path.count("/") == 2 and path.startswith("/properties/")
    if _is_sensitive(node) and not top_level:
        found.append(path or "/")
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_misplaced_sensitive(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_misplaced_sensitive(value, f"{path}/{index}"))
    return found


def check_schema(schema: Any, name: str = SCHEMA) -> list[Problem]:
    """A valid draft 7 object schema with no remote `$ref` (we never fetch a URL while validating), whose
    sensitive inputs (`writeOnly`, `format: password`) are top-level properties."""
    if not isinstance(schema, dict):
        return [Problem(name, "the schema must be a JSON object")]
    problems = [Problem(name, f"remote $ref is not allowed ({ref})") for ref in _remote_refs(schema)]
    problems += [
        Problem(name, f"sensitive inputs must be top-level properties, not {where} (they would not be masked)")
        for where in _misplaced_sensitive(schema)
    ]
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        problems.append(Problem(name, f"not a valid draft 7 schema at {where}: {exc.message}"))
    return problems


def _entrypoint_file(entrypoint: str) -> str:
    target = entrypoint.partition(":")[0]
    return target if target.endswith(".py") else target.replace(".", "/") + ".py"


def check_folder(path: Path, expected_version: str | None = None, expected_id: str | None = None) -> ItemFolder:
    """Read and check every file of one item version folder; collect every problem at once."""
    folder = ItemFolder(path=path)
    problems = folder.problems
    manifest_text = _read_text(path / MANIFEST, MANIFEST, problems)
    if manifest_text is None:
        if not problems:
            problems.append(Problem(MANIFEST, "missing manifest.yaml"))
    else:
        folder.manifest, found = parse_manifest(manifest_text)
        problems.extend(found)
    version = folder.manifest.get("version")
    if expected_version is not None and isinstance(version, str) and version != expected_version:
        problems.append(Problem(MANIFEST, f"'version' {version!r} differs from the folder name {expected_version!r}"))
    item_id = folder.manifest.get("id")
    if expected_id is not None and isinstance(item_id, str) and item_id != expected_id:
        problems.append(Problem(MANIFEST, f"'id' {item_id!r} differs from the folder name {expected_id!r}"))

    schema_text = _read_text(path / SCHEMA, SCHEMA, problems)
    if schema_text is None:
        if not any(p.file == SCHEMA for p in problems):
            problems.append(Problem(SCHEMA, "missing schema.json"))
    else:
        schema = _load_json(schema_text, SCHEMA, problems)
        if schema is not None:
            found = check_schema(schema)
            problems.extend(found)
            if not found:
                folder.schema = schema

    ui_text = _read_text(path / UI, UI, problems)
    if ui_text is not None:
        ui = _load_json(ui_text, UI, problems)
        if ui is not None and not isinstance(ui, dict):
            problems.append(Problem(UI, "ui.json must be a JSON object"))
        elif isinstance(ui, dict):
            folder.ui = ui

    folder.readme = _read_text(path / README, README, problems) or ""
    folder.tests, found_in_tests = read_cases(path)
    problems.extend(found_in_tests)

    entrypoint = folder.manifest.get("entrypoint")
    if isinstance(entrypoint, str):
        name = _entrypoint_file(entrypoint)
        source_path = path / name
        if not source_path.resolve().is_relative_to(path.resolve()):
            problems.append(Problem(MANIFEST, f"'entrypoint' {entrypoint!r} points outside the item"))
        else:
            source = _read_text(source_path, name, problems)
            if source is None:
                if not any(p.file == name for p in problems):
                    problems.append(Problem(name, f"the entrypoint file {name} does not exist"))
            else:
                try:
                    compile(source, name, "exec", dont_inherit=True)
                except SyntaxError as exc:
                    problems.append(Problem(name, f"syntax error: {exc.msg}", exc.lineno))
    return folder


def _field_path(error: jsonschema.ValidationError) -> str:
    parts: list[str] = []
    for part in error.absolute_path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = input_messages.missing_property(error)
        if missing:
            parts.append(("." if parts else "") + missing)
    return "".join(parts) or "(root)"


def input_errors(validator: Draft7Validator, inputs: Any) -> list[dict[str, str]]:
    """Every schema violation of `inputs`, as `{"field": "devices[1]", "message": ...}`, in words (the form's)."""
    errors = sorted(validator.iter_errors(inputs), key=lambda e: [str(p) for p in e.absolute_path])
    return [{"field": _field_path(e), "message": input_messages.in_words(e, validator.schema)} for e in errors]
