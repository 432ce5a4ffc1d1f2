"""The audit viewer's API: filters, time ranges, keyset pages, export, facets and who may use them.

Most tests run against a portal of their own whose audit log holds only what this module writes, with a scan budget
of 4 index entries: every combination of filters then goes through the bounded walk (short pages included), and the
answers are checked against the complete list filtered here in Python.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.helpers import PortalServer

AUDIT = "/api/admin/audit"
EXPORT_MAX_ROWS = 7
FORMULA = "=HYPERLINK(evil)"
Entry = dict[str, Any]


@pytest.fixture(scope="module")
def audit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    env = {"PORTAL_AUDIT_SCAN_ROWS": "4", "PORTAL_AUDIT_EXPORT_MAX_ROWS": str(EXPORT_MAX_ROWS)}
    portal = PortalServer(tmp_path_factory.mktemp("audit"), env=env).start()
    try:
        yield portal
    finally:
        portal.stop()


@pytest.fixture(scope="module")
def audit_admin(audit_server: PortalServer) -> Iterator[httpx.Client]:
    """The admin of that portal, after a known mix of actions was audited."""
    with audit_server.client(audit_server.token_for("admin")) as admin:
        _write_history(audit_server, admin)
        yield admin


def _write_history(server: PortalServer, admin: httpx.Client) -> None:
    for name in ("alice", "bob"):
        created = admin.post(
            "/api/admin/users", json={"username": name, "role": "requester", "password": "audit-Trail-passphrase-9"}
        )
        assert created.status_code == 201, created.text
    with httpx.Client(base_url=server.url) as anonymous:
        for name in ("mallory", "mallory", "alice", FORMULA):
            wrong = anonymous.post("/api/auth/login", json={"username": name, "password": "wrong-password"})
            assert wrong.status_code == 401
    with httpx.Client(base_url=server.url) as browser:
        me = browser.post("/api/auth/login", json={"username": "alice", "password": "audit-Trail-passphrase-9"}).json()
        token = browser.post("/api/auth/tokens", json={"name": "a"}, headers={"X-CSRF-Token": me["csrf_token"]})
        assert token.status_code == 201, token.text
        browser.post("/api/auth/logout", headers={"X-CSRF-Token": me["csrf_token"]})
    for name in ("one", "two"):
        made = admin.post("/api/auth/tokens", json={"name": name}, headers={"X-Request-ID": f"audit-{name}"})
        assert made.status_code == 201, made.text
        revoked = admin.delete(f"/api/auth/tokens/{made.json()['token']['id']}", headers={"X-Request-ID": "audit-two"})
        assert revoked.status_code == 204


def _pages(client: httpx.Client, params: dict[str, Any], limit: int = 1000) -> list[list[Entry]]:
    """Every page of a listing, following `next_before_id`."""
    pages: list[list[Entry]] = []
    before: int | None = None
    while True:
        response = client.get(AUDIT, params={**params, "limit": limit, **({"before_id": before} if before else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        pages.append(body["items"])
        before = body["next_before_id"]
        if before is None:
            return pages
        assert len(pages) < 1000, "paging does not end"


def _all(client: httpx.Client, params: dict[str, Any] | None = None, limit: int = 1000) -> list[Entry]:
    return [entry for page in _pages(client, params or {}, limit) for entry in page]


def _at(entry: Entry) -> datetime:
    return datetime.fromisoformat(entry["at"])


def _matches(entry: Entry, params: dict[str, Any]) -> bool:
    """The filters' meaning, written out: the oracle the API is checked against."""
    exact = {"actor": "actor_name", "action": "action", "target_type": "target_type", "target_id": "target_id"}
    exact["request_id"] = "request_id"
    for param, field in exact.items():
        if param in params and entry[field] != params[param]:
            return False
    if "action_prefix" in params and not entry["action"].startswith(params["action_prefix"]):
        return False
    if "since" in params and _at(entry) < datetime.fromisoformat(params["since"]):
        return False
    return not ("until" in params and _at(entry) >= datetime.fromisoformat(params["until"]))


def _ids(entries: list[Entry]) -> list[int]:
    return [entry["id"] for entry in entries]


def test_the_full_list_is_newest_first_and_holds_what_was_done(audit_admin: httpx.Client) -> None:
    entries = _all(audit_admin)
    keys = [(_at(e), e["id"]) for e in entries]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    done = [(e["actor_name"], e["action"], e["target_type"], e["target_id"]) for e in entries]
    assert ("admin", "user.create", "user", "alice") in done
    assert done.count(("mallory", "auth.login_failed", "user", "mallory")) == 1  # once per burst
    assert ("alice", "auth.login", "user", "alice") in done and ("alice", "auth.logout", "user", "alice") in done
    assert [(d[0], d[1]) for d in done].count(("alice", "token.create")) == 1
    request = [e["action"] for e in entries if e["request_id"] == "audit-two"]
    assert request == ["token.revoke", "token.create", "token.revoke"]


