"""Deterministic, content-addressed bundles: pack a folder, store it by sha256, extract it safely and cache it.

The same folder always packs to the same bytes (sorted members, fixed mtimes, owners and modes), so the sha256 of a
bundle identifies its content and identical versions are stored once.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import stat
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from portal.errors import NotFound, PayloadTooLarge, PortalError, ValidationFailed
from portal.fs import remove_tree

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_FIXED_MTIME = 315532800  # 1980-01-01, the zip epoch: any constant works, this one is conventional
_SKIP_NAMES = {"__pycache__", ".git", ".DS_Store"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
EVICTED_PREFIX = ".evicted-"  # a cache folder being removed


class BundleLimits:
    def __init__(self, max_members: int = 2000, max_unpacked_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_members = max_members
        self.max_unpacked_bytes = max_unpacked_bytes


def left_out(name: str) -> bool:
    """Whether a file or folder of this name stays out of bundles (version control, caches, desktop litter)."""
    return name in _SKIP_NAMES or name.endswith(_SKIP_SUFFIXES)


def _members(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not left_out(d))
        base = Path(dirpath)
        for name in sorted(filenames):
            if left_out(name):
                continue
            path = base / name
            if path.is_symlink() or not path.is_file():
                raise ValidationFailed(
                    "item folders may contain only regular files",
                    details=[
                        {
                            "file": str(path.relative_to(root)),
                            "line": None,
                            "message": "symbolic links and special files are not allowed",
                        }
                    ],
                )
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def pack_folder(root: Path) -> bytes:
    """Pack a folder into deterministic tar.gz bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _members(root):
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            data = path.read_bytes()
            info.size = len(data)
            info.mtime = _FIXED_MTIME
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=9, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def tree_digest(root: Path) -> str:
    """sha256 over the folder's file names, modes and contents: equal for equal trees, cheap to compute."""
    digest = hashlib.sha256()
    for path in _members(root):
        data = path.read_bytes()
        name = path.relative_to(root).as_posix().encode()
        executable = b"x" if os.access(path, os.X_OK) else b"-"
        digest.update(len(name).to_bytes(4, "big") + name + executable + len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_extract(archive: Path | BinaryIO, dest: Path, limits: BundleLimits) -> None:
    """Extract a tar.gz refusing absolute paths, `..`, links, devices and FIFOs, and too many or too large members.

    Sizes are counted while reading, so a decompression bomb stops at the limit instead of filling the disk.
    """
    total = 0
    count = 0
    dest.mkdir(parents=True, exist_ok=True)
    try:
        open_args: dict[str, Any] = {"name": archive} if isinstance(archive, Path) else {"fileobj": archive}
        with tarfile.open(mode="r:gz", **open_args) as tar:
            for member in tar:
                count += 1
                if count > limits.max_members:
                    raise _refuse(f"more than {limits.max_members} members")
                name = member.name
                if name.startswith("/") or name.startswith("\\") or ".." in Path(name).parts or "\x00" in name:
                    raise _refuse(f"unsafe member path {name!r}")
                if member.issym() or member.islnk():
                    raise _refuse(f"links are not allowed ({name!r})")
                if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
                    raise _refuse(f"devices and FIFOs are not allowed ({name!r})")
                target = (dest / name).resolve()
                if not target.is_relative_to(dest.resolve()):
                    raise _refuse(f"member {name!r} leaves the bundle")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise _refuse(f"unsupported member type ({name!r})")
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise _refuse(f"cannot read member {name!r}")
                with source, open(target, "wb") as out:
                    while chunk := source.read(65536):
                        total += len(chunk)
                        if total > limits.max_unpacked_bytes:
                            raise _refuse(f"unpacks to more than {limits.max_unpacked_bytes} bytes")
                        out.write(chunk)
                os.chmod(target, 0o755 if member.mode & stat.S_IXUSR else 0o644)
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise _refuse(f"not a readable tar.gz archive: {exc}") from exc


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(
        f"bundle refused: {message}", details=[{"file": "bundle", "line": None, "message": message}]
    )


def _make_read_only(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            os.chmod(path, (path.stat().st_mode & 0o555) | 0o444)
        for name in dirnames:
            os.chmod(Path(dirpath) / name, 0o555)  # noqa: S103 (read-only on purpose)
    os.chmod(root, 0o555)  # noqa: S103


class BundleMissing(NotFound):
    """The store holds no bundle with this sha256."""


class BundleCorrupt(PortalError):
    """The bytes a store returned do not hash to the sha256 they are stored under."""

    status_code = 502
    code = "bundle_corrupt"


def check_bundle_size(data: bytes, max_bytes: int | None) -> None:
    if max_bytes is not None and len(data) > max_bytes:
        raise PayloadTooLarge(
            f"the bundle is {len(data)} bytes, more than the {max_bytes} a stored bundle may have "
            "(PORTAL_CATALOG_BUNDLE_MAX_BYTES)",
            details={"size": len(data), "max_bytes": max_bytes},
        )


def verified(sha256: str, data: bytes) -> bytes:
    """`data` if it hashes to `sha256`; otherwise refuse it (a damaged or tampered copy is never used)."""
    actual = sha256_bytes(data)
    if actual != sha256:
        raise BundleCorrupt(
            f"bundle {sha256} failed its checksum: the stored bytes hash to {actual}; refusing to use it",
            details={"sha256": sha256, "actual_sha256": actual, "size": len(data)},
        )
    return data


class BundleStore(Protocol):
    """Where bundles live, addressed by the sha256 of their bytes.

    `FilesystemBundleStore` keeps them in the data directory (one machine); `DatabaseBundleStore`
    (catalog/blobstore.py) in a table every node can read. `put` is idempotent. A store that lives in the database
    writes in `session`'s transaction when it is given one, so a bundle commits with the catalog rows that refer to
    it; other stores ignore `session`.
    """

    kind: str

    def put(self, data: bytes, session: Session | None = None) -> str: ...

    def exists(self, sha256: str) -> bool: ...

    def read(self, sha256: str) -> bytes:
        """The stored bytes, unverified (the reader checks them); `BundleMissing` when there are none."""
        ...


class FilesystemBundleStore:
    """Bundles as `<root>/<aa>/<sha256>.tar.gz` files, written atomically."""

    kind = "files"

    def __init__(self, root: Path, max_bytes: int | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.tar.gz"

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise BundleMissing(f"bundle {sha256} is missing from {self.root}", details={"sha256": sha256}) from None

    def stored(self) -> list[str]:
        """The sha256 of every bundle file (for moving them to another store)."""
        return sorted(p.name.removesuffix(".tar.gz") for p in self.root.glob("??/*.tar.gz"))

    def put(self, data: bytes, session: Session | None = None) -> str:
        check_bundle_size(data, self.max_bytes)
        digest = sha256_bytes(data)
        target = self.path(digest)
        if target.is_file():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return digest


class BundleCache:
    """Extracted bundles keyed by sha256, read-only, extracted once per node and reused by every job.

    A miss reads the bundle from the store, checks its sha256 and extracts it into a temporary folder next to the
    cache entry, which is then renamed into place: a folder named after a sha256 is always complete and verified,
    whatever other threads or processes of the node fetch at the same time. A hit never reads the store.
    """

    def __init__(self, store: BundleStore, root: Path, limits: BundleLimits | None = None) -> None:
        self.store = store
        self.root = root
        self.limits = limits or BundleLimits()
        self._lock = threading.Lock()
        self._ready: set[str] = set()

    def directory(self, sha256: str) -> Path:
        """The extracted, read-only folder of a bundle, fetching and extracting it on first use."""
        target = self.root / sha256
        # Checked on every use, not only the first: a cleanup may have evicted it since (in another process too).
        if sha256 in self._ready and target.is_dir():
            return target
        with self._lock:
            if sha256 in self._ready and target.is_dir():
                return target
            if not target.is_dir():
                self._fetch(sha256, target)
            self._ready.add(sha256)
        return target

    def entries(self) -> dict[str, int]:
        """The bundles extracted on this node, each with the bytes its files take."""
        found: dict[str, int] = {}
        if not self.root.is_dir():
            return found
        for entry in self.root.iterdir():
            if len(entry.name) == 64 and entry.is_dir() and not entry.is_symlink():
                found[entry.name] = sum(
                    os.lstat(os.path.join(folder, name)).st_size
                    for folder, _, names in os.walk(entry)
                    for name in names
                )
        return found

    def evict(self, sha256: str) -> None:
        """Forget a bundle's extracted folder; its next use extracts it again. The folder is renamed away first,
        so no reader ever sees it half removed."""
        target = self.root / sha256
        gone = self.root / f"{EVICTED_PREFIX}{sha256}-{os.getpid()}-{threading.get_ident()}"
        with self._lock:
            self._ready.discard(sha256)
            try:
                os.rename(target, gone)
            except FileNotFoundError:
                return
        remove_tree(gone)

    def _fetch(self, sha256: str, target: Path) -> None:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise BundleMissing(f"{sha256!r} is not a bundle sha256", details={"sha256": sha256})
        data = verified(sha256, self.store.read(sha256))
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".tmp-"))
        try:
            safe_extract(io.BytesIO(data), tmp, self.limits)
            _make_read_only(tmp)
            try:
                # Same parent, so a read-only folder may be renamed; refused when another process was first.
                os.rename(tmp, target)
            except OSError:
                if not target.is_dir():
                    raise
        finally:
            remove_tree(tmp)
