"""The archive formats: a plain tar whose first member names its kind (`portal-backup.json` or
`portal-catalog-export.json`), whose last member (`manifest.json`) holds the sha256 and size of every other
member, and whose members in between are the bundles (`bundles/<sha256>.tar.gz`) and the kind's own: a backup's
database (`database.sqlite3`) and, only when asked, the secrets key (`secrets.key`); an export's `catalog.json`.

A plain tar, so that `tar -tf` lists it and any tool can take it apart; uncompressed, because the bundles are
gzip already and compressing the database would make the backup several times slower (pipe it to `zstd` for
the shelf). The checksums come last so that the archive is written in one pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.errors import PortalError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "database.sqlite3"
KEYS = "secrets.key"
CATALOG = "catalog.json"
BUNDLE_MEMBER = re.compile(r"^bundles/([0-9a-f]{64})\.tar\.gz$")
CHUNK = 1024 * 1024
# What a member is copied in, hashed beside the writing in two buffers in turn: small enough for both to stay in a
# core's L2 cache (measured on the 2-core VM: 256 or 512 KiB copied 870 MB in 0.45 s, 1 MiB in 0.69 s).
COPY_CHUNK = 256 * 1024
MAX_JSON_BYTES = 256 * CHUNK  # a manifest lists ~130 bytes per member: two million bundles fit


class ArchiveError(PortalError):
    """The archive is not one of ours, is damaged, or cannot be restored here."""

    status_code = 400
    code = "backup_invalid"


@dataclass(frozen=True)
class ArchiveKind:
    """One format: its name, the member that names it, and the members it must and may hold besides bundles."""

    format: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()

    @property
    def header(self) -> str:
        return f"{self.format}.json"


BACKUP = ArchiveKind("portal-backup", frozenset({DATABASE}), frozenset({KEYS}))
CATALOG_EXPORT = ArchiveKind("portal-catalog-export", frozenset({CATALOG}))


def bundle_member(sha256: str) -> str:
    return f"bundles/{sha256}.tar.gz"


class _HashingReader:
    """Reads a file in COPY_CHUNK pieces for tarfile to write, hashing each piece in a thread of its own meanwhile
    (hashlib lets go of the GIL for large buffers): one pass over the bytes, the hashing beside the writing. The
    pieces go into two buffers in turn; one is refilled only once the thread has hashed what it held (tarfile
    has written it by the time it asks for the next piece)."""

    def __init__(self, source: io.RawIOBase, hasher: ThreadPoolExecutor) -> None:
        self.source = source
        self.hasher = hasher
        self.digest = hashlib.sha256()
        self._buffers = (bytearray(COPY_CHUNK), bytearray(COPY_CHUNK))
        self._hashing: list[Future[None] | None] = [None, None]
        self._turn = 0

    def read(self, size: int = COPY_CHUNK) -> memoryview:
        turn, self._turn = self._turn, 1 - self._turn
        if (previous := self._hashing[turn]) is not None:
            previous.result()
        view = memoryview(self._buffers[turn])[: min(size, COPY_CHUNK)]
        filled = 0
        while filled < len(view) and (got := self.source.readinto(view[filled:])):
            filled += got
        self._hashing[turn] = self.hasher.submit(self.digest.update, view[:filled])
        return view[:filled]

    def hexdigest(self) -> str:
        for pending in self._hashing:
            if pending is not None:
                pending.result()
        return self.digest.hexdigest()


class ArchiveWriter:
    """Writes an archive to `<path>.partial` and renames it into place on `close()`: a failed backup leaves no
    archive that looks whole. With `sync` (the default) the archive is on disk (fsync'ed, then its folder) before
    it is in place; without, the caller syncs it."""

    def __init__(self, path: Path, header: dict[str, Any], kind: ArchiveKind = BACKUP, *, sync: bool = True) -> None:
        self.path = path
        self.kind = kind
        self.sync = sync
        # A name of its own: two backups to one FILE do not write into each other's partial archive.
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        self.partial = Path(name)
        self._file = os.fdopen(fd, "wb")
        # held open across calls, closed by close() or abandon()
        self._tar = tarfile.TarFile(fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT, copybufsize=COPY_CHUNK)
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-sha256")
        self.members: dict[str, dict[str, Any]] = {}
        self.add_bytes(kind.header, json.dumps(self._named(header)).encode())

    def _named(self, content: dict[str, Any]) -> dict[str, Any]:
        return {"format": self.kind.format, "format_version": FORMAT_VERSION, **content}

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o600
        info.mtime = int(time.time())
        return info

    def add_bytes(self, name: str, data: bytes, sha256: str | None = None) -> None:
        """Add `data` as `name`; `sha256`, when given, is its digest (checked already, so not computed again)."""
        self._tar.addfile(self._info(name, len(data)), io.BytesIO(data))
        self.members[name] = {"sha256": sha256 or hashlib.sha256(data).hexdigest(), "size": len(data)}

    def add_file(self, name: str, path: Path) -> None:
        with path.open("rb", buffering=0) as fh:
            self.add_stream(name, fh, os.fstat(fh.fileno()).st_size)

    def add_stream(self, name: str, source: io.RawIOBase, size: int) -> None:
        """Add the next `size` bytes of `source` (a file, read with readinto) as `name`, hashed as they are written."""
        reader = _HashingReader(source, self._hasher)
        self._tar.addfile(self._info(name, size), reader)  # type: ignore[arg-type]  # read() gives memoryviews
        self.members[name] = {"sha256": reader.hexdigest(), "size": size}

    def close(self, summary: dict[str, Any]) -> None:
        """Write the manifest, flush (to disk, with `sync`) and put the archive in place."""
        data = json.dumps(self._named({"members": self.members, **summary}), indent=1).encode()
        self._tar.addfile(self._info(MANIFEST, len(data)), io.BytesIO(data))
        self._tar.close()
        self._hasher.shutdown()
        self._file.flush()
        if self.sync:
            os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.path)
        if self.sync:
            _sync_folder(self.path.parent)

    def abandon(self) -> None:
        """Drop the partial archive (also when closing it fails, as on a full disk)."""
        try:
            self._hasher.shutdown(cancel_futures=True)
            with contextlib.suppress(OSError, tarfile.TarError):
                self._tar.close()
            with contextlib.suppress(OSError):
                self._file.close()
        finally:
            self.partial.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (its entry is in the folder's own blocks)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class VerifiedArchive:
    """An archive whose every member matched its manifest: its header, its manifest and the members' names."""

    path: Path
    header: dict[str, Any]
    manifest: dict[str, Any]
    bundles: list[str] = field(default_factory=list)

    @property
    def has_keys(self) -> bool:
        return KEYS in self.manifest["members"]

    @contextmanager
    def open(self) -> Iterator[tarfile.TarFile]:
        with tarfile.open(self.path, mode="r:") as tar:
            yield tar

    def read_member(self, tar: tarfile.TarFile, name: str) -> bytes:
        """A member's bytes, checked again against the manifest (the file may have changed since it was verified)."""
        source = tar.extractfile(name)
        if source is None:
            raise ArchiveError(f"the archive's {name} is not a file")
        data = source.read()
        self._check(name, hashlib.sha256(data).hexdigest(), len(data))
        return data

    def extract_to(self, tar: tarfile.TarFile, name: str, target: Path) -> None:
        source = tar.extractfile(name)
        if source is None:
            raise ArchiveError(f"the archive's {name} is not a file")
        digest, size = hashlib.sha256(), 0
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        self._check(name, digest.hexdigest(), size)

    def _check(self, name: str, sha256: str, size: int) -> None:
        expected = self.manifest["members"][name]
        if expected["sha256"] != sha256 or expected["size"] != size:
            raise ArchiveError(f"the archive changed while it was restored: {name} no longer matches its manifest")


def _json_member(data: bytes, name: str, kind: ArchiveKind) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise ArchiveError(f"not a {kind.format} archive: its {name} is not JSON") from None
    if not isinstance(value, dict) or value.get("format") != kind.format:
        raise ArchiveError(f"not a {kind.format} archive: its {name} does not name the {kind.format} format")
    if value.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"a {kind.format} archive of format {value.get('format_version')}, which this portal does not read "
            f"(it reads format {FORMAT_VERSION})"
        )
    return value