@pytest.mark.parametrize(
    "params",
    [
        {"actor": "mallory"},
        {"actor": "nobody-at-all"},
        {"action": "auth.login_failed"},
        {"action_prefix": "auth."},
        {"action_prefix": "token."},
        {"action_prefix": "zzz."},
        {"target_type": "user"},
        {"target_id": "alice"},
        {"target_type": "user", "target_id": "alice"},
        {"request_id": "audit-two"},
        {"actor": "alice", "action_prefix": "auth."},
        {"actor": "admin", "target_type": "token"},
        {"actor": "admin", "action": "user.create", "target_id": "bob"},
        {"action": "auth.login", "action_prefix": "token."},
        {"action": "user.create", "target_type": "token"},
        {"actor": "mallory", "target_type": "user", "action_prefix": "auth.", "target_id": "mallory"},
    ],
)
def test_each_filter_and_combination_pages_without_gaps_or_repeats(
    audit_admin: httpx.Client, params: dict[str, Any]
) -> None:
    expected = [e for e in _all(audit_admin) if _matches(e, params)]
    assert _ids(_all(audit_admin, params)) == _ids(expected)
    for limit in (1, 2):
        pages = _pages(audit_admin, params, limit)
        assert _ids([e for page in pages for e in page]) == _ids(expected)


def test_sparse_combinations_answer_short_pages_that_continue(audit_admin: httpx.Client) -> None:
    # Broad filters that never meet: each page scans at most 4 index entries (this portal's budget) and says where
    # to continue, until the whole range has been scanned.
    pages = _pages(audit_admin, {"actor": "admin", "target_type": "user", "action_prefix": "token."})
    assert len(pages) > 1 and not any(pages)


def test_time_ranges_are_inclusive_since_exclusive_until_and_zone_aware(audit_admin: httpx.Client) -> None:
    entries = _all(audit_admin)
    newest_first = sorted({_at(e) for e in entries}, reverse=True)
    since, until = newest_first[-3], newest_first[2]  # entries on both sides of the range
    cases: list[dict[str, str]] = [
        {"since": since.isoformat()},
        {"until": until.isoformat()},
        {"since": since.isoformat(), "until": until.isoformat()},
        {"since": since.isoformat(), "until": until.isoformat(), "actor": "admin"},
        {"since": since.isoformat(), "action_prefix": "auth.", "target_type": "user"},
    ]
    for params in cases:
        expected = [e for e in entries if _matches(e, params)]
        assert expected and len(expected) < len(entries)
        assert _ids(_all(audit_admin, params, limit=2)) == _ids(expected)
    in_utc = _ids(_all(audit_admin, {"since": since.isoformat(), "until": until.isoformat()}))
    paris = timezone(timedelta(hours=2))
    in_paris = {"since": since.astimezone(paris).isoformat(), "until": until.astimezone(paris).isoformat()}
    naive = {"since": since.replace(tzinfo=None).isoformat(), "until": until.replace(tzinfo=None).isoformat()}
    assert "+02:00" in in_paris["since"] and _ids(_all(audit_admin, in_paris)) == in_utc
    assert _ids(_all(audit_admin, naive)) == in_utc


