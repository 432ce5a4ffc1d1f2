"""The archive writer hashes each member in the pass that writes it: the digests in the manifest are those of the
bytes written, across the copy's chunk boundaries, with or without the fsync; a source shorter than it said
leaves no archive behind."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

import pytest

from portal.backup.archive import BACKUP, COPY_CHUNK, DATABASE, ArchiveWriter, bundle_member, verify

SIZES = [0, 1, COPY_CHUNK - 1, COPY_CHUNK, COPY_CHUNK + 1, 3 * COPY_CHUNK + 5]


@pytest.mark.parametrize("sync", [True, False])
@pytest.mark.parametrize("size", SIZES)
def test_a_streamed_member_is_hashed_as_written(tmp_path: Path, size: int, sync: bool) -> None:
    content = os.urandom(size)
    source = tmp_path / "source.bin"
    source.write_bytes(content + b"what follows is not part of the member")
    archive = tmp_path / "out.tar"
    writer = ArchiveWriter(archive, {"note": "test"}, sync=sync)
    with source.open("rb", buffering=0) as fh:
        writer.add_stream(DATABASE, fh, size)
    bundle = os.urandom(1000)
    writer.add_bytes(bundle_member(hashlib.sha256(bundle).hexdigest()), bundle)
    writer.close({})

    verified = verify(archive, BACKUP)  # every member against the manifest
    assert verified.manifest["members"][DATABASE] == {"sha256": hashlib.sha256(content).hexdigest(), "size": size}
    with tarfile.open(archive) as tar:
        member = tar.extractfile(DATABASE)
        assert member is not None and member.read() == content
    assert sorted(tmp_path.iterdir()) == sorted([source, archive])  # no partial file left


def test_a_file_member_is_hashed_as_written(tmp_path: Path) -> None:
    content = os.urandom(2 * COPY_CHUNK + 7)
    (tmp_path / "file.bin").write_bytes(content)
    writer = ArchiveWriter(tmp_path / "out.tar", {})
    writer.add_file(DATABASE, tmp_path / "file.bin")
    writer.close({})
    assert verify(tmp_path / "out.tar").manifest["members"][DATABASE]["sha256"] == hashlib.sha256(content).hexdigest()


def test_a_source_shorter_than_it_said_leaves_no_archive(tmp_path: Path) -> None:
    short = tmp_path / "short.bin"
    short.write_bytes(os.urandom(COPY_CHUNK + 3))
    writer = ArchiveWriter(tmp_path / "out.tar", {})
    with short.open("rb", buffering=0) as fh, pytest.raises(OSError, match="unexpected end of data"):
        writer.add_stream(DATABASE, fh, COPY_CHUNK * 2)
    writer.abandon()
    assert list(tmp_path.iterdir()) == [short]
