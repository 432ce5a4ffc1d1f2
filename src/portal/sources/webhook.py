"""A signed push webhook (`POST /api/catalog/git/webhook`, verified by `jobs.imports.handle_webhook`) for the
repository of a Git source with `webhook: true`: a new tag that matches the source's `tags` refreshes the source
(deduplicated like any refresh, not rate-limited). A disabled source's webhook is refused (403)."""

from __future__ import annotations

import fnmatch

from portal.catalog import access
from portal.catalog.importers.git import normalize_repo_url
from portal.errors import Forbidden, PortalError
from portal.jobs.imports import SourcePush
from portal.sources import service
from portal.sources.document import GitSource, SourcesDocument
from portal.sources.refresh import request_refresh


def push(urls: list[str], tag: str | None, provider: str) -> SourcePush | None:
    """What the sources make of a push to one of `urls` (None: no source takes that repository's webhooks)."""
    pushed = {normalize_repo_url(url) for url in urls}
    document = SourcesDocument.model_validate(service.current_content())
    matches = [
        source
        for source in document.sources
        if isinstance(source, GitSource) and source.webhook and normalize_repo_url(source.url) in pushed
    ]
    if not matches:
        return None
    enabled = [source for source in matches if source.enabled]
    if not enabled:
        raise Forbidden(
            f"source {matches[0].id} is disabled: its webhook is refused", details={"source_id": matches[0].id}
        )
    result = SourcePush(repository=normalize_repo_url(enabled[0].url))
    if tag is None:
        result.ignored.append("the push is not a new tag")
        return result
    for source in enabled:
        if not fnmatch.fnmatchcase(tag, source.tags):
            result.ignored.append(f"tag {tag} does not match {source.tags} of source {source.id}")
            continue
        try:
            job, _ = request_refresh(
                None, source.id, why="webhook", limited=False, actor_name=access.webhook_importer(provider, None)
            )
        except PortalError as exc:
            result.ignored.append(f"source {source.id}: {exc.message}")
            continue
        result.jobs.append(job.id)
    return result
