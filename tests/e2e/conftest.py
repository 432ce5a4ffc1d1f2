"""Browser tests: the built web app in the system Chromium (headless, driven by Playwright) against a real server.

The server has a fresh data directory of its own. Screenshots of each main page go to test-output/e2e/.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests import services
from tests.browser import CHROMIUM_ARGS, find_chromium
from tests.helpers import EXAMPLES, FIXTURE_CATALOG, PortalServer

ROOT = Path(__file__).resolve().parents[2]
WEB_INDEX = ROOT / "src" / "portal" / "web" / "index.html"
SCREENSHOTS = ROOT / "test-output" / "e2e"
PASSWORD = "e2e-password-123"
USERS = {
    "alice": "requester",
    "bob": "requester",
    "olga": "operator",
    "paul": "publisher",
    "ada": "admin",
    "vera": "viewer",
}
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def sources_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder under the allowed roots of the browser tests' portal, for the sources a test writes."""
    return tmp_path_factory.mktemp("e2e-sources")


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory, sources_root: Path) -> Iterator[PortalServer]:
    if not WEB_INDEX.is_file():
        services.unavailable("the web app is not built (make web)")
    portal = PortalServer(
        tmp_path_factory.mktemp("portal-e2e"),
        env={
            "PORTAL_CATALOG_LOCAL_ROOTS": f"{EXAMPLES},{FIXTURE_CATALOG},{sources_root}",
            "PORTAL_WORKER_SLOTS": "3",
            "PORTAL_GIT_ALLOW_FILE": "true",
            # Every progress report stored, however long a busy machine makes the run (the sampling spacing is
            # the run's age over half the cap): a short job gets a timeline longer than one page.
            "PORTAL_JOB_PROGRESS_PER_SECOND": "1000",
            "PORTAL_JOB_PROGRESS_EVENT_SECONDS": "0.001",
            "PORTAL_JOB_PROGRESS_EVENTS": "100000",
        },
    ).start()
    try:
        admin_token = portal.token_for("admin")
        with portal.client(admin_token) as admin:
            for name, role in USERS.items():
                response = admin.post("/api/admin/users", json={"username": name, "role": role, "password": PASSWORD})
                assert response.status_code == 201, response.text
            imported = admin.post("/api/catalog/local/import", json={"path": str(FIXTURE_CATALOG)})
            assert imported.status_code == 200, imported.text
        yield portal
    finally:
        portal.stop()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        services.unavailable("Chromium is not installed (apt-get install chromium)")
    browser = playwright_instance.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, web_server: PortalServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=web_server.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)
    yield ctx
    ctx.close()


def login(page: Page, username: str, password: str = PASSWORD, path: str = "/") -> None:
    """Log in through the form, starting from `path` (the app redirects to the login page and back)."""
    page.goto(path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(username)


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def api_client(server: PortalServer, username: str) -> AbstractContextManager[httpx.Client]:
    """An API client logged in as `username` (session cookie and CSRF header), for setting up a test."""
    return server.session(username, PASSWORD)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def axe_violations(page: Page) -> list[dict[str, object]]:
    """Serious and critical accessibility violations on the page, by axe-core."""
    # Evaluated through the debugging protocol, which the page's Content-Security-Policy does not restrict.
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
