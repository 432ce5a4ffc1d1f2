"""Scheduled runs over the API of a real server: validation, roles, audit, next runs across DST, sensitive inputs,
jobs created by the scheduler loop, and failures recorded on the schedule."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import FIXTURE_CATALOG, PortalServer, wait_for_job, wait_until

PASSWORD = "sched-pass-Quokka-42"


@pytest.fixture
def scratch_catalog(tmp_path: Path) -> Iterator[Path]:
    """A writable catalog folder under the allowed fixture root (removed afterwards)."""
    folder = FIXTURE_CATALOG / "scratch" / tmp_path.name
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(FIXTURE_CATALOG / "scratch")


def write_item(root: Path, item_id: str, version: str, schema: dict[str, Any], task: str) -> None:
    folder = root / "items" / item_id / version
    folder.mkdir(parents=True)
    (folder / "manifest.yaml").write_text(f"id: {item_id}\nname: {item_id}\nversion: {version}\nentrypoint: task.py\n")
    (folder / "schema.json").write_text(json.dumps(schema))
    (folder / "task.py").write_text(task)


def import_folder(client: httpx.Client, root: Path) -> None:
    response = client.post("/api/catalog/local/import", json={"path": str(root)})
    assert response.status_code == 200, response.text


def fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return sorted(d["field"] for d in response.json()["error"]["details"])


def audit_actions(admin: httpx.Client, schedule_id: int) -> list[str]:
    entries = admin.get("/api/admin/audit", params={"target_type": "schedule", "limit": 200}).json()["items"]
    return [e["action"] for e in reversed(entries) if e["target_id"] == str(schedule_id)]


def test_schedules_are_checked_field_by_field_and_need_the_right_role(
    admin: httpx.Client, operator: httpx.Client, requester: httpx.Client, viewer: httpx.Client
) -> None:
    base = {"name": "checks", "item_id": "noop", "cron": "0 9 * * *", "timezone": "Europe/Berlin"}
    assert fields(admin.get("/api/admin/schedules", params={"page": 2**63 + 1})) == ["page"]  # was a 500
    assert fields(admin.post("/api/admin/schedules", json={**base, "cron": "61 * * * *"})) == ["cron"]
    assert fields(admin.post("/api/admin/schedules", json={**base, "cron": "0 9 * *"})) == ["cron"]
    assert fields(admin.post("/api/admin/schedules", json={**base, "cron": "0 9 31 2 *"})) == ["cron"]
    assert fields(admin.post("/api/admin/schedules", json={**base, "timezone": "Mars/Olympus"})) == ["timezone"]
    both = admin.post("/api/admin/schedules", json={**base, "cron": "nope", "timezone": "Berlin"})
    assert fields(both) == ["cron", "timezone"]
    assert "timezone" in both.json()["error"]["message"]
    assert fields(admin.post("/api/admin/schedules", json={**base, "item_id": "no-such-item"})) == ["item_id"]
    assert fields(admin.post("/api/admin/schedules", json={**base, "version": "9.9.9"})) == ["version"]
    deprecated = admin.post("/api/admin/schedules", json={**base, "item_id": "backup-config", "version": "1.0.0"})
    assert fields(deprecated) == ["version"] and "deprecated" in deprecated.text
    bad_inputs = admin.post(
        "/api/admin/schedules",
        json={**base, "item_id": "backup-config", "version": "2.0.0", "inputs": {"devices": [], "bucket": "X"}},
    )
    assert sorted(set(fields(bad_inputs))) == ["inputs.bucket", "inputs.devices"]

    for client in (operator, requester, viewer):
        assert client.post("/api/admin/schedules", json=base).status_code == 403
    created = admin.post("/api/admin/schedules", json=base)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert admin.post("/api/admin/schedules", json={**base, "name": "CHECKS"}).json()["error"]["details"] == {
        "field": "name"
    }

    # Operators see schedules (they see and control every job) but cannot change them; requesters see nothing.
    assert operator.get(f"/api/admin/schedules/{schedule['id']}").status_code == 200
    assert any(s["id"] == schedule["id"] for s in operator.get("/api/admin/schedules").json()["items"])
    assert operator.post(f"/api/admin/schedules/{schedule['id']}/disable").status_code == 403
    assert operator.patch(f"/api/admin/schedules/{schedule['id']}", json={"cron": "0 8 * * *"}).status_code == 403
    assert operator.delete(f"/api/admin/schedules/{schedule['id']}").status_code == 403
    assert operator.post(f"/api/admin/schedules/{schedule['id']}/run").status_code == 403
    for client in (requester, viewer):
        assert client.get("/api/admin/schedules").status_code == 403
        assert client.get(f"/api/admin/schedules/{schedule['id']}").status_code == 403
    assert fields(admin.patch(f"/api/admin/schedules/{schedule['id']}", json={"timezone": "Nowhere/Land"})) == [
        "timezone"
    ]
    assert admin.delete(f"/api/admin/schedules/{schedule['id']}").status_code == 204
    assert admin.get(f"/api/admin/schedules/{schedule['id']}").status_code == 404


def test_next_runs_follow_the_time_zone_across_dst(admin: httpx.Client, operator: httpx.Client) -> None:
    # The last week of March and of October: each holds a change of Europe/Berlin's offset (CET <-> CEST).
    preview = operator.post(
        "/api/admin/schedules/preview", json={"cron": "0 9 25-31 3,10 *", "timezone": "Europe/Berlin", "count": 14}
    )
    assert preview.status_code == 200, preview.text
    runs = preview.json()["runs"]
    assert len(runs) == 14
    utc_hours = set()
    for run in runs:
        at = datetime.fromisoformat(run["at"])
        local = datetime.fromisoformat(run["local"])
        assert at == local and local.hour == 9 and local.minute == 0
        offset_hours = int(local.utcoffset().total_seconds() // 3600)  # type: ignore[union-attr]
        assert offset_hours in (1, 2) and at.hour == 9 - offset_hours
        utc_hours.add(at.hour)
    assert utc_hours == {7, 8}  # 08:00 UTC in winter, 07:00 UTC in summer

    assert fields(operator.post("/api/admin/schedules/preview", json={"cron": "0 9 * * *", "timezone": "CEST"})) == [
        "timezone"
    ]

    created = admin.post(
        "/api/admin/schedules",
        json={"name": "dst", "item_id": "noop", "cron": "0 9 * * *", "timezone": "Europe/Berlin", "enabled": False},
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["next_run_at"] is None and len(schedule["next_runs"]) == 5
    nxt = operator.get(f"/api/admin/schedules/{schedule['id']}/next", params={"count": 3}).json()
    assert [datetime.fromisoformat(r["local"]).hour for r in nxt["runs"]] == [9, 9, 9]
    assert operator.get(f"/api/admin/schedules/{schedule['id']}/next", params={"count": 500}).status_code == 422
    enabled = admin.post(f"/api/admin/schedules/{schedule['id']}/enable").json()
    assert enabled["enabled"] and enabled["next_run_at"] == enabled["next_runs"][0]["at"]
    assert admin.delete(f"/api/admin/schedules/{schedule['id']}").status_code == 204


def test_a_schedule_due_every_two_seconds_creates_one_job_per_tick(admin: httpx.Client, server: PortalServer) -> None:
    created = admin.post(
        "/api/admin/schedules",
        json={"name": "every two seconds", "item_id": "noop", "cron": "*/2 * * * * *", "timezone": "UTC"},
    )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]

    def ran_twice() -> bool:
        runs = admin.get(f"/api/admin/schedules/{schedule_id}").json()["recent_runs"]
        return len([r for r in runs if r["job_id"]]) >= 2

    assert wait_until(ran_twice, timeout=30, interval=0.2), server.log()
    disabled = admin.post(f"/api/admin/schedules/{schedule_id}/disable").json()
    assert disabled["enabled"] is False and disabled["next_run_at"] is None
    runs = disabled["recent_runs"]
    dues = [r["due_at"] for r in runs]
    assert len(set(dues)) == len(dues)  # one run per tick
    assert all(datetime.fromisoformat(d).second % 2 == 0 for d in dues)
    assert all(r["error"] is None and r["job_id"] for r in runs)
    assert disabled["last_job_id"] == runs[0]["job_id"] and disabled["last_error"] is None

    job = wait_for_job(admin, runs[-1]["job_id"], {"SUCCEEDED", "FAILED"})
    assert job["state"] == "SUCCEEDED" and job["item_id"] == "noop"
    assert job["created_by_name"] == "admin"  # the schedule's owner
    created_event = job["events"][0]
    assert f"created by schedule #{schedule_id} every two seconds" in created_event["message"]

    with sqlite3.connect(server.data_dir / "portal.db") as db:
        ticks, jobs, distinct_jobs = db.execute(
            "SELECT count(DISTINCT due_at), count(job_id), count(DISTINCT job_id) FROM schedule_runs"
            " WHERE schedule_id = ?",
            (schedule_id,),
        ).fetchone()
    assert ticks == jobs == distinct_jobs >= 2

    actions = audit_actions(admin, schedule_id)
    assert actions[0] == "schedule.create" and actions[-1] == "schedule.disable"
    assert actions.count("schedule.run") >= 2
    entries = admin.get("/api/admin/audit", params={"action": "schedule.run", "limit": 5}).json()["items"]
    assert entries[0]["actor_name"] == "scheduler" and entries[0]["details"]["runs_as"] == "admin"
    assert admin.delete(f"/api/admin/schedules/{schedule_id}").status_code == 204


def test_sensitive_inputs_are_sealed_and_a_broken_schedule_records_why(
    admin: httpx.Client, publisher: httpx.Client, server: PortalServer, scratch_catalog: Path
) -> None:
    properties: dict[str, Any] = {"user": {"type": "string"}, "password": {"type": "string", "format": "password"}}
    schema: dict[str, Any] = {"type": "object", "required": ["user", "password"], "properties": properties}
    task = f"def run(inputs):\n    return {{'user': inputs['user'], 'ok': inputs['password'] == {PASSWORD!r}}}\n"
    write_item(scratch_catalog, "sched-login", "1.0.0", schema, task)
    import_folder(publisher, scratch_catalog)

    body = {
        "name": "sealed",
        "item_id": "sched-login",
        "inputs": {"user": "alice", "password": PASSWORD},
        "cron": "0 3 * * *",
        "timezone": "America/New_York",
    }
    created = admin.post("/api/admin/schedules", json=body)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["inputs"] == {"user": "alice", "password": "***"} and schedule["masked_inputs"] == ["password"]
    assert PASSWORD not in created.text

    # "***" keeps the stored value; the job (run now) gets it in clear, and nothing shows it.
    patched = admin.patch(f"/api/admin/schedules/{schedule['id']}", json={"inputs": {"user": "bob", "password": "***"}})
    assert patched.status_code == 200, patched.text
    ran = admin.post(f"/api/admin/schedules/{schedule['id']}/run")
    assert ran.status_code == 201, ran.text
    job = wait_for_job(admin, ran.json()["id"], {"SUCCEEDED", "FAILED"})
    assert job["state"] == "SUCCEEDED" and job["result"] == {"user": "bob", "ok": True}
    assert job["inputs"]["password"] == "***"
    with sqlite3.connect(server.data_dir / "portal.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        stored, sealed = db.execute(
            "SELECT inputs, sealed_inputs FROM schedules WHERE id = ?", (schedule["id"],)
        ).fetchone()
    assert PASSWORD not in stored and sealed and PASSWORD not in sealed
    assert PASSWORD.encode() not in b"".join(p.read_bytes() for p in server.data_dir.glob("portal.db*"))
    assert PASSWORD not in admin.get("/api/admin/audit", params={"target_type": "schedule"}).text
    assert audit_actions(admin, schedule["id"]) == ["schedule.create", "schedule.update", "schedule.run_now"]
    update_entry = admin.get("/api/admin/audit", params={"action": "schedule.update", "limit": 1}).json()["items"][0]
    assert update_entry["details"]["before"]["inputs"]["user"] == "alice"
    assert update_entry["details"]["after"]["inputs"]["user"] == "bob"

    # A new latest version whose schema the stored inputs no longer satisfy: the tick fails, says why, and
    # the loop goes on; the audit log gets one entry for the streak. The password is no longer marked
    # sensitive there and its value breaks the new type: the error names the field but never quotes it.
    write_item(
        scratch_catalog,
        "sched-login",
        "2.0.0",
        {**schema, "properties": {"user": {"type": "integer"}, "password": {"type": "integer"}}},
        task,
    )
    import_folder(publisher, scratch_catalog)
    failing = admin.patch(f"/api/admin/schedules/{schedule['id']}", json={"cron": "* * * * * *"})
    assert failing.status_code == 200, failing.text

    def failed_twice() -> bool:
        detail = admin.get(f"/api/admin/schedules/{schedule['id']}").json()
        return len([r for r in detail["recent_runs"] if r["error"]]) >= 2

    assert wait_until(failed_twice, timeout=30, interval=0.2), server.log()
    detail = admin.post(f"/api/admin/schedules/{schedule['id']}/disable").json()
    assert "inputs.user" in detail["last_error"] and detail["last_error_at"]
    assert "inputs.password" in detail["last_error"] and PASSWORD not in detail["last_error"]
    assert all(r["job_id"] is None for r in detail["recent_runs"])
    assert detail["last_job_id"] is None  # run now does not count as a tick
    actions = audit_actions(admin, schedule["id"])
    assert actions.count("schedule.run_failed") == 1 and "schedule.run" not in actions
    failed_entry = admin.get("/api/admin/audit", params={"action": "schedule.run_failed", "limit": 1}).json()
    assert "inputs.user" in failed_entry["items"][0]["details"]["error"]
    assert PASSWORD not in json.dumps(detail) and PASSWORD not in json.dumps(failed_entry)
    assert PASSWORD not in server.log()
    assert admin.delete(f"/api/admin/schedules/{schedule['id']}").status_code == 204


def test_a_schedule_stops_when_its_owner_is_no_longer_an_admin(admin: httpx.Client, server: PortalServer) -> None:
    created_user = admin.post("/api/admin/users", json={"username": "sched-owner", "role": "admin"})
    assert created_user.status_code == 201, created_user.text
    owner_id = created_user.json()["user"]["id"]
    with server.client(server.token_for("sched-owner")) as owner:
        created = owner.post(
            "/api/admin/schedules",
            json={"name": "owned", "item_id": "noop", "cron": "* * * * * *", "timezone": "UTC"},
        )
        assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    assert created.json()["owner"] == "sched-owner"
    assert admin.patch(f"/api/admin/users/{owner_id}", json={"role": "operator"}).status_code == 200

    def refused() -> bool:
        runs = admin.get(f"/api/admin/schedules/{schedule_id}").json()["recent_runs"]
        return any("no longer an admin" in (r["error"] or "") for r in runs)

    assert wait_until(refused, timeout=30, interval=0.2), server.log()
    # An admin who saves the schedule takes it over: its jobs run as them from the next tick on.
    taken = admin.patch(f"/api/admin/schedules/{schedule_id}", json={"description": "taken over"}).json()
    assert taken["owner"] == "admin"

    def ran_as_admin() -> bool:
        detail = admin.get(f"/api/admin/schedules/{schedule_id}").json()
        return detail["last_error"] is None and detail["recent_runs"][0]["job_id"] is not None

    assert wait_until(ran_as_admin, timeout=30, interval=0.2), server.log()
    detail = admin.post(f"/api/admin/schedules/{schedule_id}/disable").json()
    job = admin.get(f"/api/jobs/{detail['last_job_id']}").json()
    assert job["created_by_name"] == "admin"
    assert admin.delete(f"/api/admin/schedules/{schedule_id}").status_code == 204
