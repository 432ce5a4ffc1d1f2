"""Every operation of the OpenAPI document shows an example request and response body, valid against its schema."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from portal.app import create_app
from portal.settings import Settings

JSON = "application/json"
# Shapes the server maps onto the schema before validating (the original portal's job request): accepted, but not
# the schema's own shape (tests/integration/jobs/lifecycle/test_jobs.py sends it).
MAPPED_BEFORE_VALIDATION = {("POST /api/jobs request", "original")}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    return create_app(settings, run_executor=False).openapi()


def _bodies(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            request = operation.get("requestBody", {}).get("content", {}).get(JSON)
            if request is not None:
                found.append((f"{method.upper()} {path} request", request))
            for status, response in operation.get("responses", {}).items():
                body = response.get("content", {}).get(JSON)
                if str(status).startswith("2") and body is not None and body.get("schema"):
                    found.append((f"{method.upper()} {path} {status}", body))
    return found


def test_every_json_body_has_an_example_valid_against_its_schema(document: dict[str, Any]) -> None:
    bodies = _bodies(document)
    assert len(bodies) > 100  # requests and responses of every operation
    problems = []
    for where, body in bodies:
        examples = {"example": body["example"]} if "example" in body else {}
        examples.update({key: e["value"] for key, e in body.get("examples", {}).items()})
        if not examples:
            problems.append(f"{where}: no example")
        validator = Draft202012Validator({**body["schema"], "components": document["components"]})
        for key, example in examples.items():
            if (where, key) in MAPPED_BEFORE_VALIDATION:
                continue
            errors = sorted(validator.iter_errors(example), key=str)
            if errors:
                problems.append(f"{where} ({key}): {errors[0].message} at {list(errors[0].absolute_path)}")
    assert problems == [], "\n".join(problems)


def test_written_examples_are_kept(document: dict[str, Any]) -> None:
    create = document["paths"]["/api/jobs"]["post"]["requestBody"]["content"][JSON]
    assert "examples" in create and "example" not in create  # the operation's own, not a generated one
