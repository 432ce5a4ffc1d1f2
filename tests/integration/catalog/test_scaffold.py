"""`portal catalog new`: each shipped template makes an item that passes the catalog's checks, runs in the job
sandbox as it is (`portal catalog run`), imports (`portal catalog import-local`) and passes its own item tests;
bad ids, unknown templates and existing folders are refused with one line and nothing written."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.catalog import scaffold
from portal.catalog.validate import check_folder
from tests.helpers import PORTAL, PortalServer, wait_until

TEMPLATE_NAMES = [t.name for t in scaffold.TEMPLATES]


def portal(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The `portal` command run in `cwd`, with a data directory of its own."""
    env = {**os.environ, "PORTAL_DATA_DIR": str(cwd / "data")}
    return subprocess.run([PORTAL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def run_item(cwd: Path, folder: Path, inputs: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], Any]:
    """`portal catalog run FOLDER --inputs ...`, and the result it printed after SUCCEEDED (None when it failed)."""
    done = portal(cwd, "catalog", "run", str(folder), "--inputs", json.dumps(inputs))
    _, succeeded, printed = done.stdout.partition("SUCCEEDED\n")
    return done, json.loads(printed) if succeeded else None


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[int]:
    """An HTTP server on the host's loopback: `/healthz` answers 200, anything else 503. Yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_list_names_every_shipped_template_with_a_line_each(tmp_path: Path) -> None:
    shipped = resources.files("portal.catalog").joinpath("templates")
    assert sorted(e.name for e in shipped.iterdir() if e.is_dir()) == sorted(TEMPLATE_NAMES)
    listed = portal(tmp_path, "catalog", "new", "--list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == TEMPLATE_NAMES
    assert all(len(line.split(maxsplit=1)[1]) > 20 for line in lines)
    assert not (tmp_path / "items").exists()


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_a_new_item_passes_the_catalog_checks(template: str, tmp_path: Path) -> None:
    item_id = f"my-{template}"
    made = portal(tmp_path, "catalog", "new", item_id, "--from", template)
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "items" / item_id / "1.0.0"
    assert f"created items/{item_id}/1.0.0 from the {template} template" in made.stdout
    assert f"portal catalog run items/{item_id}/1.0.0 --inputs" in made.stdout
    checked = check_folder(folder, expected_version="1.0.0", expected_id=item_id)
    assert checked.problems == []
    assert checked.manifest["id"] == item_id and checked.manifest["version"] == "1.0.0"
    assert checked.manifest["name"] == f"My {template.replace('-', ' ')}" == checked.schema["title"]
    assert checked.readme.startswith(f"# {item_id} 1.0.0\n") and checked.ui and checked.tests
    assert {"manifest.yaml", "schema.json", "ui.json", "task.py", "README.md"} <= set(os.listdir(folder))
    for path in folder.rglob("*"):
        # Readable by the job's own uid whatever the umask (`portal` itself runs with 077).
        assert (path.stat().st_mode & 0o777) == (0o755 if path.is_dir() else 0o644), path
        assert path.is_dir() or "__ITEM_" not in path.read_text(), path
    source = (folder / "task.py").read_text()
    assert "def validate(inputs)" in source and "progress_callback(" in source


@pytest.mark.parametrize("template", ["basic", "shell-script"])
def test_a_new_item_runs_in_the_sandbox_as_it_is(template: str, tmp_path: Path) -> None:
    scaffold.create("first-run", tmp_path / "items", template=template)
    folder = tmp_path / "items" / "first-run" / "1.0.0"
    done, result = run_item(tmp_path, folder, scaffold.template_named(template).example)
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["target"] == "web-01" and result["dry_run"] is True
    assert "[100%] Done" in done.stdout and "stdout | " in done.stdout  # progress and log lines
    changed, result = run_item(tmp_path, folder, {"target": "DB-2", "dry_run": False})
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert result["target"] == "db-2"  # validate() lowercased it
    refused = run_item(tmp_path, folder, {"target": "localhost"})[0]
    assert refused.returncode == 1 and "REJECTED target: 'localhost'" in refused.stdout


def test_the_shell_script_template_fails_the_job_when_its_script_fails(tmp_path: Path) -> None:
    folder = scaffold.create("scripted", tmp_path / "items", template="shell-script").path
    script = folder / "script.sh"
    failing = 'echo "no route to $INPUT_TARGET"\nexit 3'
    script.write_text(script.read_text().replace('echo "PROGRESS 100 Done"', failing))
    failed, _ = run_item(tmp_path, folder, {"target": "web-01"})
    assert failed.returncode == 1
    assert "FAILED RuntimeError: script.sh exited with status 3: no route to web-01" in failed.stdout


def test_the_http_check_template_needs_its_port_declared_then_checks(endpoint: int, tmp_path: Path) -> None:
    folder = scaffold.create("web-probe", tmp_path / "items", template="http-check").path
    healthz, broken = f"http://127.0.0.1:{endpoint}/healthz", f"http://127.0.0.1:{endpoint}/broken"
    # As it is, the item may reach ports 80 and 443 only: the sandbox refuses this one, and says what to do.
    done, result = run_item(tmp_path, folder, {"urls": [healthz], "fail_if_down": False})
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["healthy"] == 0 and result["down"] == 1
    assert "list the port under network.tcp_ports" in result["checks"][0]["error"]
    # Declared, the same check reaches the endpoint.
    manifest = folder / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("tcp_ports: [80, 443]", f"tcp_ports: [80, 443, {endpoint}]"))
    assert check_folder(folder).problems == []
    done, result = run_item(tmp_path, folder, {"urls": [f"  {healthz} "]})
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["healthy"] == 1 and result["down"] == 0
    assert result["checks"][0]["url"] == healthz and result["checks"][0]["status"] == 200
    assert "[100%] Checked 1 of 1" in done.stdout and f"stdout | {healthz} -> 200" in done.stdout
    down, _ = run_item(tmp_path, folder, {"urls": [healthz, broken]})
    assert down.returncode == 1
    assert f"FAILED RuntimeError: 1 of 2 endpoint(s) down: {broken}: status 503, expected 200" in down.stdout
    secret = run_item(tmp_path, folder, {"urls": ["https://ops:hunter2hunter2@example.com/"]})[0]
    assert secret.returncode == 1 and "REJECTED urls[0]: remove the user name and password" in secret.stdout
    assert "hunter2hunter2" not in secret.stdout


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_a_new_item_imports_and_passes_its_item_tests(
    template: str, tmp_path: Path, server: PortalServer, tokens: dict[str, str]
) -> None:
    item_id = f"new-{template}-{uuid.uuid4().hex[:6]}"
    made = scaffold.create(item_id, tmp_path / "items", template=template)
    imported = server.cli("catalog", "import-local", str(made.path))
    assert imported.returncode == 0, imported.stderr
    assert f"{item_id} 1.0.0" in imported.stdout
    tests_url = f"/api/admin/catalog/items/{item_id}/versions/1.0.0/tests"
    with server.client(tokens["admin"]) as admin:
        started = admin.post(tests_url)
        assert started.status_code == 202, started.text

        def ended() -> bool:
            response: httpx.Response = admin.get(tests_url)
            return response.json()["passed"] is not None

        assert wait_until(ended, timeout=60)
        found = admin.get(tests_url).json()
    cases = {c["name"]: (c["passed"], c["reason"]) for c in found["cases"]}
    shipped = {p.stem for p in (made.path / "tests").glob("*.json")}
    assert set(cases) == shipped and len(shipped) >= 2
    assert found["passed"] is True, cases


@pytest.mark.parametrize("item_id", ["Bad_ID", "x", "-leading-dash", "a" * 64, "spaced id"])
def test_a_bad_item_id_is_refused_and_nothing_written(item_id: str, tmp_path: Path) -> None:
    refused = portal(tmp_path, "catalog", "new", "--", item_id)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: {item_id!r} is not a valid item id: 2-63 lowercase letters, digits or '-', "
        "starting with a letter or digit (e.g. disk-report)\n"
    )
    assert not (tmp_path / "items").exists()


def test_an_unknown_template_or_version_is_refused_and_nothing_written(tmp_path: Path) -> None:
    unknown = portal(tmp_path, "catalog", "new", "my-item", "--from", "jinja")
    assert unknown.returncode == 1
    assert unknown.stderr == "error: unknown template 'jinja': choose one of basic, http-check, shell-script\n"
    bad_version = portal(tmp_path, "catalog", "new", "my-item", "--version", "1.0")
    assert bad_version.returncode == 1 and bad_version.stderr.count("\n") == 1
    assert "'1.0' is not a semantic version" in bad_version.stderr
    missing = portal(tmp_path, "catalog", "new")
    assert missing.returncode == 2 and "give the new item's id" in missing.stderr
    assert not (tmp_path / "items").exists()


def test_an_existing_folder_is_refused_unless_forced(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    made = portal(tmp_path, "catalog", "new", "my-item", "--dir", str(root), "--version", "2.1.0")
    assert made.returncode == 0, made.stderr
    folder = root / "my-item" / "2.1.0"
    (folder / "task.py").write_text("def run(inputs):\n    return {'edited': True}\n")
    (folder / "notes.txt").write_text("mine")
    before = snapshot(root)
    refused = portal(tmp_path, "catalog", "new", "my-item", "--dir", str(root), "--version", "2.1.0")
    assert refused.returncode == 1
    assert refused.stderr == f"error: {folder} already exists (--force writes the template's files over it)\n"
    assert snapshot(root) == before
    other = portal(tmp_path, "catalog", "new", "my-item", "--dir", str(root), "--from", "http-check")
    assert other.returncode == 0 and (root / "my-item" / "1.0.0" / "manifest.yaml").is_file()  # another version
    forced = portal(tmp_path, "catalog", "new", "my-item", "--dir", str(root), "--version", "2.1.0", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "left as they were (not the template's): notes.txt\n" in forced.stdout
    assert "def validate(inputs)" in (folder / "task.py").read_text()
    assert (folder / "notes.txt").read_text() == "mine"  # not the template's: left alone
    assert check_folder(folder, expected_version="2.1.0", expected_id="my-item").problems == []


def test_a_file_in_the_way_is_refused_even_when_forced(tmp_path: Path) -> None:
    (tmp_path / "items").write_text("not a folder")
    refused = portal(tmp_path, "catalog", "new", "my-item", "--force")
    assert refused.returncode == 1 and refused.stderr == "error: items exists and is not a folder\n"


@pytest.mark.parametrize("item_id", ["no", "null", "0x1f", "2024-01-01", "12"])
def test_ids_yaml_would_read_as_other_types_still_make_valid_manifests(item_id: str, tmp_path: Path) -> None:
    made = scaffold.create(item_id, tmp_path)
    checked = check_folder(made.path, expected_version="1.0.0", expected_id=item_id)
    assert checked.problems == [] and checked.manifest["id"] == item_id
