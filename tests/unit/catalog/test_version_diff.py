"""What a reviewer is shown of two versions' files stays bounded and never shows what a bundle would leave out."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.catalog import version_diff
from portal.catalog.models import CatalogVersion


def version(folder: Path, files: dict[str, bytes]) -> CatalogVersion:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return CatalogVersion(dev_path=str(folder), bundle_sha256="0" * 64)


def test_a_whole_version_shows_each_new_text_file_and_says_why_others_are_not_shown(tmp_path: Path) -> None:
    new = version(
        tmp_path,
        {
            "task.py": b"def run(inputs):\n    return {}\n",
            "empty.txt": b"",
            "nul.txt": b"a\x00b",
            "image.png": b"\x89PNG\r\n\x1a\n\xff",
            "big.txt": b"x" * (version_diff.MAX_TEXT_BYTES + 1),
            ".git/config": b"[remote]\nurl = https://token@example.com/x.git\n",
            "__pycache__/task.cpython-311.pyc": b"\x00",
        },
    )
    files = version_diff.file_changes(None, new)
    assert files["added"] == ["big.txt", "empty.txt", "image.png", "nul.txt", "task.py"]
    shown = {f["path"]: (f["diff"], f["note"]) for f in files["added_content"]}
    assert "+def run(inputs):" in str(shown["task.py"][0]) and shown["task.py"][1] is None
    assert shown["empty.txt"] == (None, "empty")
    assert shown["nul.txt"] == (None, "binary") and shown["image.png"] == (None, "binary")
    assert shown["big.txt"][0] is None and "compared by content only" in shown["big.txt"][1]
    assert files["note"] is None


def test_the_text_shown_stops_at_the_budget_and_the_files_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(version_diff, "MAX_SHOWN_CHARS", 300)
    old = version(tmp_path / "old", {"a.txt": b"one\n" * 50, "b.txt": b"two\n"})
    new = version(tmp_path / "new", {"a.txt": b"ONE\n" * 50, "b.txt": b"TWO\n", "c.txt": b"three\n"})
    files = version_diff.file_changes(old, new)
    first, second = files["changed"]
    assert len(first["diff"]) == 300 and "cut" in first["note"]
    assert second["diff"] is None and "not shown" in second["note"]
    assert files["added_content"][0]["diff"] is None

    monkeypatch.setattr(version_diff, "MAX_FILES", 2)
    files = version_diff.file_changes(old, new)
    assert files["added"] == [] and files["note"] == "only the first 2 files of each version are compared"


def test_files_with_the_same_bytes_are_unchanged(tmp_path: Path) -> None:
    old = version(tmp_path / "old", {"same.bin": b"\x00" * 100_000, "task.py": b"a\n"})
    new = version(tmp_path / "new", {"same.bin": b"\x00" * 100_000, "task.py": b"b\n"})
    files = version_diff.file_changes(old, new)
    assert files["unchanged"] == 1 and [f["path"] for f in files["changed"]] == ["task.py"]
    assert files["removed"] == [] and files["added"] == []
