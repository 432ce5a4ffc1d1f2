"""What `portal restore` refuses, each with exit 1, one line saying why, and the target left as it was: a file that
is not a tar, a foreign tar, a damaged or truncated archive, a member added, an archive of a newer portal, secrets
whose key is missing, and a target that holds data (unless --force)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.helpers import EXAMPLES
from tests.integration.backup.commands import portal


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of a portal with the example catalog, a user and a secret."""
    root = tmp_path_factory.mktemp("source")
    data = root / "data"
    assert portal(data, "catalog", "import-local", str(EXAMPLES)).returncode == 0
    created = portal(data, "users", "create", "alice", "--role", "admin")
    assert created.returncode == 0, created.stderr
    # A secret, encrypted as the portal encrypts one with the key it makes in its data directory.
    key = Fernet.generate_key()
    (data / "secrets.key").write_bytes(key)
    with sqlite3.connect(data / "portal.db") as conn:
        conn.execute(
            "INSERT INTO secrets (name, ciphertext, description, created_by_name, created_at, updated_at) "
            "VALUES ('TOKEN', ?, '', 'admin', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            (Fernet(key).encrypt(b"value").decode(),),
        )
    made = portal(data, "backup", str(root / "portal.tar"))
    assert made.returncode == 0, made.stderr
    return root / "portal.tar"


def _refused(result: subprocess.CompletedProcess[str], reason: str) -> None:
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert reason in lines[0], lines[0]


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as tar:
        return [(info, tar.extractfile(info).read()) for info in tar.getmembers()]  # type: ignore[union-attr]


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _key(archive: Path) -> str:
    return (archive.parent / "data" / "secrets.key").read_text().strip()


def test_round_trip_with_the_key(archive: Path, tmp_path: Path) -> None:
    restored = portal(tmp_path / "data", "restore", str(archive), PORTAL_SECRETS_KEY=_key(archive))
    assert restored.returncode == 0, restored.stderr
    assert not (tmp_path / "data" / "secrets.key").exists()  # the configured key decrypts: nothing written


def test_a_portal_with_no_bundles_round_trips(tmp_path: Path) -> None:
    source = tmp_path / "source"
    assert portal(source, "users", "create", "carol", "--role", "viewer").returncode == 0
    assert portal(source, "backup", str(tmp_path / "empty.tar")).returncode == 0
    restored = portal(tmp_path / "data", "restore", str(tmp_path / "empty.tar"))
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "data" / "bundles").is_dir()
    assert "carol" in portal(tmp_path / "data", "users", "list").stdout


def test_not_a_tar(archive: Path, tmp_path: Path) -> None:
    path = tmp_path / "random.tar"
    path.write_bytes(os.urandom(4096))
    _refused(portal(tmp_path / "data", "restore", str(path)), "not a portal-backup archive")
    assert not (tmp_path / "data" / "portal.db").exists()


def test_a_foreign_tar(tmp_path: Path) -> None:
    info = tarfile.TarInfo("etc/passwd")
    path = _write(tmp_path / "foreign.tar", [(info, b"root:x:0:0::/root:/bin/sh\n")])
    _refused(portal(tmp_path / "data", "restore", str(path)), "not a portal-backup archive: it begins with etc/passwd")


def test_a_header_of_another_format(archive: Path, tmp_path: Path) -> None:
    members = _members(archive)
    members[0] = (members[0][0], json.dumps({"format": "something-else"}).encode())
    path = _write(tmp_path / "other.tar", members)
    _refused(portal(tmp_path / "data", "restore", str(path)), "does not name the portal-backup format")


def test_a_damaged_bundle(archive: Path, tmp_path: Path) -> None:
    members = _members(archive)
    index = next(i for i, (info, _) in enumerate(members) if info.name.startswith("bundles/"))
    info, data = members[index]
    members[index] = (info, data[:-1] + bytes([data[-1] ^ 1]))
    path = _write(tmp_path / "damaged.tar", members)
    _refused(portal(tmp_path / "data", "restore", str(path)), f"{info.name} does not match its sha256")
    assert not (tmp_path / "data" / "bundles").exists()


def test_a_truncated_archive(archive: Path, tmp_path: Path) -> None:
    path = tmp_path / "truncated.tar"
    path.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    result = portal(tmp_path / "data", "restore", str(path))
    _refused(result, "error: ")
    assert any(word in result.stderr for word in ("truncated", "incomplete", "damaged")), result.stderr


def test_a_member_added(archive: Path, tmp_path: Path) -> None:
    members = _members(archive)
    members.insert(1, (tarfile.TarInfo("bundles/extra.sh"), b"#!/bin/sh\n"))
    path = _write(tmp_path / "added.tar", members)
    _refused(portal(tmp_path / "data", "restore", str(path)), "members its manifest does not list: bundles/extra.sh")


