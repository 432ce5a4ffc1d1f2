"""Job submission is limited per user (a runaway script or a stuck button cannot flood the queue): beyond
PORTAL_JOB_SUBMIT_RATE_PER_MINUTE a user's submissions get 429 with Retry-After, other users' do not."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PASSWORD
from tests.helpers import FIXTURE_CATALOG, PortalServer


def test_a_users_submissions_beyond_the_limit_get_429_and_others_still_submit(tmp_path: Path) -> None:
    server = PortalServer(tmp_path / "data", {"PORTAL_JOB_SUBMIT_RATE_PER_MINUTE": "5", "PORTAL_WORKER_SLOTS": "0"})
    server.start()
    try:
        with server.client(server.token_for("admin")) as admin:
            assert admin.post("/api/catalog/local/import", json={"path": str(FIXTURE_CATALOG)}).status_code == 200
            for name in ("flooder", "neighbour"):
                body = {"username": name, "role": "requester", "password": PASSWORD}
                assert admin.post("/api/admin/users", json=body).status_code == 201
        job = {"item_id": "noop", "inputs": {}}
        with (
            server.client(server.token_for("flooder")) as flooder,
            server.client(server.token_for("neighbour")) as other,
        ):
            accepted = [flooder.post("/api/jobs", json=job) for _ in range(5)]
            assert [a.status_code for a in accepted] == [201] * 5
            refused = flooder.post("/api/jobs", json=job)
            assert refused.status_code == 429, refused.text
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            assert refused.json()["error"]["code"] == "rate_limited"
            # A retry is a submission too.
            cancelled = flooder.post(f"/api/jobs/{accepted[0].json()['id']}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            assert flooder.post(f"/api/jobs/{accepted[0].json()['id']}/retry").status_code == 429
            assert other.post("/api/jobs", json=job).status_code == 201
            total = flooder.get("/api/jobs").json()["total"]
            assert total == 5  # nothing refused was queued
    finally:
        server.stop()
