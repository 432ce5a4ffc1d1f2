"""The wheel carries the built web app: built from the files the Dockerfile builds from, installed alone (no
dependencies, no link to the sources) into a fresh virtual environment, and serving the UI from there.

It uses the web app already built into src/portal/web/ (`make web`, which `make test` runs first): without it the
test skips, and fails under CI=true. The fresh environment gets this one's site-packages through a .pth file for the
dependencies only, so `portal` itself can only come from the wheel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.helpers import ROOT, PortalServer
from tests.services import unavailable

WEB = ROOT / "src" / "portal" / "web"
WEB_INDEX = WEB / "index.html"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "init.js")


def require_web_build() -> None:
    if WEB_INDEX.is_file():
        return
    unavailable("the web app is not built into src/portal/web/ (run `make web`)")


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(map(str, command))}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built by pip (the build backend of pyproject.toml) from a copy of what the Dockerfile copies."""
    require_web_build()
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", out, source)
    wheels = list(out.glob("portal-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_the_wheel_carries_the_built_web_app(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        index = archive.read("portal/web/index.html").decode()
    assert index == WEB_INDEX.read_text(), "the wheel's index.html is not the one built into src/portal/web/"
    assert any(re.fullmatch(r"portal/web/assets/[^/]+\.js", name) for name in names), "no JavaScript asset"
    for name in SWAGGER_FILES:
        assert f"portal/web/api-docs/{name}" in names, f"Swagger UI's {name} is missing (/api/docs needs it)"
    # Every file of the build, whatever its folder or extension (package data is declared, not found by git).
    built = {f"portal/web/{path.relative_to(WEB).as_posix()}" for path in WEB.rglob("*") if path.is_file()}
    assert built <= names, f"missing from the wheel: {sorted(built - names)}"
    # The templates of `portal catalog new` are package data too.
    assert "portal/catalog/templates/basic/task.py.tmpl" in names, "the item templates are missing"
    # What index.html loads is in it.
    referenced = re.findall(r'(?:src|href)="/(assets/[^"]+)"', index)
    assert referenced, "index.html references no asset"
    for path in referenced:
        assert f"portal/web/{path}" in names, f"index.html loads /{path}, which the wheel lacks"


def test_the_installed_wheel_serves_the_ui(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site_packages = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # The dependencies: this environment's site-packages, after the fresh one's own (a .pth line adds a folder to
    # the path; the .pth files inside it, such as the editable install's link to src/, are not read).
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site_packages / "zz_portal_test_dependencies.pth").write_text("".join(f"{path}\n" for path in ours))
    pip = (sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check")
    run(*pip, "install", "-q", "--no-deps", "--no-index", wheel)

    env = {"PYTHONPATH": ""}
    where = subprocess.run(
        [str(python), "-c", "import portal.app; print(portal.app.WEB_DIR)"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert where.returncode == 0, where.stderr
    web_dir = Path(where.stdout.strip())
    assert web_dir == site_packages / "portal" / "web", f"portal is imported from {web_dir}, not from the wheel"

    server = PortalServer(tmp_path / "data", env=env, command=[str(venv / "bin" / "portal")])
    try:
        server.start()
        page = httpx.get(f"{server.url}/", timeout=10)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.text == (web_dir / "index.html").read_text() == WEB_INDEX.read_text()
        script = re.search(r'src="/(assets/[^"]+\.js)"', page.text)
        assert script, "index.html loads no script"
        asset = httpx.get(f"{server.url}/{script.group(1)}", timeout=10)
        assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
        swagger = httpx.get(f"{server.url}/api-docs/swagger-ui-bundle.js", timeout=10)
        assert swagger.status_code == 200 and len(swagger.content) > 100_000
    finally:
        server.stop()
