"""Item tests: the test cases a version ships in `tests/*.json`, and whether a run met a case's expectation.

A case is `{"inputs": {...}, "expect": ...}` where `expect` is `{"result": {...}}` (the run succeeds and its
result holds these keys and values, at any depth), `{"error": "ValueError"}` or `{"error": {"type": "ValueError",
"message": "a part of the message"}}` (the run fails that way), or absent (the run succeeds). Running them is
the jobs domain's (`jobs.item_tests`): each case is a job of kind `catalog_test`, run in the job sandbox.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portal.catalog.manifest import Problem

TESTS_DIR = "tests"
MAX_CASES = 50
MAX_CASE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    inputs: dict[str, Any]
    expect: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "inputs": self.inputs, "expect": self.expect}

    @classmethod
    def of(cls, stored: dict[str, Any]) -> Case:
        return cls(str(stored["name"]), dict(stored.get("inputs") or {}), dict(stored.get("expect") or {}))


def read_cases(folder: Path) -> tuple[list[Case], list[Problem]]:
    """The cases under `folder/tests`, sorted by file name, and what is wrong with any of them."""
    root = folder / TESTS_DIR
    if not root.is_dir():
        return [], []
    cases: list[Case] = []
    problems: list[Problem] = []
    files = sorted(p for p in root.glob("*.json") if p.is_file() and not p.is_symlink())
    if len(files) > MAX_CASES:
        problems.append(Problem(TESTS_DIR, f"at most {MAX_CASES} test cases (found {len(files)})"))
    for path in files[:MAX_CASES]:
        name = f"{TESTS_DIR}/{path.name}"
        if path.stat().st_size > MAX_CASE_BYTES:
            problems.append(Problem(name, f"a test case is at most {MAX_CASE_BYTES // 1024} KiB"))
            continue
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(Problem(name, f"not valid JSON: {exc}"))
            continue
        wrong = _case_problems(data)
        problems.extend(Problem(name, message) for message in wrong)
        if not wrong:
            cases.append(Case(path.stem, dict(data.get("inputs") or {}), dict(data.get("expect") or {})))
    return cases, problems


def _case_problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["a test case is a JSON object with `inputs` and `expect`"]
    problems = [f"unknown key {key!r}" for key in data if key not in ("inputs", "expect", "description")]
    if not isinstance(data.get("inputs", {}), dict):
        problems.append("`inputs` must be an object")
    expect = data.get("expect", {})
    if not isinstance(expect, dict) or not set(expect) <= {"result", "error"} or len(expect) > 1:
        problems.append('`expect` is {"result": ...} or {"error": "Type" or {"type", "message"}}')
    elif "error" in expect:
        error = expect["error"]
        if not (isinstance(error, str) or (isinstance(error, dict) and set(error) <= {"type", "message"})):
            problems.append('`expect.error` is an error type, or {"type", "message"}')
    return problems


def verdict(expect: dict[str, Any], state: str, result: Any, error: dict[str, Any] | None) -> tuple[bool | None, str]:
    """Whether a run in `state` met `expect` (None while it has not ended), and why not."""
    if state in ("PENDING_APPROVAL", "QUEUED", "RUNNING"):
        return None, "running"
    if state == "CANCELLED":
        return False, "cancelled"
    if "error" in expect:
        wanted = expect["error"]
        wanted_type = wanted if isinstance(wanted, str) else wanted.get("type")
        wanted_text = None if isinstance(wanted, str) else wanted.get("message")
        if state not in ("FAILED", "REJECTED"):  # REJECTED: its `validate` refused the inputs (type "Rejected")
            return False, f"expected an error {wanted_type or ''}, but it succeeded".replace("  ", " ")
        got_type, got_text = (error or {}).get("type"), str((error or {}).get("message") or "")
        # A refusal of `validate` is type "Rejected"; the class it raised (ValueError, ...) matches too.
        if wanted_type and wanted_type not in (got_type, (error or {}).get("exception")):
            return False, f"expected error {wanted_type}, got {got_type}: {got_text[:200]}"
        if wanted_text and wanted_text not in got_text:
            return False, f"the error message does not contain {wanted_text!r}: {got_text[:200]}"
        return True, "failed as expected"
    if state != "SUCCEEDED":
        return False, f"failed: {(error or {}).get('type')}: {str((error or {}).get('message') or '')[:200]}"
    if "result" in expect:
        missing = _mismatch(expect["result"], result, "result")
        if missing:
            return False, missing
    return True, "succeeded as expected"


def _mismatch(wanted: Any, got: Any, path: str) -> str | None:
    """Where `got` does not hold `wanted` (objects: the keys given, at any depth; anything else: equal)."""
    if isinstance(wanted, dict):
        if not isinstance(got, dict):
            return f"{path}: expected an object, got {json.dumps(got)[:100]}"
        for key, value in wanted.items():
            if key not in got:
                return f"{path}.{key}: missing"
            found = _mismatch(value, got[key], f"{path}.{key}")
            if found:
                return found
        return None
    if wanted != got:
        return f"{path}: expected {json.dumps(wanted)[:100]}, got {json.dumps(got)[:100]}"
    return None
