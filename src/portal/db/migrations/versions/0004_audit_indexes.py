"""Audit log indexes for filtered, keyset-paged listing newest first by (at, id).

Every filter (actor name, action, target type, target id, request id) gets an index ending in (at, id), and
(at, id) itself serves the unfiltered list and time ranges. They replace the (action, id), (target_type,
target_id, id) and (at) indexes, whose order did not match the list's.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_NEW = {
    "ix_audit_log_at_id": ["at", "id"],
    "ix_audit_log_actor_name_at_id": ["actor_name", "at", "id"],
    "ix_audit_log_action_at_id": ["action", "at", "id"],
    "ix_audit_log_target_type_at_id": ["target_type", "at", "id"],
    "ix_audit_log_target_id_at_id": ["target_id", "at", "id"],
    "ix_audit_log_request_id_at_id": ["request_id", "at", "id"],
}
_OLD = {
    "ix_audit_log_action_id": ["action", "id"],
    "ix_audit_log_target": ["target_type", "target_id", "id"],
    "ix_audit_log_at": ["at"],
}


def upgrade() -> None:
    for name in _OLD:
        op.drop_index(name, table_name="audit_log")
    for name, columns in _NEW.items():
        op.create_index(name, "audit_log", columns)


def downgrade() -> None:
    for name in _NEW:
        op.drop_index(name, table_name="audit_log")
    for name, columns in _OLD.items():
        op.create_index(name, "audit_log", columns)