def verify(path: Path, kind: ArchiveKind = BACKUP) -> VerifiedArchive:
    """Read the whole archive once, hashing every member; the archive described by its manifest, or ArchiveError
    with the reason (not a tar, not ours, truncated, a member missing, changed or added)."""
    if not path.is_file():
        raise ArchiveError(f"{path} is not a file")
    seen: dict[str, dict[str, Any]] = {}
    header: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    try:
        with tarfile.open(path, mode="r|") as tar:
            for info in tar:
                if manifest is not None:
                    raise ArchiveError(f"the archive has a member after its manifest: {info.name}")
                if not info.isfile():
                    raise ArchiveError(f"the archive holds something other than files: {info.name}")
                if info.name in seen:
                    raise ArchiveError(f"the archive holds {info.name} twice")
                keep = info.name in (kind.header, MANIFEST)
                sha256, size, head = _hash_member(tar, info, keep)
                if header is None:
                    if info.name != kind.header:
                        raise ArchiveError(f"not a {kind.format} archive: it begins with {info.name}")
                    header = _json_member(head, kind.header, kind)
                if info.name == MANIFEST:
                    manifest = _json_member(head, MANIFEST, kind)
                else:
                    seen[info.name] = {"sha256": sha256, "size": size}
    except tarfile.ReadError as exc:
        raise ArchiveError(f"not a {kind.format} archive, or a damaged one: {exc}") from None
    except (EOFError, tarfile.StreamError) as exc:
        raise ArchiveError(f"the archive is truncated or damaged: {exc}") from None
    if header is None:
        raise ArchiveError(f"not a {kind.format} archive: it is empty")
    if manifest is None:
        raise ArchiveError("the archive is incomplete: it has no manifest (was it cut short?)")
    _compare(seen, manifest, kind)
    bundles = [m.group(1) for name in seen if (m := BUNDLE_MEMBER.match(name))]
    return VerifiedArchive(path=path, header=header, manifest=manifest, bundles=sorted(bundles))


