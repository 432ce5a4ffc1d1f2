"""Deterministic packing, content addressing, and extraction that refuses dangerous archives."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from portal.catalog.bundles import BundleCache, BundleLimits, FilesystemBundleStore, pack_folder, safe_extract
from portal.errors import ValidationFailed


def make_folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "task.py").write_text("def run(inputs):\n    return 1\n")
    (root / "sub" / "data.txt").write_text("hello")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "task.cpython-311.pyc").write_bytes(b"junk")
    return root


def test_same_folder_packs_to_same_bytes(tmp_path: Path) -> None:
    first = pack_folder(make_folder(tmp_path / "a"))
    second_root = make_folder(tmp_path / "b")
    os.utime(second_root / "task.py", (1, 1))
    assert pack_folder(second_root) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        assert tar.getnames() == ["sub/data.txt", "task.py"]


def test_store_deduplicates_and_cache_extracts_read_only(tmp_path: Path) -> None:
    store = FilesystemBundleStore(tmp_path / "store")
    data = pack_folder(make_folder(tmp_path / "src"))
    digest = store.put(data)
    assert store.put(data) == digest
    assert len(list((tmp_path / "store").rglob("*.tar.gz"))) == 1
    cache = BundleCache(store, tmp_path / "cache")
    folder = cache.directory(digest)
    assert (folder / "sub" / "data.txt").read_text() == "hello"
    assert not os.stat(folder / "task.py").st_mode & 0o222
    assert cache.directory(digest) == folder


def _archive(tmp_path: Path, build: Callable[[tarfile.TarFile], None]) -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        build(tar)
    return path


def _add(
    tar: tarfile.TarFile, name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, linkname: str = ""
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize(
    ("name", "kind", "linkname", "reason"),
    [
        ("/etc/passwd", tarfile.REGTYPE, "", "unsafe member path"),
        ("../escape.txt", tarfile.REGTYPE, "", "unsafe member path"),
        ("link", tarfile.SYMTYPE, "/etc/passwd", "links are not allowed"),
        ("hard", tarfile.LNKTYPE, "../../x", "links are not allowed"),
        ("dev", tarfile.CHRTYPE, "", "devices and FIFOs are not allowed"),
        ("fifo", tarfile.FIFOTYPE, "", "devices and FIFOs are not allowed"),
    ],
)
def test_dangerous_members_are_refused(tmp_path: Path, name: str, kind: bytes, linkname: str, reason: str) -> None:
    archive = _archive(tmp_path, lambda tar: _add(tar, name, kind=kind, linkname=linkname))
    with pytest.raises(ValidationFailed, match=reason):
        safe_extract(archive, tmp_path / "out", BundleLimits())
    assert not (tmp_path / "escape.txt").exists()


def test_too_many_members(tmp_path: Path) -> None:
    def eleven_files(tar: tarfile.TarFile) -> None:
        for i in range(11):
            _add(tar, f"f{i}")

    archive = _archive(tmp_path, eleven_files)
    with pytest.raises(ValidationFailed, match="more than 10 members"):
        safe_extract(archive, tmp_path / "out", BundleLimits(max_members=10))


def test_decompression_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    archive = _archive(tmp_path, lambda tar: _add(tar, "zeros", b"\0" * (4 * 1024 * 1024)))
    assert archive.stat().st_size < 64 * 1024
    with pytest.raises(ValidationFailed, match="unpacks to more than"):
        safe_extract(archive, tmp_path / "out", BundleLimits(max_unpacked_bytes=1024 * 1024))
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= 1024 * 1024


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.tar.gz"
    path.write_bytes(b"definitely not gzip")
    with pytest.raises(ValidationFailed, match="not a readable tar"):
        safe_extract(path, tmp_path / "out", BundleLimits())
