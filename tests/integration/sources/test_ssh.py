"""A private Git source over SSH with a deploy key: a real sshd started here (its own host key, port and
authorized_keys; nothing of the machine's SSH setup is used) serves a repository only to that key. The probe and a
refresh reach it with the key named by an admin secret and the host key from PORTAL_GIT_SSH_KNOWN_HOSTS; without
the key, or against an unknown host key, they fail with a message; the key is in no response, job or log."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PortalServer, free_port, git, wait_for_job, wait_until
from tests.integration.sources.test_refresh import write_item

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
pytestmark = pytest.mark.skipif(SSHD is None, reason="sshd is not installed here (apt-get install openssh-server)")


def keygen(path: Path) -> str:
    """A new ed25519 key pair at `path` (no passphrase); its public half."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """sshd on a free port of 127.0.0.1 that lets the deploy key in as the current user, with a bare repository
    tagged ssh-item@1.0.0."""
    root = tmp_path_factory.mktemp("ssh")
    host_public = keygen(root / "host_key")
    deploy_public = keygen(root / "deploy_key")
    (root / "authorized_keys").write_text(deploy_public + "\n")
    work = root / "work"
    git(work.parent, "init", "-q", str(work))
    write_item(work / "items" / "ssh-item", "ssh-item", "1.0.0")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "first")
    git(work, "tag", "ssh-item@1.0.0")
    git(root, "clone", "-q", "--bare", str(work), str(root / "catalog.git"))
    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\nPidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nLogLevel VERBOSE\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    log = root / "sshd.log"
    process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=log.open("wb"))
    assert wait_until(lambda: "listening on" in log.read_text() or process.poll() is not None, timeout=10)
    assert process.poll() is None, log.read_text()
    known_hosts = root / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public}\n")
    try:
        yield {
            "url": f"ssh://{getpass.getuser()}@127.0.0.1:{port}{root / 'catalog.git'}",
            "key": (root / "deploy_key").read_text(),
            "known_hosts": known_hosts,
            "log": log,
        }
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, ssh_server: dict[str, Any]) -> Iterator[PortalServer]:
    env = {"PORTAL_GIT_SSH_KNOWN_HOSTS": str(ssh_server["known_hosts"]), "PORTAL_WORKER_SLOTS": "1"}
    server = PortalServer(tmp_path_factory.mktemp("ssh-portal"), env).start()
    try:
        yield server
    finally:
        server.stop()


def doc(*sources: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "portal/v1", "kind": "CatalogSources", "sources": list(sources)}


def test_probe_and_refresh_of_a_private_repository_over_ssh_with_a_deploy_key(
    portal: PortalServer, ssh_server: dict[str, Any]
) -> None:
    key: str = ssh_server["key"]
    key_body = key.splitlines()[1]  # a line of the key's base64, which no output may hold
    source = {"id": "deploy", "type": "git", "url": ssh_server["url"], "poll_seconds": 0}
    with portal.client(portal.token_for("admin")) as admin:
        # Without the key the server refuses, and the probe says so against the URL.
        refused = admin.post("/api/admin/sources/validate?probe=true", json=doc(source)).json()
        assert not refused["valid"] and refused["errors"][0]["field"] == "sources[0].url", refused
        assert "git ls-remote failed: " in refused["errors"][0]["message"]
        assert "Permission denied (publickey)" in refused["errors"][0]["message"], refused
        assert admin.post("/api/admin/secrets", json={"name": "DEPLOY_KEY", "value": key}).status_code == 201
        keyed = {**source, "credentials": {"secret": "DEPLOY_KEY"}}
        answer = admin.post("/api/admin/sources/validate?probe=true", json=doc(keyed)).json()
        assert answer["valid"] and [layer["valid"] for layer in answer["layers"]] == [True] * 5, answer
        etag = admin.get("/api/admin/sources").headers["ETag"]
        saved = admin.put("/api/admin/sources?refresh=true", json=doc(keyed), headers={"If-Match": etag})
        assert saved.status_code == 200, saved.text
        job = wait_for_job(admin, saved.json()["refresh_jobs"][0], ("SUCCEEDED", "FAILED"))
        assert job["state"] == "SUCCEEDED", job
        read = admin.get("/api/admin/sources")
        status = read.json()["sources"][0]["status"]
        assert (status["versions_imported"], status["versions_failed"]) == (1, 0), status
        assert admin.get("/api/catalog/ssh-item").status_code == 200
        job_text = admin.get(f"/api/jobs/{job['id']}").text + admin.get(f"/api/jobs/{job['id']}/logs").text
        for text in (read.text, answer.__repr__(), job_text, portal.log()):
            assert key_body not in text
    # The deploy key is what let the refresh in (sshd's own log says so).
    assert "Accepted publickey" in ssh_server["log"].read_text()


def test_an_unknown_host_key_is_refused(tmp_path: Path, ssh_server: dict[str, Any]) -> None:
    """A portal that does not know the server's host key never connects, whatever key it holds."""
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    server = PortalServer(tmp_path / "data", {"PORTAL_GIT_SSH_KNOWN_HOSTS": str(empty)}).start()
    try:
        with server.client(server.token_for("admin")) as admin:
            assert admin.post("/api/admin/secrets", json={"name": "K", "value": ssh_server["key"]}).status_code == 201
            source = {"id": "deploy", "type": "git", "url": ssh_server["url"], "credentials": {"secret": "K"}}
            answer = admin.post("/api/admin/sources/validate?probe=true", json=doc(source)).json()
            assert not answer["valid"] and answer["errors"][0]["field"] == "sources[0].url", answer
            assert "host key" in answer["errors"][0]["message"].lower(), answer
    finally:
        server.stop()