def _hash_member(tar: tarfile.TarFile, info: tarfile.TarInfo, keep: bool) -> tuple[str, int, bytes]:
    """A member's sha256 and size, and (when `keep`: the header or the manifest) its bytes."""
    source = tar.extractfile(info)
    assert source is not None  # a regular file
    digest, size, head = hashlib.sha256(), 0, b""
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if keep:
            if size > MAX_JSON_BYTES:
                raise ArchiveError(f"the archive's {info.name} is larger than {MAX_JSON_BYTES // CHUNK} MiB")
            head += chunk
    return digest.hexdigest(), size, head


def _compare(seen: dict[str, dict[str, Any]], manifest: dict[str, Any], kind: ArchiveKind) -> None:
    listed = manifest.get("members")
    if not isinstance(listed, dict):
        raise ArchiveError("the archive's manifest lists no members")
    for name, expected in listed.items():
        found = seen.get(name)
        if found is None:
            raise ArchiveError(f"the archive is damaged: {name} is missing")
        if found != expected:
            raise ArchiveError(f"the archive is damaged: {name} does not match its sha256 in the manifest")
    extra = sorted(set(seen) - set(listed))
    if extra:
        raise ArchiveError(f"the archive holds members its manifest does not list: {', '.join(extra[:5])}")
    for name in sorted(kind.required - set(listed)):
        raise ArchiveError(f"the archive has no {name}")
    known = {kind.header, *kind.required, *kind.optional}
    for name in listed:
        if name not in known and not BUNDLE_MEMBER.match(name):
            raise ArchiveError(f"the archive holds a member this portal does not know: {name}")
    for name in listed:
        if (m := BUNDLE_MEMBER.match(name)) and listed[name]["sha256"] != m.group(1):
            raise ArchiveError(f"the archive is damaged: {name} does not hold the bundle its name says")
