"""Secret grants name the versions they cover: each existing grant covers the versions of its item that exist now.

A grant of an item with no version yet covered nothing it could run and would cover nothing if made today: it goes
(and is logged).

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
    bind = op.get_bind()
    versions: dict[str, list[str]] = defaultdict(list)
    for item_id, version in bind.execute(sa.text("SELECT item_id, version FROM catalog_versions")):
        versions[item_id].append(version)
    grants = bind.execute(sa.text("SELECT secret_id, item_id FROM secret_grants")).all()
    for secret_id, item_id in grants:
        key = {"secret_id": secret_id, "item_id": item_id}
        existing = sorted(versions.get(item_id, []), key=semver.Version.parse)
        if existing:
            covered = " || ".join(f"={v}" for v in existing)
            bind.execute(
                sa.text("UPDATE secret_grants SET versions = :v WHERE secret_id = :secret_id AND item_id = :item_id"),
                {**key, "v": covered},
            )
        else:
            log.warning("secret grant of %s (secret id %s) dropped: the item has no versions", item_id, secret_id)
            bind.execute(sa.text("DELETE FROM secret_grants WHERE secret_id = :secret_id AND item_id = :item_id"), key)


def downgrade() -> None:
    with op.batch_alter_table("secret_grants") as batch:
        batch.drop_column("versions")
