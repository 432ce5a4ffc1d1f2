"""Secret grants name the versions they cover: each existing grant covers the versions of its item that exist now,
pinned to their bundles (other code under the same version string is not covered).

A grant of an item with no version yet covered nothing it could run and would cover nothing if made today: it goes
(and is logged). The range has no default afterwards: a grant written without one is an error, never "every
version" (npm's reading of an empty range).

Revision ID: 0011_secret_grant_versions
Revises: 0010_login_throttles
Create Date: 2026-12-04
"""

from __future__ import annotations

import logging
from collections import defaultdict

import semver
import sqlalchemy as sa
from alembic import op

revision = "0011_secret_grant_versions"
down_revision = "0010_login_throttles"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    with op.batch_alter_table("secret_grants") as batch:
        batch.add_column(sa.Column("versions", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("pins", sa.JSON(), nullable=False, server_default="{}"))
    bind = op.get_bind()
    versions: dict[str, dict[str, str]] = defaultdict(dict)
    rows = bind.execute(sa.text("SELECT item_id, version, bundle_sha256 FROM catalog_versions"))
    for item_id, version, sha in rows:
        versions[item_id][version] = sha
    grants = bind.execute(sa.text("SELECT secret_id, item_id FROM secret_grants")).all()
    update = sa.text(
        "UPDATE secret_grants SET versions = :v, pins = :p WHERE secret_id = :secret_id AND item_id = :item_id"
    ).bindparams(sa.bindparam("p", type_=sa.JSON()))
    for secret_id, item_id in grants:
        key = {"secret_id": secret_id, "item_id": item_id}
        existing = sorted(versions.get(item_id, {}), key=_semver_order)
        if existing:
            covered = " || ".join(f"={v}" for v in existing)
            bind.execute(update, {**key, "v": covered, "p": {v: versions[item_id][v] for v in existing}})
        else:
            log.warning("secret grant of %s (secret id %s) dropped: the item has no versions", item_id, secret_id)
            bind.execute(sa.text("DELETE FROM secret_grants WHERE secret_id = :secret_id AND item_id = :item_id"), key)
    with op.batch_alter_table("secret_grants") as batch:
        batch.alter_column("versions", server_default=None)
        batch.alter_column("pins", server_default=None)


def _semver_order(version: str) -> tuple[int, semver.Version | str]:
    """Semver order, and versions that are not semver (none should be) after them rather than a failed upgrade."""
    try:
        return 0, semver.Version.parse(version)
    except ValueError:
        return 1, version


def downgrade() -> None:
    with op.batch_alter_table("secret_grants") as batch:
        batch.drop_column("pins")
        batch.drop_column("versions")
