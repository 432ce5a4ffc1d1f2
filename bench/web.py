"""Web: the first page load's bundle size (gzip), and the jobs page's responsiveness under live updates.

With 1,000 jobs stored and shown in the table (`/jobs?page_size=1000`), 20 running jobs each report progress
ten times a second; headless Chromium counts long tasks (over 50 ms) on the page in a 10 s window. The floor is
the same page in the same run with nothing running.
"""

from __future__ import annotations

import gzip
import random
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, WebSocket, sync_playwright
from tests.browser import CHROMIUM_ARGS, find_chromium

from bench.common import (
    BENCH_DIR,
    PORTAL_BIN,
    Server,
    auth,
    data_dir,
    insert_jobs,
    job_rows,
    show,
    write_results,
)

NAME = "web"
WEB_DIR = BENCH_DIR.parent / "src" / "portal" / "web"
TARGET_FIRST_LOAD_KB = 250.0
STORED_JOBS = 1_000
RUNNING_JOBS = 20
UPDATES_PER_SECOND = 10
WINDOW_SECONDS = 10.0
LONG_TASK_MS = 50.0
# Records every long task the page has; the scenario reads and clears the list around each window.
LONG_TASK_OBSERVER = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({ type: "longtask", buffered: true });
"""


def _gzip_kb(path: Path) -> float:
    return len(gzip.compress(path.read_bytes(), compresslevel=9)) / 1024


def bundle_sizes() -> dict[str, Any]:
    """Gzip sizes of what the first page load fetches (index.html, its script, styles and preloads) and of the rest."""
    index = WEB_DIR / "index.html"
    if not index.is_file():
        raise RuntimeError("the web app is not built: run `make web` first")
    html = index.read_text()
    first = ["index.html", *re.findall(r'(?:src|href)="/([^"]+\.(?:js|css))"', html)]
    lazy = sorted(
        p.relative_to(WEB_DIR).as_posix()
        for p in (WEB_DIR / "assets").iterdir()
        if p.relative_to(WEB_DIR).as_posix() not in first
    )
    first_kb = {name: round(_gzip_kb(WEB_DIR / name), 1) for name in first}
    lazy_kb = {name: round(_gzip_kb(WEB_DIR / name), 1) for name in lazy}
    return {"first_load": first_kb, "first_load_total_kb": round(sum(first_kb.values()), 1), "lazy": lazy_kb}


def _chromium() -> str:
    found = find_chromium()
    if found is None:
        raise RuntimeError("Chromium is not installed (apt-get install chromium)")
    return found


def _window(page: Page, frames: list[float]) -> dict[str, Any]:
    """Long tasks and WebSocket frames during one window of WINDOW_SECONDS."""
    page.evaluate("window.__longTasks = []")
    frames.clear()
    page.wait_for_timeout(WINDOW_SECONDS * 1000)
    durations: list[float] = page.evaluate("window.__longTasks")
    return {
        "long_tasks": len(durations),
        "longest_task_ms": round(max(durations, default=0.0), 1),
        "total_long_task_ms": round(sum(durations), 1),
        "ws_messages_per_second": round(len(frames) / WINDOW_SECONDS, 1),
    }


def _rows_running(page: Page) -> int:
    count: int = page.locator("tr[data-state=RUNNING]").count()
    return count


def responsiveness(data: Path) -> dict[str, Any]:
    """Stored jobs, a live table of all of them, and the long tasks with and without the running jobs."""
    with Server(data, worker_slots=0) as first:
        token = first.create_token()
    rng = random.Random(4)
    insert_jobs(data, [job_rows(rng, 0, STORED_JOBS, datetime.now(UTC), STORED_JOBS)])
    env = Server(data).env
    subprocess.run(
        [str(PORTAL_BIN), "catalog", "import-local", str(BENCH_DIR / "items")], env=env, check=True, capture_output=True
    )
    password = (data / "initial-admin-password").read_text().strip()
    with (
        # The runner passes on at most PORTAL_JOB_PROGRESS_PER_SECOND updates per job (10 by default), and
        # ticks that arrive a little early are folded into the next: allow twice that, so every tick goes out.
        Server(
            data,
            worker_slots=RUNNING_JOBS + 2,
            settings={"PORTAL_JOB_PROGRESS_PER_SECOND": str(2 * UPDATES_PER_SECOND)},
        ) as server,
        httpx.Client(base_url=server.base_url, headers=auth(token), timeout=30) as api,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=server.base_url, viewport={"width": 1440, "height": 900})
        page.add_init_script(LONG_TASK_OBSERVER)
        frames: list[float] = []

        def watch(socket: WebSocket) -> None:
            if socket.url.endswith("/ws/jobs"):
                socket.on("framereceived", lambda _payload: frames.append(time.monotonic()))

        page.on("websocket", watch)
        page.goto("/login?next=%2Fjobs%3Fpage_size%3D1000")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.locator(f"table[aria-rowcount='{STORED_JOBS + 1}']").wait_for()
        page.locator("[data-connection=open]").wait_for()
        page.wait_for_timeout(1000)
        idle = _window(page, frames)
        show(f"[{NAME}]   idle floor: {idle}")

        for _ in range(RUNNING_JOBS):
            created = api.post("/api/jobs", json={"item_id": "ticker", "inputs": {"seconds": 40}})
            created.raise_for_status()
        deadline = time.monotonic() + 30
        while _rows_running(page) < RUNNING_JOBS and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        running = _rows_running(page)
        rows = int(page.locator("table").get_attribute("aria-rowcount") or 1) - 1
        rendered = page.locator("tbody tr[data-job-id]").count()
        show(
            f"[{NAME}]   {running} running jobs among {rows} rows ({rendered} rendered); "
            f"measuring {WINDOW_SECONDS:.0f} s"
        )
        loaded = _window(page, frames)
        loaded.update(rows=rows, rendered_rows=rendered, running_rows=running)
        show(f"[{NAME}]   under load: {loaded}")
        for job in api.get("/api/jobs", params={"state": "RUNNING,QUEUED", "page_size": 100}).json()["items"]:
            api.post(f"/api/jobs/{job['id']}/cancel")
        browser.close()
    return {"idle": idle, "loaded": loaded}


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    sizes = bundle_sizes()
    total = sizes["first_load_total_kb"]
    show(f"[{NAME}] first page load: {total} KB gzip ({total / TARGET_FIRST_LOAD_KB:.2f}x the 250 KB target)")
    for name, kb in sizes["first_load"].items():
        show(f"[{NAME}]   {name}: {kb} KB")
    show(f"[{NAME}]   lazy chunks: {sizes['lazy']}")
    show(f"[{NAME}] {STORED_JOBS} jobs in the table, {RUNNING_JOBS} running at {UPDATES_PER_SECOND} updates/s each")
    with data_dir(NAME) as data:
        live = responsiveness(data)
    met = live["loaded"]["long_tasks"] == 0
    show(
        f"[{NAME}] long tasks > {LONG_TASK_MS:.0f} ms in {WINDOW_SECONDS:.0f} s: {live['loaded']['long_tasks']} "
        f"under load vs {live['idle']['long_tasks']} idle (target none: {'met' if met else 'missed'})"
    )
    figures = {"bundle": sizes, "live": live, "targets": {"first_load_kb": TARGET_FIRST_LOAD_KB, "long_tasks": 0}}
    write_results(NAME, figures)
    return figures
