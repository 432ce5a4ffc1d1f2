"""What an hour-long chatty job stores, and what each progress report costs, with the timeline sampled.

In process, on SQLite in a fresh data directory: one queued job, then an hour of progress reports at the
runner's default rate (10 a second, 36,000 reports with their times an hour apart) through the job service's
`history.store_progress`, each in a transaction of its own as the worker writes them. The floor is the same
number of reports stored the way they were before, one event row each (timed over the first 3,600 of them,
its size counted on all). Before the sampling, 20 s of a chatty job stored 203 events (228 KB) and an hour
about 40 MB.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from bench.common import CorrectnessError, data_dir, show, write_results
from portal.catalog import service as catalog_service
from portal.db import migrate
from portal.db import session as db
from portal.db.base import utcnow
from portal.identity.principal import SYSTEM
from portal.jobs import history
from portal.jobs import queries as jobs_queries
from portal.jobs import service as jobs_service
from portal.settings import Settings, use_settings

NAME = "history"
RATE = 10  # reports a second, the runner's default PORTAL_JOB_PROGRESS_PER_SECOND
SECONDS = 3600
FLOOR_REPORTS = 3600
ITEM = {
    "manifest.yaml": "id: long\nname: long\nversion: 1.0.0\nentrypoint: task.py\n",
    "task.py": "def run(i):\n    return 1\n",
}


def _bytes(job_id: int) -> tuple[int, int]:
    """(events, bytes of their JSON as the API pages them)."""
    events, after, size = 0, 0, 0
    while True:
        page = jobs_queries.get_events(SYSTEM, job_id, after, 1000)
        events += len(page.items)
        size += len(page.model_dump_json())
        if page.next_after is None:
            return events, size
        after = page.next_after


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    with data_dir(NAME) as data:
        settings = Settings(data_dir=data, catalog_load_examples=False)
        use_settings(settings)
        db.configure(settings)
        try:
            migrate.upgrade()
            folder = data / "items" / "long"
            folder.mkdir(parents=True)
            for name, text in {**ITEM, "schema.json": '{"type": "object"}'}.items():
                (folder / name).write_text(text)
            catalog_service.import_local(SYSTEM, str(data / "items"), enforce_roots=False)
            plain = jobs_service.create_job(SYSTEM, "long", "1.0.0", {}).id
            sampled = jobs_service.create_job(SYSTEM, "long", "1.0.0", {}).id
            started = utcnow()
            events_t = history.events_t

            begin = time.perf_counter()
            for n in range(FLOOR_REPORTS):
                with db.write() as s:
                    row = {"job_id": plain, "at": started + timedelta(seconds=n / RATE), "kind": "progress"}
                    s.connection().execute(insert(events_t), {**row, "progress": n % 100, "message": f"step {n}"})
            floor_each = (time.perf_counter() - begin) / FLOOR_REPORTS
            floor_events, floor_size = _bytes(plain)
            hour_size = floor_size * RATE * SECONDS / FLOOR_REPORTS

            begin = time.perf_counter()
            for n in range(RATE * SECONDS):
                with db.write() as s:
                    at = started + timedelta(seconds=n / RATE)
                    history.store_progress(
                        s.connection(), sampled, at, started, n * 100 // (RATE * SECONDS), f"step {n}"
                    )
            each = (time.perf_counter() - begin) / (RATE * SECONDS)
            events, size = _bytes(sampled)
        finally:
            db.dispose()
    limit = Settings().job_progress_events
    if events > limit + 1:  # the QUEUED transition, and at most the cap of progress events
        raise CorrectnessError(f"an hour of progress stored {events} events, more than {limit} and its transition")
    figures = {
        "reports": RATE * SECONDS,
        "stored_events": events,
        "stored_json_bytes": size,
        "unsampled_json_bytes_for_an_hour": int(hour_size),
        "per_report_ms": each * 1000,
        "floor_per_report_ms": floor_each * 1000,
        "ratio_per_report": each / floor_each,
    }
    show(f"[{NAME}] floor: one event row per report, {floor_each * 1000:.3f} ms each; {floor_events} reports "
         f"store {floor_size / 1024:.0f} KB, so an hour at {RATE}/s {hour_size / 1e6:.1f} MB")  # fmt: skip
    show(f"[{NAME}] sampled: {RATE * SECONDS:,} reports (an hour) store {events} events, {size / 1024:.1f} KB; "
         f"{each * 1000:.3f} ms a report, {each / floor_each:.2f}x the floor")  # fmt: skip
    show(f"[{NAME}] results in {write_results(NAME, figures)}")
    return figures
