"""Hostile but valid input: what the database or a JSON reader cannot take back is refused at the door (422, the
field named) or made storable, so that nothing accepted can make a later read fail."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.helpers import PortalServer, wait_for_job, ws

TOO_BIG = str(2**64)


def post_raw(client: httpx.Client, body: str) -> httpx.Response:
    return client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("inputs", "field", "message"),
    [
        ('{"x": "a\\ud800b"}', "x", "surrogate"),
        ('{"x": NaN}', "x", "finite"),
        ('{"x": [1, Infinity]}', "x[1]", "finite"),
        ('{"x": 1180591620717411303424}', "x", "64 bits"),
        ('{"x": ' + "[" * 70 + "1" + "]" * 70 + "}", None, "deeper"),
        ('{"k\\udfff": 1}', "(root)", "surrogate"),
        ('{"x": "a\\u0000b"}', "x", "NUL"),
    ],
)
def test_inputs_the_database_cannot_serve_back_are_refused(
    requester: httpx.Client, inputs: str, field: str | None, message: str
) -> None:
    response = post_raw(requester, '{"item_id": "inspector", "inputs": ' + inputs + "}")
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert any(message in d["message"] and (field is None or d["field"] == field) for d in details), details


def test_ids_beyond_64_bits_are_422(admin: httpx.Client, server: PortalServer, tokens: dict[str, str]) -> None:
    for path in (f"/api/jobs/{TOO_BIG}", f"/api/jobs/{TOO_BIG}/logs", f"/api/admin/users/{TOO_BIG}"):
        assert admin.get(path).status_code == 422, path
    for path in (f"/api/admin/schedules/{TOO_BIG}/enable", f"/api/admin/schedules/{TOO_BIG}/disable"):
        assert admin.post(path).status_code == 422, path
    assert admin.get("/api/jobs/0").status_code == 422
    with pytest.raises(InvalidStatus) as refused, ws(server, f"/ws/jobs/{TOO_BIG}", tokens["admin"]):
        pass
    assert refused.value.response.status_code == 403  # refused like any job not found, not a server error


@pytest.mark.parametrize(
    ("kind", "state", "check"),
    [
        ("deep", "FAILED", lambda job: job["error"]["type"] == "ResultNotStorable"),
        ("bigint", "FAILED", lambda job: "64 bits" in job["error"]["message"]),
        ("surrogate", "SUCCEEDED", lambda job: job["result"] == {"text": "a\ufffdb", "key\ufffd": 1}),
        ("nul", "SUCCEEDED", lambda job: job["result"] == {"text": "a\ufffdb"}),
    ],
)
def test_a_result_that_could_not_be_served_back_is_refused_or_made_storable(
    requester: httpx.Client, admin: httpx.Client, kind: str, state: str, check: object
) -> None:
    created = requester.post("/api/jobs", json={"item_id": "hostile-result", "inputs": {"kind": kind}})
    assert created.status_code == 201, created.text
    job = wait_for_job(requester, created.json()["id"], {"SUCCEEDED", "FAILED"})
    assert job["state"] == state, job
    assert check(job), repr(job.get("error"))  # type: ignore[operator]
    for reader in (requester, admin):  # and everyone can read it back
        assert reader.get(f"/api/jobs/{job['id']}").status_code == 200
        assert reader.get("/api/jobs", params={"item_id": "hostile-result"}).status_code == 200
