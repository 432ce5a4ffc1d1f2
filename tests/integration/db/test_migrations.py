"""Migrations that rewrite data, run on real databases: what was there before reads the same way after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import text

from portal.catalog import service as catalog_service
from portal.db import migrate
from portal.db import session as db
from portal.identity.principal import SYSTEM
from portal.secrets import service as secrets_service
from portal.secrets.schemas import SecretCreate
from tests.conftest import migrated_database
from tests.helpers import item_files, write


def _alembic(revision: str, *, down: bool = False) -> None:
    config = migrate.alembic_config()
    with db.get_engine().begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    key = Fernet.generate_key().decode()
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False, secrets_key=[key]):
        yield


@pytest.mark.usefixtures("database")
def test_secret_grants_made_before_versions_cover_the_versions_that_existed(tmp_path: Path) -> None:
    for version in ("1.0.0", "1.10.0", "1.2.0"):
        write(tmp_path / "items" / "granted" / version, item_files("granted", version))
    catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
    secrets_service.create_secret(SYSTEM, SecretCreate(name="OLD_GRANT", value="v4lue-x", items=["granted"]))
    _alembic("0010_login_throttles", down=True)  # the grants as they were: an item id, no versions
    with db.write() as s:
        secret_id = s.execute(text("SELECT id FROM secrets WHERE name = 'OLD_GRANT'")).scalar_one()
        s.execute(text("INSERT INTO secret_grants (secret_id, item_id) VALUES (:s, 'ghost')"), {"s": secret_id})
    _alembic("head")
    (secret,) = secrets_service.list_secrets()
    # Every version that existed, in semver order; the grant of an item without versions is gone.
    assert secret.items == ["granted@=1.0.0 || =1.2.0 || =1.10.0"]
    with db.read() as s:
        sha = s.execute(text("SELECT bundle_sha256 FROM catalog_versions WHERE version = '1.10.0'")).scalar_one()
    assert secrets_service.missing_for("granted", "1.10.0", sha, ["OLD_GRANT"]) == []
    assert secrets_service.missing_for("granted", "1.10.0", "0" * 64, ["OLD_GRANT"]) == ["OLD_GRANT"]  # other code
    assert secrets_service.missing_for("granted", "1.11.0", sha, ["OLD_GRANT"]) == ["OLD_GRANT"]
