"""The example catalog, loaded at start-up: every version that is valid, whatever is wrong with another.

An import registers all of its versions or none; for the examples, one broken folder must not cost the others.
So the whole tree is tried at once (the usual case, one transaction), and when it is refused each version is
tried alone, again while any succeeds (a version may depend on one registered later). What stays refused is
recorded as a failed import with its problems: the admin dashboard raises an alert, and the analytics page lists
the problems.
"""

from __future__ import annotations

import logging
from pathlib import Path

from portal.catalog import import_failures, local_roots, service
from portal.errors import PortalError
from portal.identity.principal import Principal

log = logging.getLogger(__name__)
SOURCE = "examples"


def load(actor: Principal, path: Path) -> dict[Path, PortalError]:
    """Register every valid example version under `path`; the refused ones with why (also recorded)."""
    try:
        service.import_local(actor, str(path), enforce_roots=False)
        return {}
    except PortalError:
        pass  # each version alone, below
    _folder, pending = local_roots.candidates(str(path), False)
    refused: dict[Path, PortalError] = {}
    progressed = True
    while pending and progressed:
        progressed = False
        for candidate in list(pending):
            try:
                service.import_local(actor, str(candidate.path), enforce_roots=False)
            except PortalError as exc:
                refused[candidate.path] = exc
                continue
            pending.remove(candidate)
            refused.pop(candidate.path, None)
            progressed = True
    for folder, error in refused.items():
        log.warning("example %s was not loaded: %s %s", folder, error.message, error.details)
        relative = folder.relative_to(path).as_posix() if folder.is_relative_to(path) else str(folder)
        item_id, _, version = relative.removeprefix("items/").partition("/")
        import_failures.record(SOURCE, relative, actor.username, error, item_id or None, version or None)
    return refused
