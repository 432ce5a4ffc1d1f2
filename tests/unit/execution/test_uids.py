"""Job uids: one per running job across the processes of a machine, given back when their holder goes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.execution.uids import UidPool, UidsExhausted

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="job uids exist only when the portal runs as root")


def test_uids_are_exclusive_across_processes_and_freed_when_their_holder_dies(tmp_path: Path) -> None:
    locks = tmp_path / "uids"
    pool = UidPool(300_000, 300_002, locks)
    held = {pool.acquire().uid, pool.acquire().uid}
    # Another process of the machine gets the one left, then none.
    code = (
        "import sys; from pathlib import Path; from portal.execution.uids import UidPool, UidsExhausted\n"
        "pool = UidPool(300_000, 300_002, Path(sys.argv[1])); lease = pool.acquire(); print(lease.uid)\n"
        "try:\n    pool.acquire()\nexcept UidsExhausted:\n    print('exhausted')\n"
    )
    other = subprocess.run([sys.executable, "-c", code, str(locks)], capture_output=True, text=True, check=True)
    their_uid, exhausted = other.stdout.split()
    assert int(their_uid) not in held and exhausted == "exhausted"
    # That process is gone, and its uid with it.
    assert pool.acquire().uid == int(their_uid)
    with pytest.raises(UidsExhausted):
        pool.acquire()


def test_a_lock_folder_someone_else_could_write_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    with pytest.raises(PermissionError):
        UidPool(300_000, 300_010, folder)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    with pytest.raises(OSError, match=r"Too many levels of symbolic links|Not a directory"):
        UidPool(300_000, 300_010, link)
