"""What a node depends on, checked: the database and its schema, the first reconciliation of the catalog sources,
the executor and, distributed, broker and bus."""

from __future__ import annotations

from portal.db import migrate
from portal.jobs import executors
from portal.sources import status as sources_status


def checks() -> dict[str, str]:
    """Each dependency of this node: "ok" or what is wrong with it."""
    result: dict[str, str] = {}
    try:
        current, head = migrate.revisions()
        result["database"] = "ok"
        result["migrations"] = "ok" if current == head else f"at {current}, expected {head}"
    except Exception as exc:
        result["database"] = f"unreachable: {type(exc).__name__}"
        result["migrations"] = "unknown"
    result["sources"] = "ok" if sources_status.reconciled() else "not reconciled yet"
    executor = executors.current()
    result["executor"] = "ok" if getattr(executor, "started", False) else "not running"
    result.update(executor.checks())
    return result


def isolation() -> dict[str, str]:
    """Each protection of the jobs this process runs: "on", or "off: " and why (empty when it runs no jobs)."""
    return {p["name"]: "on" if p["on"] else f"off: {p['detail']}" for p in executors.current().isolation()}
