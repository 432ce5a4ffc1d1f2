"""The example catalog at start-up: a broken example costs only itself; its problems reach the admins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.admin import stats
from portal.catalog import examples, import_failures
from portal.catalog import queries as catalog_queries
from portal.identity.principal import SYSTEM
from tests.conftest import migrated_database
from tests.helpers import item_files, write


@pytest.fixture(params=["sqlite", "postgresql"])
def portal_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False):
        yield


def test_valid_examples_load_when_one_is_broken(portal_db: None, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    write(root / "items" / "first" / "1.0.0", item_files("first", "1.0.0"))
    # Depends on an item that sorts after it: the second pass registers it.
    write(
        root / "items" / "needs-zeta" / "1.0.0",
        item_files("needs-zeta", "1.0.0", extra_manifest="dependencies: [zeta]\n"),
    )
    write(root / "items" / "zeta" / "1.0.0", item_files("zeta", "1.0.0"))
    broken = item_files("broken", "1.0.0")
    broken["task.py"] = "def run(inputs:\n"  # a syntax error
    write(root / "items" / "broken" / "1.0.0", broken)

    refused = examples.load(SYSTEM, root)

    assert list(refused) == [root / "items" / "broken" / "1.0.0"]
    for item_id in ("first", "needs-zeta", "zeta"):
        assert catalog_queries.resolve_runnable(item_id, "1.0.0").version == "1.0.0"
    rows, total = import_failures.page(0, 10)
    assert total == 1
    assert (rows[0].source, rows[0].target, rows[0].item_id, rows[0].version) == (
        "examples",
        "items/broken/1.0.0",
        "broken",
        "1.0.0",
    )
    assert any("syntax error" in str(p.get("message")) for p in rows[0].problems or [])
    alerts = [a for a in stats.stats().alerts if a.code == "import_failed"]
    assert len(alerts) == 1 and "broken 1.0.0 (examples)" in alerts[0].message

    assert examples.load(SYSTEM, root).keys() == refused.keys()  # again: still only the broken one refused


def test_a_valid_example_catalog_loads_in_one_go(portal_db: None, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    write(root / "items" / "first" / "1.0.0", item_files("first", "1.0.0"))
    assert examples.load(SYSTEM, root) == {}
    assert import_failures.page(0, 10)[1] == 0
    assert not [a for a in stats.stats().alerts if a.code == "import_failed"]
