"""Admin control plane: job counters and hourly rollups, approvals, sealed inputs, secrets.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db.base import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("approval", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("approval_deadline", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("sealed_inputs", sa.Text(), nullable=True))
        batch.add_column(sa.Column("secrets", sa.JSON(), nullable=False, server_default="[]"))
        batch.create_index("ix_jobs_state_queued_at", ["state", "queued_at"])
    op.create_table(
        "job_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_approvals_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_job_approvals"),
        sa.UniqueConstraint("job_id", "user_id", name="uq_job_approvals_job_id_user_id"),
    )
    op.create_index("ix_job_approvals_job_id", "job_approvals", ["job_id"])
    op.create_table(
        "job_counts",
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("state", "queue", "item_id", name="pk_job_counts"),
    )
    op.create_table(
        "job_hourly",
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in ("created", "succeeded", "failed", "cancelled", "duration_ms_sum", "duration_ms_max", "timed")
        ),
        sa.PrimaryKeyConstraint("hour", "item_id", name="pk_job_hourly"),
    )
    op.create_table(
        "secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_by_name", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_secrets"),
        sa.UniqueConstraint("name", name="uq_secrets_name"),
    )
    op.create_table(
        "secret_grants",
        sa.Column("secret_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["secrets.id"], name="fk_secret_grants_secret_id_secrets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("secret_id", "item_id", name="pk_secret_grants"),
    )
    # Counters and rollups start from the jobs already stored.
    from portal.jobs.counters import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("secret_grants")
    op.drop_table("secrets")
    op.drop_table("job_hourly")
    op.drop_table("job_counts")
    op.drop_index("ix_job_approvals_job_id", table_name="job_approvals")
    op.drop_table("job_approvals")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_state_queued_at")
        batch.drop_column("secrets")
        batch.drop_column("sealed_inputs")
        batch.drop_column("approval_deadline")
        batch.drop_column("approval")