def test_bad_input_is_a_422_naming_the_field(audit_admin: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"before_id": 0}, "before_id"),
        ({"before_id": "x"}, "before_id"),
        ({"before_id": 999_999_999}, "before_id"),
        ({"before_id": 2**63}, "before_id"),  # beyond the database's integers: was a 500
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"actor": "x" * 65}, "actor"),
        ({"action_prefix": "x" * 65}, "action_prefix"),
    ]
    for params, field in cases:
        response = audit_admin.get(AUDIT, params=params)
        assert response.status_code == 422, (params, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_failed"
        assert field in {d["field"] for d in error["details"]}, (params, error)
    bad_format = audit_admin.get(f"{AUDIT}/export", params={"format": "xml"})
    assert bad_format.status_code == 422 and bad_format.json()["error"]["details"][0]["field"] == "format"
    missing = audit_admin.get(f"{AUDIT}/export", params={"before_id": 999_999_999})
    assert missing.status_code == 422 and missing.json()["error"]["details"][0]["field"] == "before_id"
    huge = audit_admin.get(f"{AUDIT}/export", params={"before_id": 133119101272349075944470042879962644480})
    assert huge.status_code == 422 and huge.json()["error"]["details"][0]["field"] == "before_id"


def test_empty_parameters_are_no_filter(audit_admin: httpx.Client) -> None:
    blank = {"actor": "", "action": "", "action_prefix": "", "target_type": "", "since": "", "before_id": ""}
    assert _ids(_all(audit_admin, blank)) == _ids(_all(audit_admin))


def _cell(value: str | None) -> str:
    """What the CSV holds for a text value: a would-be formula starts with `'`."""
    return "" if value is None else "'" + value if value.startswith("=") else value


def test_csv_export_streams_the_filtered_entries_and_continues_with_before_id(audit_admin: httpx.Client) -> None:
    params: dict[str, Any] = {"target_type": "user"}
    expected = _all(audit_admin, params)
    assert len(expected) > EXPORT_MAX_ROWS  # the cap is reached, and the rest follows with before_id
    rows: list[dict[str, str]] = []
    before: dict[str, Any] = {}
    while True:
        response = audit_admin.get(f"{AUDIT}/export", params={**params, **before, "format": "csv"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "content-length" not in response.headers  # streamed
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="audit-') and disposition.endswith('.csv"')
        reader = csv.DictReader(io.StringIO(response.text))
        assert reader.fieldnames == [
            "id", "at", "actor", "action", "target_type", "target_id", "ip", "request_id", "details"
        ]  # fmt: skip
        batch = list(reader)
        assert len(batch) <= EXPORT_MAX_ROWS
        rows += batch
        if len(batch) < EXPORT_MAX_ROWS:
            break
        before = {"before_id": batch[-1]["id"]}
    assert [int(r["id"]) for r in rows] == _ids(expected)
    for row, entry in zip(rows, expected, strict=True):
        assert datetime.fromisoformat(row["at"]) == _at(entry)
        assert (row["action"], row["target_type"]) == (entry["action"], "user")
        assert (row["actor"], row["target_id"]) == (_cell(entry["actor_name"]), _cell(entry["target_id"]))
        assert (row["ip"], row["request_id"]) == (_cell(entry["ip"]), _cell(entry["request_id"]))
        assert json.loads(row["details"]) == entry["details"]
    assert any(r["actor"] == "'" + FORMULA for r in rows)  # a spreadsheet shows the text, never runs it


def test_jsonl_export_matches_the_listing(audit_admin: httpx.Client) -> None:
    params = {"actor": "admin", "action_prefix": "token."}
    expected = _all(audit_admin, params)
    response = audit_admin.get(f"{AUDIT}/export", params={**params, "format": "jsonl"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"].endswith('.jsonl"')
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == len(expected) == 4
    for line, entry in zip(lines, expected, strict=True):
        assert line == {
            "id": entry["id"],
            "at": line["at"],
            "actor": "admin",
            "action": entry["action"],
            "target_type": "token",
            "target_id": entry["target_id"],
            "ip": entry["ip"],
            "request_id": entry["request_id"],
            "details": entry["details"],
        }
        assert datetime.fromisoformat(line["at"]) == _at(entry)


def test_an_export_is_audited(audit_admin: httpx.Client) -> None:
    response = audit_admin.get(
        f"{AUDIT}/export", params={"format": "jsonl", "actor": "bob"}, headers={"X-Request-ID": "export-me"}
    )
    assert response.status_code == 200
    [entry] = _all(audit_admin, {"request_id": "export-me"})
    assert (entry["action"], entry["actor_name"]) == ("audit.export", "admin")
    assert entry["details"] == {"format": "jsonl", "filters": {"actor": "bob"}}


def test_facets_list_the_known_actions_actors_and_target_types(audit_admin: httpx.Client) -> None:
    entries = _all(audit_admin)
    response = audit_admin.get(f"{AUDIT}/facets")
    assert response.status_code == 200, response.text
    facets = response.json()
    assert facets["actions"] == sorted({e["action"] for e in entries})
    assert facets["actors"] == sorted({e["actor_name"] for e in entries})
    assert facets["target_types"] == sorted({e["target_type"] for e in entries if e["target_type"]})
    assert {"mallory", "alice", "admin", FORMULA} <= set(facets["actors"])
    assert not facets["truncated"]


@pytest.mark.parametrize("user", ["viewer1", "req1", "op1", "pub1", None])
def test_only_admins_read_the_audit_log(server: PortalServer, tokens: dict[str, str], user: str | None) -> None:
    with server.client(tokens[user] if user else None) as client:
        for path in (AUDIT, f"{AUDIT}/export", f"{AUDIT}/facets"):
            response = client.get(path)
            assert response.status_code == (403 if user else 401), (user, path, response.text)
            assert response.json()["error"]["code"] == ("forbidden" if user else "unauthorized")