def test_an_archive_of_a_newer_portal(archive: Path, tmp_path: Path) -> None:
    members = _members(archive)
    header = json.loads(members[0][1])
    header["schema_revision"] = "9999_from_the_future"
    members[0] = (members[0][0], json.dumps(header).encode())
    manifest = json.loads(members[-1][1])
    manifest["members"]["portal-backup.json"] = {
        "sha256": hashlib.sha256(members[0][1]).hexdigest(),
        "size": len(members[0][1]),
    }
    members[-1] = (members[-1][0], json.dumps(manifest).encode())
    path = _write(tmp_path / "newer.tar", members)
    _refused(portal(tmp_path / "data", "restore", str(path)), "comes from a newer portal (schema 9999_from_the_future)")


def test_secrets_without_their_key(archive: Path, tmp_path: Path) -> None:
    _refused(
        portal(tmp_path / "data", "restore", str(archive)), "encrypted values (secrets, sealed inputs) need the key"
    )
    assert not (tmp_path / "data" / "portal.db").exists()
    other_key = "h3lY0ZCm1oHvnGmJ7rlt6mDsfGmHgQ7Lqgq8wG8k7xY="
    _refused(portal(tmp_path / "data", "restore", str(archive), PORTAL_SECRETS_KEY=other_key), "need the key")


def test_a_target_with_data_needs_force(archive: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert portal(data, "users", "create", "bob", "--role", "viewer").returncode == 0
    key = {"PORTAL_SECRETS_KEY": _key(archive)}
    _refused(
        portal(data, "restore", str(archive), **key), "the target is not empty (its tables audit_log, users hold rows)"
    )
    users = portal(data, "users", "list", **key)
    assert "bob" in users.stdout and "alice" not in users.stdout  # unchanged

    replaced = portal(data, "restore", str(archive), "--force", **key)
    assert replaced.returncode == 0, replaced.stderr
    users = portal(data, "users", "list", **key)
    assert "alice" in users.stdout and "bob" not in users.stdout


def _with_member(archive: Path, tmp_path: Path, name: str, data: bytes) -> Path:
    """The archive with one member's bytes replaced and its manifest entry made to match (a consistent lie)."""
    members = _members(archive)
    index = next(i for i, (info, _) in enumerate(members) if info.name == name)
    members[index] = (members[index][0], data)
    manifest = json.loads(members[-1][1])
    manifest["members"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    members[-1] = (members[-1][0], json.dumps(manifest).encode())
    return _write(tmp_path / "altered.tar", members)


def test_a_damaged_database_leaves_a_forced_target_as_it_was(archive: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert portal(data, "users", "create", "bob", "--role", "viewer").returncode == 0
    junk = _with_member(archive, tmp_path, "database.sqlite3", b"SQLite format 3\x00" + os.urandom(8192))
    key = {"PORTAL_SECRETS_KEY": _key(archive)}
    _refused(portal(data, "restore", str(junk), "--force", **key), "the archive's database")
    users = portal(data, "users", "list", **key)
    assert users.returncode == 0 and "bob" in users.stdout  # nothing was dropped before the archive proved good


def test_backup_does_not_overwrite_the_portals_own_files_or_a_foreign_file(archive: Path, tmp_path: Path) -> None:
    data = archive.parent / "data"
    _refused(portal(data, "backup", str(data / "portal.db")), "one of the portal's own files")
    _refused(portal(data, "backup", str(data / "secrets.key")), "one of the portal's own files")
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n")
    _refused(portal(data, "backup", str(notes)), "exists and is not a portal backup")
    assert notes.read_text() == "keep me\n"
    again = tmp_path / "again.tar"
    again.write_bytes(archive.read_bytes())
    assert portal(data, "backup", str(again)).returncode == 0  # a backup replaces an older backup


def test_a_postgresql_target_with_a_running_node_is_refused(archive: Path, tmp_path: Path, postgres_url: str) -> None:
    env = {"PORTAL_DATABASE_URL": postgres_url, "PORTAL_SECRETS_KEY": _key(archive)}
    assert portal(tmp_path / "data", "migrate", **env).returncode == 0
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO workers (id, kind, hostname, pid, slots, running, started_at, heartbeat_at) "
                "VALUES ('node-1', 'celery', 'elsewhere', 1, 2, 0, now(), now())"
            )
        )
    engine.dispose()
    _refused(portal(tmp_path / "data", "restore", str(archive), "--force", **env), "a portal node is running")
