"""The database bundle store: bundle bytes in the `bundle_blobs` table, readable by every node.

Chosen over an S3-compatible store for the distributed mode because it needs no further service, commits with the
catalog rows that refer to a bundle, and is backed up with the database; bundles are small (at most
`PORTAL_CATALOG_BUNDLE_MAX_BYTES`). An object store would be one more class with the same three methods.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Table, delete, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.catalog.bundles import BundleMissing, check_bundle_size, sha256_bytes
from portal.catalog.models import BundleBlob
from portal.db import session as db
from portal.db.base import utcnow

_blobs: Table = BundleBlob.__table__  # type: ignore[assignment]


class DatabaseBundleStore:
    kind = "database"

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes

    def put(self, data: bytes, session: Session | None = None) -> str:
        """Store the bytes once per sha256. Two nodes storing the same bundle at once both succeed (the insert
        does nothing on a conflict); `session`, when given, is the transaction the row commits with."""
        check_bundle_size(data, self.max_bytes)
        digest = sha256_bytes(data)
        if session is not None:
            self._insert(session, digest, data)
        else:
            with db.write() as s:
                self._insert(s, digest, data)
        return digest

    @staticmethod
    def _insert(s: Session, digest: str, data: bytes) -> None:
        if s.scalar(select(exists().where(_blobs.c.sha256 == digest))):
            return  # the common case of a re-import: no bytes sent to the database
        insert: Callable[..., postgresql.Insert | sqlite.Insert]
        insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
        s.execute(
            insert(_blobs)
            .values(sha256=digest, size=len(data), content=data, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["sha256"])
        )

    @staticmethod
    def remove(s: Session, sha256s: list[str]) -> None:
        """Delete these bundles' bytes in the transaction of `s`."""
        s.execute(delete(_blobs).where(_blobs.c.sha256.in_(sha256s)))

    def exists(self, sha256: str) -> bool:
        with db.read() as s:
            return bool(s.scalar(select(exists().where(_blobs.c.sha256 == sha256))))

    def read(self, sha256: str) -> bytes:
        with db.read() as s:
            content = s.scalar(select(_blobs.c.content).where(_blobs.c.sha256 == sha256))
        if content is None:
            raise BundleMissing(f"bundle {sha256} is not in the database bundle store", details={"sha256": sha256})
        return bytes(content)

    def stored(self) -> set[str]:
        with db.read() as s:
            return set(s.scalars(select(_blobs.c.sha256)))

    def summary(self) -> tuple[int, int]:
        """(bundles, bytes) held by the table."""
        with db.read() as s:
            count, size = s.execute(select(func.count(), func.coalesce(func.sum(_blobs.c.size), 0))).one()
        return int(count), int(size)
