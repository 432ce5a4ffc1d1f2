"""Secrets granted per version, attacked: a new version of an item must not get the item's secret until an admin
extends the grant, and a task that prints the secret encoded (base64, URL, hex) must not leak it."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from tests.helpers import targz, upload, wait_for_job

ITEM = "versioned-secret"
SECRET = "VERSIONED_TOKEN"
VALUE = "tok/en+with=special&chars-8841"
TASK = """import base64, os, urllib.parse


def run(inputs):
    token = os.environ.get("VERSIONED_TOKEN", "")
    basic = base64.b64encode(f"svc:{token}".encode()).decode()
    print(f"b64={base64.b64encode(token.encode()).decode()} url={urllib.parse.quote(token, safe='')}")
    print(f"hex={token.encode().hex()} plus={urllib.parse.quote_plus(token)}")
    print(f"Authorization: Basic {basic}")
    return {"urlsafe": base64.urlsafe_b64encode(token.encode()).decode(), "basic": basic, "has": bool(token)}
"""


def publish(admin: httpx.Client, version: str, task: str = TASK, **form: str) -> None:
    manifest = f"id: {ITEM}\nname: {ITEM}\nversion: {version}\nentrypoint: task.py\nsecrets: [{SECRET}]\n"
    files = {"manifest.yaml": manifest, "schema.json": '{"type": "object"}', "task.py": task}
    imported = upload(admin, targz(files), **form)
    assert imported.status_code == 200 and imported.json()["imported"], imported.text


def launch(client: httpx.Client, version: str) -> httpx.Response:
    return client.post("/api/jobs", json={"item_id": ITEM, "version": version, "inputs": {}})


def run(client: httpx.Client, version: str) -> dict[str, Any]:
    created = launch(client, version)
    assert created.status_code == 201, created.text
    return wait_for_job(client, created.json()["id"], {"SUCCEEDED", "FAILED"})


def refused(client: httpx.Client, version: str, resolved: str = "") -> dict[str, Any]:
    answer = launch(client, version)
    assert answer.status_code == 409, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["details"] == {"item_id": ITEM, "version": resolved or version, "missing": [SECRET]}, error
    return error


def grants(admin: httpx.Client) -> dict[str, Any]:
    secret: dict[str, Any] = next(s for s in admin.get("/api/admin/secrets").json() if s["name"] == SECRET)
    return secret


def encodings(value: str) -> list[str]:
    raw = value.encode()
    return [
        value,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        quote(value, safe=""),
        quote_plus(value),
        raw.hex(),
        base64.b64encode(f"svc:{value}".encode()).decode(),
    ]


def test_a_new_version_gets_the_secret_only_when_an_admin_extends_the_grant(
    admin: httpx.Client, requester: httpx.Client
) -> None:
    publish(admin, "1.0.0")
    created = admin.post("/api/admin/secrets", json={"name": SECRET, "value": VALUE, "items": [ITEM]})
    assert created.status_code == 201, created.text
    assert created.json()["items"] == [f"{ITEM}@=1.0.0"] and created.json()["uncovered"] == []

    first = run(requester, "1.0.0")
    assert first["state"] == "SUCCEEDED" and first["result"]["has"] is True, first
    shown = json.dumps(first) + json.dumps(requester.get(f"/api/jobs/{first['id']}/logs").json())
    for form in encodings(VALUE):
        assert form not in shown, form
    assert "b64=*** url=***" in shown and "Authorization: Basic " in shown

    # The publisher's next version asks for the same secret: it does not get it.
    publish(admin, "2.0.0")
    error = refused(requester, "2.0.0")
    assert "2.0.0" in error["message"] and SECRET in error["message"]
    refused(requester, "latest", "2.0.0")
    assert run(requester, "1.0.0")["state"] == "SUCCEEDED"  # the granted version still runs
    assert grants(admin)["uncovered"] == [{"item_id": ITEM, "version": "2.0.0"}]

    # An admin extends the grant to the versions that exist now (audited); the new version runs.
    assert requester.post(f"/api/admin/secrets/{SECRET}/extend", json={"items": [ITEM]}).status_code == 403
    extended = admin.post(f"/api/admin/secrets/{SECRET}/extend", json={"items": [ITEM]})
    assert extended.status_code == 200, extended.text
    assert extended.json()["items"] == [f"{ITEM}@=1.0.0 || =2.0.0"] and extended.json()["uncovered"] == []
    again = admin.post(f"/api/admin/secrets/{SECRET}/extend", json={"items": [ITEM]})
    assert again.json()["items"] == extended.json()["items"]  # extending twice changes nothing
    audited = admin.get("/api/admin/audit", params={"action": "secret.extend", "target_id": SECRET}).json()["items"]
    assert len(audited) == 1 and audited[0]["actor_name"] == "admin", audited  # once: the second changed nothing
    entry = audited[0]
    assert entry["details"]["before"]["items"] == [f"{ITEM}@=1.0.0"]
    assert VALUE not in json.dumps(entry)
    assert run(requester, "2.0.0")["state"] == "SUCCEEDED"

    # A range covers the versions it matches, future ones included, and nothing else.
    ranged = admin.patch(f"/api/admin/secrets/{SECRET}", json={"items": [f"{ITEM}@^2.0.0"]})
    assert ranged.status_code == 200 and ranged.json()["items"] == [f"{ITEM}@^2.0.0"], ranged.text
    refused(requester, "1.0.0")
    publish(admin, "2.1.0")
    assert run(requester, "2.1.0")["state"] == "SUCCEEDED"
    publish(admin, "3.0.0-rc.1")
    refused(requester, "3.0.0-rc.1")  # a prerelease of the next major is not in ^2.0.0

    # A grant approves code: the same version string with other code (a replace) is not covered, nor is a
    # version that differs by build metadata only, which semver would compare equal.
    pinned = admin.patch(f"/api/admin/secrets/{SECRET}", json={"items": [f"{ITEM}@=2.0.0"]})
    assert pinned.status_code == 200, pinned.text
    assert run(requester, "2.0.0")["state"] == "SUCCEEDED"
    publish(admin, "2.0.0", TASK + "\n# other code\n", replace="true")
    refused(requester, "2.0.0")
    assert {"item_id": ITEM, "version": "2.0.0"} in grants(admin)["uncovered"]
    publish(admin, "2.0.0+evil")
    refused(requester, "2.0.0+evil")
    assert {"item_id": ITEM, "version": "2.0.0+evil"} in grants(admin)["uncovered"]
    extended = admin.post(f"/api/admin/secrets/{SECRET}/extend", json={"items": [f"{ITEM}@=2.0.0"]})
    assert extended.status_code == 200, extended.text
    assert run(requester, "2.0.0")["state"] == "SUCCEEDED"  # the admin approved the new code
    refused(requester, "2.0.0+evil")

    admin.delete(f"/api/admin/secrets/{SECRET}")


def test_bad_grants_are_refused_naming_each_and_change_nothing(admin: httpx.Client) -> None:
    created = admin.post("/api/admin/secrets", json={"name": "GRANT_CHECKS", "value": "v4lue-x", "items": []})
    assert created.status_code == 201, created.text
    # Empty ranges and empty alternatives would mean every version to npm; a newline after an id is no id.
    bad = ["Not_An_Id", "secretive@not a range!", "never-imported", "secretive@", "secretive@||", "secretive@1.0.0 ||"]
    bad.append("secretive\n@=1.0.0")
    answer = admin.patch("/api/admin/secrets/GRANT_CHECKS", json={"items": ["secretive", *bad]})
    assert answer.status_code == 422, answer.text
    fields = [d["field"] for d in answer.json()["error"]["details"]]
    assert fields == [f"items[{n}]" for n in range(1, len(bad) + 1)], answer.json()
    assert "no versions yet" in answer.json()["error"]["details"][2]["message"]
    extend = admin.post("/api/admin/secrets/GRANT_CHECKS/extend", json={"items": ["secretive@>=1 <"]})
    assert extend.status_code == 422 and extend.json()["error"]["details"][0]["field"] == "items[0]"
    assert admin.post("/api/admin/secrets/GRANT_CHECKS/extend", json={"items": []}).status_code == 422
    assert admin.post("/api/admin/secrets/NO_SUCH/extend", json={"items": ["secretive"]}).status_code == 404
    assert next(s for s in admin.get("/api/admin/secrets").json() if s["name"] == "GRANT_CHECKS")["items"] == []
    assert admin.delete("/api/admin/secrets/GRANT_CHECKS").status_code == 204
