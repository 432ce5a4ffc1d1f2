"""Every operation of the API, called by schemathesis with generated (valid and invalid) input: none answers 5xx.

A short run (a few thousand requests, about 20 s) with a fixed seed, so a failure can be replayed with the same
command. Its own portal with the fixture catalog, as an admin (so every operation is reached); the
schemathesis command line, not its pytest plugin, which does not follow pytest 9 yet.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURE_CATALOG, PortalServer

SEED = 20261204
EXAMPLES = 8
# Operations that may revoke the run's own token: the rest would answer 401 from then on and test nothing.
SKIPPED = ("tokens-revoke", "tokens-admin-revoke")
ST = Path(sys.executable).parent / "st"


@pytest.mark.timeout(360)  # about 70 s alone, more beside other tests under xdist: over the 120 s default
def test_no_operation_answers_a_server_error(tmp_path: Path) -> None:
    if not ST.is_file():
        pytest.fail(f"schemathesis is not installed ({ST}): make install")
    server = PortalServer(tmp_path / "data", {"PORTAL_WORKER_SLOTS": "1"}).start()
    try:
        token = server.token_for("admin")
        with server.client(token) as admin:
            assert admin.post("/api/catalog/local/import", json={"path": str(FIXTURE_CATALOG)}).status_code == 200
        command = [
            str(ST), "run", f"{server.url}/api/openapi.json",
            "--checks", "not_a_server_error",
            "--seed", str(SEED),
            "--max-examples", str(EXAMPLES),
            "--header", f"Authorization: Bearer {token}",
            "--workers", "1",
            "--no-color",
        ]  # fmt: skip
        for operation in SKIPPED:
            command += ["--exclude-operation-id", operation]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert run.returncode == 0, f"{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
        assert "Traceback" not in server.log(), server.log()[-6000:]
    finally:
        server.stop()
