"""Catalog administration over the API: a version's lifecycle (draft, review by someone else, active, channels,
deprecated, archived, restored), illegal transitions, four eyes, and who may manage which item."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.helpers import PortalServer, item_files, targz, upload, wait_for_job, wait_until

ADMIN_API = "/api/admin/catalog/items"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def publish(client: httpx.Client, item_id: str, version: str, result: str = "ok", **form: str) -> dict[str, Any]:
    response = upload(client, targz(item_files(item_id, version, result), wrap=f"{item_id}-{version}/"), **form)
    assert response.status_code == 200, response.text
    return dict(response.json()["imported"][0])


def transition(client: httpx.Client, item_id: str, version: str, to: str, reason: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"to": to}
    if reason is not None:
        body["reason"] = reason
    return client.post(f"{ADMIN_API}/{item_id}/versions/{version}/transition", json=body)


def states(client: httpx.Client, item_id: str) -> dict[str, str]:
    detail = client.get(f"{ADMIN_API}/{item_id}").json()
    return {v["version"]: v["state"] for v in detail["versions"]}


def run(client: httpx.Client, item_id: str, version: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"item_id": item_id, "inputs": {}}
    if version is not None:
        body["version"] = version
    return client.post("/api/jobs", json=body)


@pytest.fixture
def second_publisher(server: PortalServer, admin: httpx.Client) -> Iterator[httpx.Client]:
    name = unique("pub")
    created = admin.post("/api/admin/users", json={"username": name, "role": "publisher", "password": PASSWORD})
    assert created.status_code == 201, created.text
    with server.client(server.token_for(name)) as client:
        yield client


def test_a_staged_release_from_draft_to_archived_and_back(
    publisher: httpx.Client, admin: httpx.Client, requester: httpx.Client
) -> None:
    item = unique("staged")
    assert publish(publisher, item, "1.0.0")["outcome"] == "imported"
    assert publish(publisher, item, "2.0.0", result="two", draft="true")["outcome"] == "imported"
    assert states(admin, item) == {"1.0.0": "active", "2.0.0": "draft"}
    refused = run(requester, item, "2.0.0")
    assert refused.status_code == 409 and "draft" in refused.json()["error"]["message"]
    assert requester.get(f"/api/catalog/{item}/latest/descriptor").json()["version"] == "1.0.0"

    assert transition(publisher, item, "2.0.0", "in_review").status_code == 200
    own = publisher.post(f"{ADMIN_API}/{item}/versions/2.0.0/review", json={"decision": "approve"})
    assert own.status_code == 403  # four eyes: not by its importer
    pending = admin.get("/api/admin/catalog/reviews").json()
    assert any(r["item_id"] == item and r["version"] == "2.0.0" for r in pending["to_review"])
    assert any(r["item_id"] == item for r in publisher.get("/api/admin/catalog/reviews").json()["mine"])
    approved = admin.post(f"{ADMIN_API}/{item}/versions/2.0.0/review", json={"decision": "approve", "reason": "ok"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "active" and approved.json()["reviewed_by"] == "admin"

    promoted = publisher.put(f"{ADMIN_API}/{item}/channels/stable", json={"version": "1.0.0", "reason": "soak 2.0"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["channels"] == {"stable": "1.0.0", "latest": "2.0.0"}
    job = run(requester, item, "stable")
    assert job.status_code == 201, job.text
    assert job.json()["item_version"] == "1.0.0"  # the job records the exact version
    assert wait_for_job(requester, job.json()["id"], {"SUCCEEDED"})["result"]["version"] == "1.0.0"
    assert requester.get(f"/api/catalog/{item}/stable/descriptor").json()["version"] == "1.0.0"

    deprecated = transition(publisher, item, "1.0.0", "deprecated", "use 2.0.0")
    assert deprecated.status_code == 200 and deprecated.json()["reason"] == "use 2.0.0"
    versions = {v["version"]: v for v in requester.get(f"/api/catalog/{item}/versions").json()}
    assert versions["1.0.0"]["deprecated"] == "use 2.0.0"
    assert run(requester, item, "1.0.0").status_code == 201  # deprecated still runs

    archived = transition(publisher, item, "1.0.0", "archived", "retired")
    assert archived.status_code == 200 and archived.json()["channels"] == []
    detail = admin.get(f"{ADMIN_API}/{item}").json()
    assert detail["channels"] == {"latest": "2.0.0"}  # archiving took it off stable
    assert [e["to_version"] for e in detail["channel_history"]][:2] == [None, "1.0.0"]
    assert run(requester, item, "1.0.0").status_code == 409
    assert "1.0.0" not in [v["version"] for v in requester.get(f"/api/catalog/{item}/versions").json()]

    wrong = transition(publisher, item, "1.0.0", "active")
    assert wrong.status_code == 409 and wrong.json()["error"]["details"]["restores_to"] == "deprecated"
    restored = transition(publisher, item, "1.0.0", "deprecated", "needed by an old schedule")
    assert restored.status_code == 200 and restored.json()["state"] == "deprecated"
    history = [(e["version"], e["from_state"], e["to_state"]) for e in detail["history"]]
    assert ("1.0.0", "deprecated", "archived") in history and ("2.0.0", "in_review", "active") in history
    audit = admin.get("/api/admin/audit", params={"target_id": f"{item}@1.0.0"}).json()["items"]
    moves = [e for e in audit if e["action"] == "catalog.version.transition"]
    assert moves and moves[0]["details"]["before"]["state"] == "archived"
    assert moves[0]["details"]["after"]["state"] == "deprecated"


def test_an_illegal_transition_is_a_409_naming_both_states(publisher: httpx.Client, admin: httpx.Client) -> None:
    item = unique("illegal")
    publish(publisher, item, "1.0.0")
    response = transition(publisher, item, "1.0.0", "in_review")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["details"]["from"] == "active" and error["details"]["to"] == "in_review"
    assert "active" in error["message"] and "in_review" in error["message"]
    assert transition(publisher, item, "1.0.0", "deprecated").status_code == 422  # a reason is required
    unknown = transition(publisher, item, "1.0.0", "gone")
    assert unknown.status_code == 409 and "not a lifecycle state" in unknown.json()["error"]["message"]
    assert states(admin, item) == {"1.0.0": "active"}  # nothing changed


def test_an_item_that_requires_review_starts_new_versions_in_review(
    publisher: httpx.Client, admin: httpx.Client, requester: httpx.Client
) -> None:
    item = unique("reviewed")
    publish(publisher, item, "1.0.0")
    policy = admin.patch(f"{ADMIN_API}/{item}", json={"review_policy": "required"})
    assert policy.status_code == 200 and policy.json()["review_required"] is True
    publish(publisher, item, "1.1.0")
    assert states(admin, item)["1.1.0"] == "in_review"
    assert run(requester, item, "1.1.0").status_code == 409
    # A replaced version (new content) waits for a review again, whatever it was.
    replaced = upload(publisher, targz(item_files(item, "1.0.0", "changed"), wrap="x/"), replace="true")
    assert replaced.status_code == 200, replaced.text
    assert states(admin, item)["1.0.0"] == "in_review"
    rejected = admin.post(f"{ADMIN_API}/{item}/versions/1.0.0/review", json={"decision": "reject"})
    assert rejected.status_code == 422  # a rejection needs a reason
    rejected = admin.post(
        f"{ADMIN_API}/{item}/versions/1.0.0/review", json={"decision": "reject", "reason": "what changed?"}
    )
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    # A draft under this policy cannot skip the review.
    publish(publisher, item, "2.0.0", draft="true")
    assert transition(publisher, item, "2.0.0", "active").status_code == 409


def test_a_publisher_is_refused_on_another_publishers_item(
    publisher: httpx.Client, second_publisher: httpx.Client, admin: httpx.Client
) -> None:
    item = unique("owned")
    publish(publisher, item, "1.0.0")
    detail = admin.get(f"{ADMIN_API}/{item}").json()
    assert detail["maintainers"] == ["pub1"]
    assert second_publisher.get(f"{ADMIN_API}/{item}").json()["may_manage"] is False
    assert transition(second_publisher, item, "1.0.0", "deprecated", "mine now").status_code == 403
    assert second_publisher.put(f"{ADMIN_API}/{item}/channels/stable", json={"version": "1.0.0"}).status_code == 403
    assert second_publisher.patch(f"{ADMIN_API}/{item}", json={"featured": True}).status_code == 403
    response = upload(second_publisher, targz(item_files(item, "1.1.0"), wrap="x/"))
    assert response.status_code == 403  # nor a new version of it
    assert publisher.patch(f"{ADMIN_API}/{item}", json={"maintainers": ["pub1"]}).status_code == 403  # admins only
    assert states(admin, item) == {"1.0.0": "active"}


def test_metadata_changes_without_a_new_bundle_and_is_audited(
    publisher: httpx.Client, admin: httpx.Client, viewer: httpx.Client
) -> None:
    item = unique("meta")
    publish(publisher, item, "1.0.0")
    changed = publisher.patch(
        f"{ADMIN_API}/{item}",
        json={"name": "Renamed", "tags": ["ops", "nightly"], "featured": True, "notice": "Maintenance on Friday"},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (
        body["name"] == "Renamed" and body["tags"] == ["ops", "nightly"] and body["notice"] == "Maintenance on Friday"
    )
    listed = {i["id"]: i for i in viewer.get("/api/catalog", params={"q": item}).json()["items"]}
    assert listed[item]["name"] == "Renamed"
    shown = viewer.get(f"/api/catalog/{item}").json()  # what the item page shows requesters
    assert shown["notice"] == "Maintenance on Friday" and shown["featured"] is True and shown["name"] == "Renamed"
    assert viewer.get(f"/api/catalog/{unique('missing')}").status_code == 404
    unreleased = unique("unreleased")
    publish(publisher, unreleased, "1.0.0", draft="true")
    assert viewer.get(f"/api/catalog/{unreleased}").status_code == 404  # as if it did not exist
    assert publisher.get(f"/api/catalog/{unreleased}").json()["latest_version"] is None
    publish(publisher, item, "1.1.0")  # a new version does not undo what was set
    assert admin.get(f"{ADMIN_API}/{item}").json()["name"] == "Renamed"
    cleared = publisher.patch(f"{ADMIN_API}/{item}", json={"name": None})
    assert cleared.json()["name"] == item  # the manifest's again
    entries = admin.get("/api/admin/audit", params={"target_id": item, "action": "catalog.item.update"}).json()
    first = entries["items"][-1]["details"]
    assert first["before"]["overrides"] == {} and first["after"]["overrides"]["name"] == "Renamed"


def test_featured_items_come_first_in_the_catalog(publisher: httpx.Client, viewer: httpx.Client) -> None:
    group = unique("feat")
    publish(publisher, f"{group}-a", "1.0.0")
    publish(publisher, f"{group}-b", "1.0.0")
    assert [i["id"] for i in viewer.get("/api/catalog", params={"q": group}).json()["items"]] == [
        f"{group}-a",
        f"{group}-b",
    ]
    assert publisher.patch(f"{ADMIN_API}/{group}-b", json={"featured": True}).status_code == 200
    assert [i["id"] for i in viewer.get("/api/catalog", params={"q": group}).json()["items"]] == [
        f"{group}-b",
        f"{group}-a",
    ]


def test_the_review_diff_shows_the_network_access_and_secrets_a_version_asks_for(
    publisher: httpx.Client, admin: httpx.Client
) -> None:
    item = unique("needs")
    stored, absent = (f"NEEDS_{uuid.uuid4().hex[:8].upper()}" for _ in range(2))
    assert admin.post("/api/admin/secrets", json={"name": stored, "value": "v", "items": []}).status_code == 201
    try:  # the secret store is the test server's, shared with other tests' files: leave it as found
        publish(publisher, item, "1.0.0")
        asks = f"secrets: [{stored}, {absent}]\nnetwork:\n  tcp_ports: [443]\n"
        data = targz(item_files(item, "2.0.0", extra_manifest=asks), wrap=f"{item}-2.0.0/")
        assert upload(publisher, data, draft="true").status_code == 200
        needs = admin.get(f"{ADMIN_API}/{item}/diff", params={"from": "1.0.0", "to": "2.0.0"}).json()["needs"]
        assert needs["from"] == {"network": None, "network_allowed": True, "secrets": {}, "approval": False}
        assert needs["to"]["network"] == {"tcp_ports": [443]} and needs["to"]["network_allowed"] is False
        assert needs["to"]["secrets"] == {stored: "not granted", absent: "missing"}
        assert needs["new_secrets"] == sorted([stored, absent]) and needs["network_widened"] is True
        granted = admin.patch(f"/api/admin/secrets/{stored}", json={"items": [f"{item}@2.0.0"]})
        assert granted.status_code == 200, granted.text
        needs = admin.get(f"{ADMIN_API}/{item}/diff", params={"from": "1.0.0", "to": "2.0.0"}).json()["needs"]
        assert needs["to"]["secrets"][stored] == "granted"
    finally:
        assert admin.delete(f"/api/admin/secrets/{stored}").status_code == 204


def test_a_review_compares_with_the_version_it_replaces_or_with_nothing(
    publisher: httpx.Client, admin: httpx.Client, second_publisher: httpx.Client
) -> None:
    item = unique("replaces")
    publish(publisher, item, "1.0.0", draft="true")
    publish(publisher, item, "1.1.0")
    publish(publisher, item, "2.0.0", result="two", draft="true")
    replaces = {v["version"]: v["replaces"] for v in admin.get(f"{ADMIN_API}/{item}").json()["versions"]}
    assert replaces == {"2.0.0": "1.1.0", "1.1.0": None, "1.0.0": None}  # a draft replaces nothing

    whole = admin.get(f"{ADMIN_API}/{item}/diff", params={"to": "2.0.0"})
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert body["from"] is None and body["to"] == "2.0.0"
    assert body["schema"]["changes"] == [] and body["schema"]["breaking"] is False
    assert {m["key"] for m in body["manifest"]} == {"id", "name", "version", "entrypoint"}
    assert all(m["from"] is None for m in body["manifest"])
    files = body["files"]
    assert files["removed"] == [] and files["changed"] == [] and files["unchanged"] == 0
    assert sorted(files["added"]) == ["README.md", "manifest.yaml", "schema.json", "task.py"]
    content = {f["path"]: f["diff"] for f in files["added_content"]}
    assert "+def run(inputs):" in content["task.py"] and "'two'" in content["task.py"]
    assert body["needs"]["from"] is None and body["needs"]["network_widened"] is False

    against = admin.get(f"{ADMIN_API}/{item}/diff", params={"from": "1.1.0", "to": "2.0.0"}).json()["files"]
    assert [f["path"] for f in against["changed"]] == ["manifest.yaml", "task.py"] and against["added_content"] == []
    assert admin.get(f"{ADMIN_API}/{item}/diff", params={"from": "", "to": "2.0.0"}).status_code == 422
    by_channel = admin.get(f"{ADMIN_API}/{item}/diff", params={"from": "latest", "to": "2.0.0"}).json()
    assert by_channel["from"] == "1.1.0"
    refused = second_publisher.get(f"{ADMIN_API}/{item}/diff", params={"to": "2.0.0"})
    assert refused.status_code == 403  # the whole version's files are for its maintainers
    assert admin.get(f"{ADMIN_API}/{item}/diff", params={"to": "9.9.9"}).status_code == 404


def test_channels_refuse_what_cannot_run_and_latest_is_computed(publisher: httpx.Client) -> None:
    item = unique("chan")
    publish(publisher, item, "1.0.0")
    publish(publisher, item, "2.0.0", draft="true")
    assert publisher.put(f"{ADMIN_API}/{item}/channels/latest", json={"version": "1.0.0"}).status_code == 409
    assert publisher.put(f"{ADMIN_API}/{item}/channels/canary", json={"version": "2.0.0"}).status_code == 409
    assert publisher.put(f"{ADMIN_API}/{item}/channels/1.0.0", json={"version": "1.0.0"}).status_code == 422
    canary = publisher.put(f"{ADMIN_API}/{item}/channels/canary", json={"version": "1.0.0"})
    assert canary.status_code == 200 and canary.json()["channels"]["canary"] == "1.0.0"
    removed = publisher.delete(f"{ADMIN_API}/{item}/channels/canary")
    assert removed.status_code == 200 and "canary" not in removed.json()["channels"]
    assert publisher.delete(f"{ADMIN_API}/{item}/channels/canary").status_code == 404
    assert run(publisher, item, "canary").status_code == 404


def test_the_admin_table_filters_and_counts(publisher: httpx.Client, admin: httpx.Client) -> None:
    item = unique("table")
    publish(publisher, item, "1.0.0")
    publish(publisher, item, "1.1.0", draft="true")
    page = admin.get(ADMIN_API, params={"q": item}).json()
    assert page["total"] == 1
    row = page["items"][0]
    assert row["states"] == {"active": 1, "draft": 1} and row["channels"] == {"latest": "1.0.0"}
    assert row["maintainers"] == ["pub1"] and row["may_manage"] is True
    assert admin.get(ADMIN_API, params={"q": item, "state": "archived"}).json()["total"] == 0
    assert admin.get(ADMIN_API, params={"q": item, "owner": "pub1"}).json()["total"] == 1
    assert admin.get(ADMIN_API, params={"sort": "nope"}).status_code == 422


def test_the_admin_table_pages_with_and_without_the_filters_on_lists(
    publisher: httpx.Client, admin: httpx.Client
) -> None:
    prefix = unique("paged")
    items = [f"{prefix}-{n}" for n in range(3)]
    for item in items:
        publish(publisher, item, "1.0.0")
    tagged = admin.patch(f"{ADMIN_API}/{items[2]}", json={"tags": ["paged"]})
    assert tagged.status_code == 200, tagged.text
    assert run(publisher, items[1]).status_code == 201
    pages = [admin.get(ADMIN_API, params={"q": prefix, "page_size": 2, "page": n}).json() for n in (1, 2)]
    assert [p["total"] for p in pages] == [3, 3]
    assert [r["id"] for p in pages for r in p["items"]] == items
    last_runs = {r["id"]: r["last_run_at"] for p in pages for r in p["items"]}
    assert last_runs[items[1]] is not None and last_runs[items[0]] is None and last_runs[items[2]] is None
    assert pages[0]["items"][1]["runs_30d"] == 1
    by_owner = [
        admin.get(ADMIN_API, params={"q": prefix, "owner": "pub1", "page_size": 2, "page": n}).json() for n in (1, 2)
    ]
    assert [p["total"] for p in by_owner] == [3, 3] and [r["id"] for p in by_owner for r in p["items"]] == items
    by_tag = admin.get(ADMIN_API, params={"q": prefix, "tag": "paged"}).json()
    assert by_tag["total"] == 1 and [r["id"] for r in by_tag["items"]] == [items[2]]


def schema_files(item_id: str, version: str, schema: dict[str, Any]) -> dict[str, str]:
    return {**item_files(item_id, version), "schema.json": json.dumps(schema)}


def test_a_breaking_schema_change_names_the_schedule_and_jobs_it_would_break(
    publisher: httpx.Client, admin: httpx.Client
) -> None:
    item = unique("evolving")
    old_schema = {"type": "object", "properties": {"host": {"type": "string"}, "port": {"type": "integer"}}}
    new_schema = {
        "type": "object",
        "properties": {"host": {"type": "string", "maxLength": 5}, "region": {"type": "string"}},
        "required": ["region"],
    }
    for version, schema in (("1.0.0", old_schema), ("2.0.0", new_schema)):
        data = targz(schema_files(item, version, schema), wrap=f"{item}-{version}/")
        assert upload(publisher, data, draft="true" if version == "2.0.0" else "false").status_code == 200
    schedule = admin.post(
        "/api/admin/schedules",
        json={
            "name": unique("nightly"),
            "item_id": item,
            "version": "latest",
            "inputs": {"host": "db-1"},
            "cron": "0 3 * * *",
        },
    )
    assert schedule.status_code == 201, schedule.text
    ok_job = admin.post("/api/jobs", json={"item_id": item, "inputs": {"host": "a", "port": 1}}).json()["id"]
    long_job = admin.post("/api/jobs", json={"item_id": item, "inputs": {"host": "far-too-long"}}).json()["id"]
    response = admin.get(f"{ADMIN_API}/{item}/diff", params={"from": "1.0.0", "to": "2.0.0"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"] == "1.0.0" and body["to"] == "2.0.0"
    found = {(c["path"], c["kind"], c["breaking"]) for c in body["schema"]["changes"]}
    assert ("region", "added", True) in found and ("host", "bound_tightened", True) in found
    assert ("port", "removed", False) in found
    assert body["schema"]["breaking"] is True
    affected = body["schema"]["affected"]
    assert [s["id"] for s in affected["schedules"]] == [schedule.json()["id"]]
    failing = {j["id"]: j for j in affected["jobs"]}
    assert set(failing) == {ok_job, long_job}  # both lack region; the long host fails its new bound too
    assert {e["field"] for e in failing[long_job]["errors"]} == {"host", "region"}
    assert affected["jobs_checked"] == 2 and affected["jobs_failing"] == 2
    changed = {f["path"]: f for f in body["files"]["changed"]}
    assert "schema.json" in changed and "+" in changed["schema.json"]["diff"]
    assert {"key": "version", "from": "1.0.0", "to": "2.0.0"} in body["manifest"]
    assert admin.get(f"{ADMIN_API}/{item}/diff", params={"from": "1.0.0", "to": "9.9.9"}).status_code == 404


def test_an_archived_version_is_purged_after_its_retention_and_its_jobs_keep_their_bundle(
    server: PortalServer, publisher: httpx.Client, requester: httpx.Client, admin: httpx.Client
) -> None:
    item = unique("purged")
    publish(publisher, item, "1.0.0")
    publish(publisher, item, "2.0.0")
    job = run(requester, item, "1.0.0").json()
    assert wait_for_job(requester, job["id"], {"SUCCEEDED"})["bundle_sha256"]
    assert transition(publisher, item, "1.0.0", "archived", "retired").status_code == 200
    # Not yet past the retention: nothing goes.
    assert f"{item}@1.0.0" not in server.cli("catalog", "purge-archived").stdout
    # Back-date the archiving beyond the retention, as time would.
    server.sql(
        "UPDATE catalog_versions SET status_changed_at = '2000-01-01 00:00:00' WHERE item_id = :i AND version = :v",
        i=item,
        v="1.0.0",
    )
    purged = server.cli("catalog", "purge-archived")
    assert purged.returncode == 0 and f"{item}@1.0.0" in purged.stdout
    assert set(states(admin, item)) == {"2.0.0"}
    bundle = requester.get(f"/api/jobs/{job['id']}/bundle")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/gzip"
    assert bundle.content[:2] == b"\x1f\x8b"
    assert requester.get(f"/api/catalog/{item}/1.0.0/descriptor").status_code == 404
    entries = admin.get("/api/admin/audit", params={"action": "catalog.version.purge", "target_id": f"{item}@1.0.0"})
    assert len(entries.json()["items"]) == 1


def dependent_files(item_id: str, version: str, dependencies: str) -> dict[str, str]:
    return item_files(item_id, version, extra_manifest=f"dependencies:\n{dependencies}")


def test_dependencies_are_resolved_at_import_shown_both_ways_and_guard_archiving(
    publisher: httpx.Client, admin: httpx.Client
) -> None:
    base, app = unique("base"), unique("app")
    missing = upload(publisher, targz(dependent_files(app, "1.0.0", f"  {base}: ^1.2\n"), wrap="x/"))
    assert missing.status_code == 422
    assert any(base in d["message"] for d in missing.json()["error"]["details"])
    assert admin.get(f"{ADMIN_API}/{app}").status_code == 404  # nothing was imported
    publish(publisher, base, "1.2.0")
    publish(publisher, base, "2.0.0")
    assert upload(publisher, targz(dependent_files(app, "1.0.0", f"  - {base}@^1.2\n"), wrap="x/")).status_code == 200
    versions = admin.get(f"{ADMIN_API}/{app}").json()["versions"]
    assert versions[0]["dependencies"] == [{"version": "1.0.0", "item_id": base, "range": "^1.2", "resolved": "1.2.0"}]
    used_by = admin.get(f"{ADMIN_API}/{base}").json()["used_by"]
    assert used_by == [{"item_id": app, "version": "1.0.0", "range": "^1.2", "satisfied_by": ["1.2.0"]}]
    graph = admin.get("/api/admin/catalog/dependencies").json()
    edge = {"from": f"{app}@1.0.0", "item_id": app, "version": "1.0.0", "to": base, "range": "^1.2"}
    edge["resolved"] = "1.2.0"
    assert edge in graph["edges"] and {app, base} <= set(graph["items"])

    refused = transition(publisher, base, "1.2.0", "archived", "old")
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["dependents"] == [f"{app}@1.0.0"]
    assert states(admin, base)["1.2.0"] == "active"
    assert transition(publisher, base, "2.0.0", "deprecated", "not used by anyone").status_code == 200
    confirmed = publisher.post(
        f"{ADMIN_API}/{base}/versions/1.2.0/transition",
        json={"to": "archived", "reason": "old", "confirm": [f"{app}@1.0.0"]},
    )
    assert confirmed.status_code == 200, confirmed.text
    bad = upload(publisher, targz(dependent_files(unique("odd"), "1.0.0", "  - 'Not An Id'\n"), wrap="x/"))
    assert bad.status_code == 422


def test_a_bulk_action_previews_then_acts_row_by_row_with_mixed_outcomes(
    publisher: httpx.Client, second_publisher: httpx.Client, admin: httpx.Client
) -> None:
    mine, theirs = unique("bulk"), unique("bulk")
    publish(publisher, mine, "1.0.0")
    publish(publisher, mine, "2.0.0", draft="true")
    publish(second_publisher, theirs, "1.0.0")
    body = {
        "action": "deprecate",
        "reason": "end of life",
        "targets": [
            {"item_id": mine, "version": "1.0.0"},
            {"item_id": mine, "version": "2.0.0"},  # a draft cannot be deprecated
            {"item_id": theirs, "version": "1.0.0"},  # another publisher's item
            {"item_id": mine, "version": "9.9.9"},
        ],
    }
    preview = publisher.post("/api/admin/catalog/bulk", json={**body, "dry_run": True})
    assert preview.status_code == 200, preview.text
    rows = preview.json()["results"]
    assert [r["ok"] for r in rows] == [True, False, False, False]
    assert rows[0]["outcome"] == "would move active -> deprecated"
    assert [r["error"] for r in rows[1:]] == ["conflict", "forbidden", "not_found"]
    assert states(admin, mine) == {"1.0.0": "active", "2.0.0": "draft"}  # the preview changed nothing
    done = publisher.post("/api/admin/catalog/bulk", json=body).json()
    assert (done["done"], done["refused"]) == (1, 3)
    assert states(admin, mine)["1.0.0"] == "deprecated"
    audit = admin.get("/api/admin/audit", params={"target_id": f"{mine}@1.0.0"}).json()["items"]
    assert [e["action"] for e in audit].count("catalog.version.transition") == 1
    tagged = admin.post(
        "/api/admin/catalog/bulk",
        json={"action": "tag", "tags": ["eol"], "targets": [{"item_id": mine}, {"item_id": theirs}]},
    ).json()
    assert tagged["done"] == 2 and "eol" in admin.get(f"{ADMIN_API}/{theirs}").json()["tags"]
    missing_channel = admin.post("/api/admin/catalog/bulk", json={"action": "promote", "targets": body["targets"]})
    assert missing_channel.status_code == 422


def files_with_tests(item_id: str, version: str, result: str, cases: dict[str, Any]) -> dict[str, str]:
    return {**item_files(item_id, version, result), **{f"tests/{n}.json": json.dumps(c) for n, c in cases.items()}}


def test_item_tests_run_on_import_and_a_failing_one_holds_activation_back(
    publisher: httpx.Client, admin: httpx.Client
) -> None:
    item = unique("tested")
    cases = {
        "returns-ok": {"inputs": {"n": 1}, "expect": {"result": {"result": "ok"}}},
        "refuses-text": {"inputs": {"n": "x"}, "expect": {"error": "ValueError"}},
    }
    assert admin.patch(f"{ADMIN_API}/{item}", json={"featured": False}).status_code == 404
    data = targz(files_with_tests(item, "1.0.0", "not ok", cases), wrap="x/")
    assert upload(publisher, data, draft="true").status_code == 200
    assert admin.patch(f"{ADMIN_API}/{item}", json={"tests_required": True}).status_code == 200
    tests_url = f"{ADMIN_API}/{item}/versions/1.0.0/tests"
    assert wait_until(lambda: admin.get(tests_url).json()["passed"] is not None, timeout=60)
    found = admin.get(tests_url).json()
    verdicts = {c["name"]: (c["passed"], c["reason"]) for c in found["cases"]}
    assert verdicts["returns-ok"] == (False, 'result.result: expected "ok", got "not ok"')
    assert verdicts["refuses-text"] == (False, "expected an error ValueError, but it succeeded")
    held = transition(publisher, item, "1.0.0", "active")
    assert held.status_code == 409 and "tests failed" in held.json()["error"]["message"]
    listed = admin.get("/api/jobs", params={"q": item}).json()["items"]
    assert {j["kind"] for j in listed} == {"catalog_test"}
    assert admin.get(ADMIN_API, params={"q": item}).json()["items"][0]["runs_30d"] == 0  # not runs of the item

    good = {"returns-ok": cases["returns-ok"]}
    second = targz(files_with_tests(item, "1.1.0", "ok", good), wrap="x/")
    assert upload(publisher, second, draft="true").status_code == 200
    passing = f"{ADMIN_API}/{item}/versions/1.1.0/tests"
    assert wait_until(lambda: admin.get(passing).json()["passed"] is True, timeout=60)
    assert transition(publisher, item, "1.1.0", "active").status_code == 200

    dry = publisher.post(f"{ADMIN_API}/{item}/versions/1.0.0/dry-run", json={"inputs": {"n": 2}})
    assert dry.status_code == 201 and dry.json()["kind"] == "catalog_dry_run"
    assert wait_for_job(publisher, dry.json()["id"], {"SUCCEEDED"})["result"]["result"] == "not ok"
    broken = targz(files_with_tests(unique("badtests"), "1.0.0", "ok", {"bad": {"inputs": 3}}), wrap="x/")
    refused = upload(publisher, broken)
    assert refused.status_code == 422 and "tests/bad.json" in refused.text


def test_what_a_review_found_stays_fixed(
    publisher: httpx.Client, second_publisher: httpx.Client, admin: httpx.Client
) -> None:
    """Holes a review of this code found, each closed: kept closed."""
    item = unique("holes")
    publish(publisher, item, "1.0.0")
    publish(publisher, item, "2.0.0")
    # Another publisher reads neither the diff (it names schedules and other users' jobs) nor the test results.
    assert second_publisher.get(f"{ADMIN_API}/{item}/diff", params={"from": "1.0.0", "to": "2.0.0"}).status_code == 403
    assert second_publisher.get(f"{ADMIN_API}/{item}/versions/1.0.0/tests").status_code == 403
    # A sunset date without a time zone is a 422, not a 500.
    naive = publisher.post(
        f"{ADMIN_API}/{item}/versions/1.0.0/transition",
        json={"to": "deprecated", "reason": "old", "sunset_at": "2099-01-01T00:00:00"},
    )
    assert naive.status_code == 422
    # New content under a promoted number leaves its channel: stable never carries unreviewed content.
    assert publisher.put(f"{ADMIN_API}/{item}/channels/stable", json={"version": "1.0.0"}).status_code == 200
    replaced = upload(publisher, targz(item_files(item, "1.0.0", "changed"), wrap="x/"), replace="true")
    assert replaced.status_code == 200, replaced.text
    assert "stable" not in admin.get(f"{ADMIN_API}/{item}").json()["channels"]
    # A version archived while in review comes back as a draft (to be sent to review again).
    assert admin.patch(f"{ADMIN_API}/{item}", json={"review_policy": "required"}).status_code == 200
    publish(publisher, item, "3.0.0")
    assert transition(publisher, item, "3.0.0", "archived", "not now").status_code == 200
    restored = transition(publisher, item, "3.0.0", "draft", "later")
    assert restored.status_code == 200 and restored.json()["state"] == "draft"
