"""The admin catalog table and item page read the same on SQLite and PostgreSQL: its two paging paths (in the
database, and in Python for the filters on JSON lists), each row's last run, and what each version's review
compares it with and who may decide it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from portal.admin import catalog as admin_catalog
from portal.catalog import administration
from portal.catalog import service as catalog_service
from portal.catalog.admin_schemas import ItemUpdate
from portal.catalog.models import CatalogVersion
from portal.db import session as db
from portal.identity.principal import SYSTEM, Principal
from portal.identity.roles import Role
from portal.jobs import service as jobs_service
from tests.conftest import migrated_database
from tests.helpers import item_files, write

ITEMS = ["paged-a", "paged-b", "paged-c", "paged-d", "paged-e"]


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False):
        for item in ITEMS:
            write(tmp_path / "items" / item / "1.0.0", item_files(item, "1.0.0"))
        catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
        yield


def test_both_paging_paths_agree_and_each_row_has_its_own_last_run(catalog: None) -> None:
    administration.update_item(SYSTEM, "paged-b", ItemUpdate(tags=["x"]))
    administration.update_item(SYSTEM, "paged-d", ItemUpdate(tags=["x"]))
    first = jobs_service.create_job(SYSTEM, "paged-c", "1.0.0", {})
    jobs_service.create_job(SYSTEM, "paged-c", "1.0.0", {})

    pages = [admin_catalog.list_items(SYSTEM, q="paged", page_size=2, page=n) for n in (1, 2, 3, 4)]
    assert [p.total for p in pages] == [5, 5, 5, 5]
    assert [[r.id for r in p.items] for p in pages] == [ITEMS[:2], ITEMS[2:4], ITEMS[4:], []]
    rows = {r.id: r for p in pages for r in p.items}
    assert rows["paged-c"].last_run_at is not None and rows["paged-c"].last_run_at >= first.created_at
    assert rows["paged-c"].runs_30d == 2
    assert all(rows[i].last_run_at is None and rows[i].runs_30d == 0 for i in ITEMS if i != "paged-c")

    newest_first = admin_catalog.list_items(SYSTEM, q="paged", sort="id", descending=True, page_size=3)
    assert [r.id for r in newest_first.items] == ITEMS[::-1][:3]
    tagged = [admin_catalog.list_items(SYSTEM, q="paged", tag="x", page_size=1, page=n) for n in (1, 2)]
    assert [p.total for p in tagged] == [2, 2] and [p.items[0].id for p in tagged] == ["paged-b", "paged-d"]
    assert admin_catalog.list_items(SYSTEM, q="paged", tag="x", page=2).items == []


def test_a_version_replaces_the_newest_runnable_one_below_it_and_only_others_may_review_it(
    catalog: None, tmp_path: Path
) -> None:
    for number in ("1.1.0", "1.2.0", "2.0.0"):
        write(tmp_path / "more" / "paged-a" / number, item_files("paged-a", number))
    catalog_service.import_local(SYSTEM, str(tmp_path / "more"), enforce_roots=False)
    with db.write() as s:
        s.execute(
            update(CatalogVersion)
            .where(CatalogVersion.item_id == "paged-a", CatalogVersion.version == "1.2.0")
            .values(status="rejected")
        )
        s.execute(
            update(CatalogVersion)
            .where(CatalogVersion.item_id == "paged-a", CatalogVersion.version == "2.0.0")
            .values(status="in_review", imported_by="webhook:github:pat")
        )
    detail = {v.version: v for v in admin_catalog.get_item(SYSTEM, "paged-a").versions}
    assert {n: v.replaces for n, v in detail.items()} == {
        "2.0.0": "1.1.0",
        "1.2.0": "1.1.0",
        "1.1.0": "1.0.0",
        "1.0.0": None,
    }
    assert detail["2.0.0"].may_review and not detail["1.1.0"].may_review  # only a version in review
    pusher = Principal(id=7, username="pat", role=Role.admin)
    assert not admin_catalog.get_item(pusher, "paged-a").versions[0].may_review  # who pushed the tag
