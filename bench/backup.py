"""Backup: `portal backup FILE` of a data directory (SQLite, files bundle store) holding 1,000 bundles and
1,000,000 finished jobs with two timeline events each, in MB/s of archive written; then `portal restore` of that
archive into a fresh data directory, timed once.

The bundles are 1,000 distinct items imported through the catalog (so the `bundles` table and the files under
`bundles/<aa>/` agree), the jobs and events inserted straight into the database as `retention` does. The floor,
in the same run and on the same file system, is a plain `tar -cf` of the same `portal.db` (checkpointed) and
`bundles/`. The target is backup MB/s >= 0.5x the floor's. The backup fsyncs its archive by default and plain
tar does not, so two pairs are compared like for like: `portal backup --no-sync` against `tar -cf`, and the
default `portal backup` against `tar -cf` then `sync OUT`; the default against plain tar (the issue's words) is
shown too. The four commands run in turn, three rounds, best of three each, every one after an untimed `sync`
(so that none pays for the writeback of the one before) with a warm cache.
"""

from __future__ import annotations

import json
import os
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
        commands: dict[str, tuple[list[str], Path]] = {
            "backup": ([str(PORTAL_BIN), "backup", str(archive)], archive),
            "backup_no_sync": ([str(PORTAL_BIN), "backup", "--no-sync", str(archive)], archive),
            "tar": (tar_command, floor_out),
            "tar_sync": (["sh", "-c", '"$@" && sync "$0"', str(floor_out), *tar_command], floor_out),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        line = ""
        for _ in range(RUNS):  # in turn, so that none has the warmer cache throughout
            for name, (command, out) in commands.items():
                out.unlink(missing_ok=True)
                os.sync()  # the writeback of the one before is not this one's to pay
                seconds, printed = _timed(command, env if out == archive else None)
                times[name].append(seconds)
                if name == "backup":
                    line = printed
        archive_size = archive.stat().st_size  # --no-sync's: the same members, the same size as the synced ones'
        tar_size = floor_out.stat().st_size
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
    best = {name: min(seconds) for name, seconds in times.items()}
    rates = {name: _rate(archive_size if name.startswith("backup") else tar_size, best[name]) for name in best}
    show(f"[{NAME}]   {line}")
    for name, label in (
        ("backup", "portal backup (fsync)"),
        ("backup_no_sync", "portal backup --no-sync"),
        ("tar", "tar -cf (the floor)"),
        ("tar_sync", "tar -cf + sync OUT"),
    ):
        size = archive_size if name.startswith("backup") else tar_size
        show(
            f"[{NAME}]   {label}: {size / 1e6:.1f} MB in {best[name]:.2f} s best "
            f"(median {statistics.median(times[name]):.2f} s): {rates[name]:.1f} MB/s"
        )
    ratios = {
        "no_sync_to_tar": rates["backup_no_sync"] / rates["tar"],
        "synced_to_tar_sync": rates["backup"] / rates["tar_sync"],
        "synced_to_tar": rates["backup"] / rates["tar"],
    }
    for key, label in (
        ("no_sync_to_tar", "backup --no-sync / tar (like for like)"),
        ("synced_to_tar_sync", "backup / tar + sync (like for like)"),
        ("synced_to_tar", "backup (fsync) / plain tar"),
    ):
        met = "met" if ratios[key] >= TARGET_RATIO else "missed"
        show(f"[{NAME}]   {label} = {ratios[key]:.2f}x (target >= {TARGET_RATIO}x: {met})")
    show(f"[{NAME}]   {restore_line}")
    show(f"[{NAME}]   portal restore: {restore_seconds:.2f} s; the restored jobs table holds {restored_jobs:,} rows")
    figures = {
        "bundles": BUNDLES,
        "jobs": JOBS,
        "archive_bytes": archive_size,
        "tar_bytes": tar_size,
        **{f"{name}_seconds": [round(s, 3) for s in seconds] for name, seconds in times.items()},
        **{f"{name}_mb_per_second": round(rate, 1) for name, rate in rates.items()},
        **{f"ratio_{key}": round(ratio, 2) for key, ratio in ratios.items()},
        "target_met": {key: ratio >= TARGET_RATIO for key, ratio in ratios.items()},
        "restore_seconds": round(restore_seconds, 2),
    }
    write_results(NAME, figures)
    return figures
