"""Item test cases: read from a version's tests/ folder, and each run judged against its expectation."""

from __future__ import annotations

import json
from pathlib import Path

from portal.catalog.item_tests import read_cases, verdict


def test_cases_are_read_sorted_and_bad_ones_are_problems(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "b.json").write_text(json.dumps({"inputs": {"n": 1}, "expect": {"result": {"ok": True}}}))
    (tmp_path / "tests" / "a.json").write_text(json.dumps({"inputs": {}, "expect": {"error": "ValueError"}}))
    (tmp_path / "tests" / "c.json").write_text("{not json")
    (tmp_path / "tests" / "d.json").write_text(json.dumps({"inputs": [], "expect": {"both": 1}}))
    cases, problems = read_cases(tmp_path)
    assert [c.name for c in cases] == ["a", "b"]
    assert [p.file for p in problems] == ["tests/c.json", "tests/d.json", "tests/d.json"]
    assert read_cases(tmp_path / "nowhere") == ([], [])


def test_a_result_expectation_is_a_subset_at_any_depth() -> None:
    expect = {"result": {"summary": {"ok": 2}}}
    assert verdict(expect, "SUCCEEDED", {"summary": {"ok": 2, "failed": 0}, "more": 1}, None) == (
        True,
        "succeeded as expected",
    )
    assert verdict(expect, "SUCCEEDED", {"summary": {"ok": 3}}, None) == (
        False,
        "result.summary.ok: expected 2, got 3",
    )
    assert verdict(expect, "FAILED", None, {"type": "Timeout", "message": "too slow"})[0] is False
    assert verdict(expect, "RUNNING", None, None) == (None, "running")
    assert verdict({}, "SUCCEEDED", "anything", None)[0] is True


def test_an_error_expectation_names_the_type_and_a_part_of_the_message() -> None:
    expect = {"error": {"type": "ValueError", "message": "port"}}
    assert verdict(expect, "FAILED", None, {"type": "ValueError", "message": "bad port 0"})[0] is True
    assert verdict(expect, "FAILED", None, {"type": "KeyError", "message": "port"})[0] is False
    assert verdict(expect, "FAILED", None, {"type": "ValueError", "message": "bad host"})[0] is False
    assert verdict({"error": "ValueError"}, "SUCCEEDED", {}, None)[0] is False
    assert verdict({"error": "ValueError"}, "CANCELLED", None, None) == (False, "cancelled")


def test_a_refusal_of_validate_matches_rejected_or_the_class_it_raised() -> None:
    refused = {"type": "Rejected", "message": "reserved name", "rejected": True, "exception": "ValueError"}
    assert verdict({"error": "Rejected"}, "REJECTED", None, refused)[0] is True
    assert verdict({"error": "ValueError"}, "REJECTED", None, refused)[0] is True
    assert verdict({"error": {"type": "Rejected", "message": "reserved"}}, "REJECTED", None, refused)[0] is True
    assert verdict({"error": "KeyError"}, "REJECTED", None, refused)[0] is False
    assert verdict({"result": {}}, "REJECTED", None, refused)[0] is False
