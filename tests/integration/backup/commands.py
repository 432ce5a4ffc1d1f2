"""`portal` run as a command on a data directory of its own (SQLite, no key but the one in the data directory)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import PORTAL


def portal(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PORTAL, *args],
        env={
            **os.environ,
            "PORTAL_DATA_DIR": str(data_dir),
            "PORTAL_DATABASE_URL": "",
            "PORTAL_SECRETS_KEY": "",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
