"""A job is never created on a bundle a storage cleanup removed: when a version's content is replaced and its old
bundle cleaned up between resolving the version and inserting the job, the job is refused (409), on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.admin import storage_cleanup
from portal.catalog import queries
from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.errors import Conflict
from portal.identity.principal import SYSTEM
from portal.jobs import submission
from tests.conftest import migrated_database
from tests.helpers import item_files, write


@pytest.fixture(params=["sqlite", "postgresql"])
def items(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False):
        yield tmp_path / "items"


def test_a_job_on_a_bundle_removed_meanwhile_is_refused(items: Path) -> None:
    write(items / "swap" / "1.0.0", item_files("swap", "1.0.0"))
    catalog_service.import_local(SYSTEM, str(items), enforce_roots=False)
    stale = queries.resolve_runnable("swap", "1.0.0")
    write(items / "swap" / "1.0.0", item_files("swap", "1.0.0", result="new"))
    catalog_service.import_local(SYSTEM, str(items), enforce_roots=False, replace=True)
    cleaned = storage_cleanup.cleanup(SYSTEM, dry_run=False)
    assert [b.sha256 for b in cleaned.bundles] == [stale.bundle_sha256]

    with pytest.raises(Conflict, match="no longer stored"), db.write() as s:
        submission.insert_run(s, SYSTEM, stale, {})
    with db.write() as s:  # the version as it is now runs
        row = submission.insert_run(s, SYSTEM, queries.resolve_runnable("swap", "1.0.0"), {})
    assert row.id > 0
