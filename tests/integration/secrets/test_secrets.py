"""Secrets and sensitive inputs: encrypted at rest, given only to jobs that declare them, masked everywhere."""

from __future__ import annotations

import json
import sqlite3

import httpx

from tests.helpers import PortalServer, collect, finished, wait_for_job, ws

TOKEN = "tok-ZX81-very-secret-value"
PASSWORD = "hunter2-correct-horse"
PIN = "9876"


def test_a_secret_reaches_only_its_job_and_is_masked_everywhere(
    server: PortalServer, tokens: dict[str, str], requester: httpx.Client, admin: httpx.Client, operator: httpx.Client
) -> None:
    inputs = {"user": "alice", "password": PASSWORD, "pin": PIN}
    not_granted = requester.post("/api/jobs", json={"item_id": "secretive", "inputs": inputs})
    assert not_granted.status_code == 409 and not_granted.json()["error"]["details"]["missing"] == ["API_TOKEN"]

    assert operator.post("/api/admin/secrets", json={"name": "API_TOKEN", "value": "x"}).status_code == 403
    created = admin.post(
        "/api/admin/secrets",
        json={"name": "API_TOKEN", "value": TOKEN, "description": "demo", "items": ["secretive"]},
    )
    assert created.status_code == 201, created.text
    # A bare item is granted the versions that exist now, spelled out.
    assert TOKEN not in created.text and created.json()["items"] == ["secretive@=1.0.0"]
    assert admin.post("/api/admin/secrets", json={"name": "API_TOKEN", "value": "y"}).status_code == 409
    assert admin.post("/api/admin/secrets", json={"name": "lower-case", "value": "y"}).status_code == 422
    listed = admin.get("/api/admin/secrets")
    assert TOKEN not in listed.text and [s["name"] for s in listed.json()] == ["API_TOKEN"]

    with ws(server, "/ws/jobs", tokens["req1"]) as stream:
        job_id = requester.post("/api/jobs", json={"item_id": "secretive", "inputs": inputs}).json()["id"]
        messages = collect(stream, finished(job_id))
    done = wait_for_job(requester, job_id, {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED", done["error"]
    assert done["result"] == {"user": "alice", "echo": ["***", "***"], "token_length": len(TOKEN)}
    assert done["inputs"] == {"user": "alice", "password": "***", "pin": "***"}
    assert sorted(done["masked_inputs"]) == ["password", "pin"] and done["secrets"] == ["API_TOKEN"]
    logs = requester.get(f"/api/jobs/{job_id}/logs").json()["items"]
    assert [line["line"] for line in logs] == ["token=*** password=*** pin=***"]
    assert any(e["message"] == "using ***" for e in done["events"])

    every_answer = [
        json.dumps(messages),
        requester.get(f"/api/jobs/{job_id}").text,
        requester.get("/api/jobs", params={"item_id": "secretive"}).text,
        admin.get("/api/admin/audit", params={"limit": 50}).text,
        httpx.get(f"{server.url}/metrics").text,
    ]
    for text in every_answer:
        assert TOKEN not in text and PASSWORD not in text and f"pin={PIN}" not in text

    with sqlite3.connect(server.data_dir / "portal.db") as db:
        sealed, stored = db.execute("SELECT sealed_inputs, inputs FROM jobs WHERE id = ?", (job_id,)).fetchone()
        (ciphertext,) = db.execute("SELECT ciphertext FROM secrets WHERE name = 'API_TOKEN'").fetchone()
    assert sealed is None  # wiped when the job finished
    assert PASSWORD not in stored and TOKEN not in ciphertext

    failing = requester.post("/api/jobs", json={"item_id": "secretive", "inputs": {**inputs, "fail": True}})
    failed = wait_for_job(requester, failing.json()["id"], {"SUCCEEDED", "FAILED"})
    assert failed["error"]["message"] == "could not log in with *** and ***"
    assert TOKEN not in json.dumps(failed) and PASSWORD not in json.dumps(failed)
    again = requester.post(f"/api/jobs/{failed['id']}/retry")
    assert again.status_code == 422
    assert sorted(d["field"] for d in again.json()["error"]["details"]) == ["password", "pin"]
    retried = requester.post(f"/api/jobs/{failed['id']}/retry", json={"inputs": inputs})
    assert retried.status_code == 201, retried.text
    assert wait_for_job(requester, retried.json()["id"], {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"

    short = requester.post("/api/jobs", json={"item_id": "secretive", "inputs": {**inputs, "password": "hunt3r"}})
    assert short.status_code == 422 and "hunt3r" not in short.text
    assert short.json()["error"]["details"][0]["field"] == "password"

    # Nothing at rest holds a value in clear: not the database (any table), not the server's log.
    with sqlite3.connect(server.data_dir / "portal.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored_bytes = b"".join(p.read_bytes() for p in server.data_dir.glob("portal.db*"))
    for value in (TOKEN, PASSWORD):
        assert value.encode() not in stored_bytes
        assert value not in server.log()

    revoked = admin.patch("/api/admin/secrets/API_TOKEN", json={"items": []})
    assert revoked.status_code == 200 and revoked.json()["items"] == []
    assert requester.post("/api/jobs", json={"item_id": "secretive", "inputs": inputs}).status_code == 409
    entries = admin.get("/api/admin/audit", params={"target_type": "secret"}).json()["items"]
    assert [e["action"] for e in entries[:2]] == ["secret.update", "secret.create"]
    assert (
        entries[0]["details"]["before"]["items"] == ["secretive@=1.0.0"]
        and entries[0]["details"]["after"]["items"] == []
    )
    assert admin.delete("/api/admin/secrets/API_TOKEN").status_code == 204
    assert admin.delete("/api/admin/secrets/API_TOKEN").status_code == 404
