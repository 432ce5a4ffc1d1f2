"""Backup: `portal backup FILE` of a data directory (SQLite, files bundle store) holding 1,000 bundles and
1,000,000 finished jobs with two timeline events each, in MB/s of archive written; then `portal restore` of that
archive into a fresh data directory, timed once.

The bundles are 1,000 distinct items imported through the catalog (so the `bundles` table and the files under
`bundles/<aa>/` agree), the jobs and events inserted straight into the database as `retention` does. The floor,
in the same run and on the same file system, is a plain `tar -cf` of the same `portal.db` (checkpointed) and
`bundles/`; both warm, alternated, best of three each. The target is backup MB/s >= 0.5x the floor's. Since the
backup fsyncs its archive and plain tar does not, the same tar followed by `sync OUT` is shown too (not the floor).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import statistics
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from bench.catalog import _write_tree
from bench.common import PORTAL_BIN, CorrectnessError, Server, data_dir, insert_jobs, show, write_results
from bench.retention import _finished_jobs, _insert_events
from portal.backup.archive import BUNDLE_MEMBER, MANIFEST
from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.identity.principal import SYSTEM
from portal.settings import Settings, use_settings

NAME = "backup"
BUNDLES = 1000
JOBS = 1_000_000
RUNS = 3
TARGET_RATIO = 0.5
SETTINGS = {"PORTAL_CATALOG_LOAD_EXAMPLES": "false"}


def _seed(data: Path, tree: Path) -> None:
    """A migrated data directory with its admin, 1,000 imported items (one bundle each) and the jobs."""
    with Server(data, worker_slots=0, settings=SETTINGS):
        pass
    settings = Settings(data_dir=data, catalog_load_examples=False, worker_slots=0)
    use_settings(settings)
    db.configure(settings)
    try:
        report = catalog_service.import_local(SYSTEM, str(_write_tree(tree, BUNDLES, 1)), enforce_roots=False)
    finally:
        db.dispose()
    shutil.rmtree(tree)
    if [v.outcome for v in report.imported] != ["imported"] * BUNDLES:
        raise CorrectnessError("the catalog import did not import every item")
    insert_jobs(data, _finished_jobs())
    _insert_events(data)


def _checkpoint(data: Path) -> None:
    with sqlite3.connect(data / "portal.db") as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise RuntimeError("the WAL checkpoint was blocked: something else holds the database")


def _timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise CorrectnessError(f"{command[:2]} exited {done.returncode}: {(done.stdout + done.stderr)[-500:]}")
    return seconds, done.stdout.strip()


def _manifest(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive, mode="r:") as tar:
        member = tar.extractfile(MANIFEST)
        if member is None:
            raise CorrectnessError("the archive has no manifest")
        manifest: dict[str, Any] = json.loads(member.read())
    return manifest


def _check_manifest(manifest: dict[str, Any]) -> None:
    listed = sum(1 for name in manifest.get("members", {}) if BUNDLE_MEMBER.match(name))
    jobs = (manifest.get("counts") or {}).get("jobs")
    if listed != BUNDLES or manifest.get("bundles") != BUNDLES or manifest.get("missing_bundles"):
        raise CorrectnessError(f"the manifest lists {listed} bundles ({manifest.get('bundles')}), not {BUNDLES}")
    if jobs != JOBS:
        raise CorrectnessError(f"the manifest counts {jobs} jobs, not {JOBS:,}")


def _rate(size: int, seconds: float) -> float:
    return size / 1e6 / seconds


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    with data_dir(NAME) as root:
        data, restored = root / "data", root / "restored"
        data.mkdir()
        show(f"[{NAME}] seeding {BUNDLES:,} imported items and {JOBS:,} finished jobs with two events each")
        start = time.perf_counter()
        _seed(data, root / "tree")
        _checkpoint(data)
        show(f"[{NAME}]   seeded in {time.perf_counter() - start:.0f} s")
        env = Server(data, settings=SETTINGS).env
        archive, floor_out = root / "backup.tar", root / "plain.tar"
        tar_command = ["tar", "-cf", str(floor_out), "-C", str(data), "portal.db", "bundles"]
        durable_command = ["sh", "-c", '"$@" && sync "$0"', str(floor_out), *tar_command]
        backups: list[float] = []
        floors: list[float] = []
        durables: list[float] = []
        line = ""
        for _ in range(RUNS):  # alternated, so that neither side has the warmer cache throughout
            archive.unlink(missing_ok=True)
            seconds, line = _timed([str(PORTAL_BIN), "backup", str(archive)], env)
            backups.append(seconds)
            for command, times in ((tar_command, floors), (durable_command, durables)):
                floor_out.unlink(missing_ok=True)
                times.append(_timed(command)[0])
        archive_size, tar_size = archive.stat().st_size, floor_out.stat().st_size
        floor_out.unlink()
        manifest = _manifest(archive)
        _check_manifest(manifest)
        restored.mkdir()
        restore_env = {**env, "PORTAL_DATA_DIR": str(restored)}
        restore_seconds, restore_line = _timed([str(PORTAL_BIN), "restore", str(archive)], restore_env)
        with sqlite3.connect(restored / "portal.db") as conn:
            restored_jobs = int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
        restored_bundles = len(list((restored / "bundles").glob("??/*.tar.gz")))
    if restored_jobs != JOBS or restored_bundles != BUNDLES:
        raise CorrectnessError(f"the restore holds {restored_jobs:,} jobs and {restored_bundles} bundle files")
    backup_rate, tar_rate = _rate(archive_size, min(backups)), _rate(tar_size, min(floors))
    ratio = backup_rate / tar_rate
    met = "met" if ratio >= TARGET_RATIO else "missed"
    show(f"[{NAME}]   {line}")
    show(
        f"[{NAME}]   portal backup: {archive_size / 1e6:.1f} MB in {min(backups):.2f} s best "
        f"(median {statistics.median(backups):.2f} s): {backup_rate:.1f} MB/s"
    )
    show(
        f"[{NAME}]   floor tar -cf: {tar_size / 1e6:.1f} MB in {min(floors):.2f} s best "
        f"(median {statistics.median(floors):.2f} s): {tar_rate:.1f} MB/s"
    )
    show(f"[{NAME}]   backup / tar = {ratio:.2f}x (target >= {TARGET_RATIO}x: {met})")
    durable_rate = _rate(tar_size, min(durables))
    show(
        f"[{NAME}]   (not the floor) tar -cf + sync OUT: {min(durables):.2f} s best: {durable_rate:.1f} MB/s; "
        f"backup / that = {backup_rate / durable_rate:.2f}x"
    )
    show(f"[{NAME}]   {restore_line}")
    show(f"[{NAME}]   portal restore: {restore_seconds:.2f} s; the restored jobs table holds {restored_jobs:,} rows")
    figures = {
        "bundles": BUNDLES,
        "jobs": JOBS,
        "archive_bytes": archive_size,
        "tar_bytes": tar_size,
        "backup_seconds": [round(s, 3) for s in backups],
        "tar_seconds": [round(s, 3) for s in floors],
        "backup_mb_per_second": round(backup_rate, 1),
        "tar_mb_per_second": round(tar_rate, 1),
        "ratio": round(ratio, 2),
        "tar_fsync_seconds": [round(s, 3) for s in durables],
        "ratio_to_tar_fsync": round(backup_rate / durable_rate, 2),
        "target_met": met == "met",
        "restore_seconds": round(restore_seconds, 2),
    }
    write_results(NAME, figures)
    return figures
