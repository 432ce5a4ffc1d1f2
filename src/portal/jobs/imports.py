"""Catalog imports as jobs of kind `catalog_import`: a Git import request or a signed webhook push becomes a
queued job, which a worker carries out with `run_import` (registered for the kind at start-up). Here, above both,
because it checks with the catalog's importer and queues with the job service.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from portal.auth import service as auth_service
from portal.catalog import access, import_failures
from portal.catalog import service as catalog_service
from portal.catalog.importers import git as git_importer
from portal.catalog.importers.git import TAG_RE, check_request, normalize_repo_url
from portal.catalog.manifest import parse_version
from portal.catalog.schemas import GitImportRequest, ImportReport
from portal.errors import BadRequest, Forbidden, NotFound, Unauthorized, ValidationFailed
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import item_tests, kinds
from portal.jobs import service as jobs_service
from portal.jobs.schemas import ClaimedJob, JobOut
from portal.settings import get_settings


def import_local(actor: Principal, path: str, **options: Any) -> ImportReport:
    """A folder's versions registered (`catalog.service.import_local`), then the tests of each new one queued."""
    with import_failures.recorded("local", path, actor.username):
        report = catalog_service.import_local(actor, path, **options)
    item_tests.start_for_imported(actor, report.imported)
    return report


def import_upload(actor: Principal, filename: str, fileobj: BinaryIO, **options: Any) -> ImportReport:
    """An upload's versions registered (`catalog.service.import_upload`), then the tests of each new one queued."""
    with import_failures.recorded("upload", filename, actor.username):
        report = catalog_service.import_upload(actor, filename, fileobj, **options)
    item_tests.start_for_imported(actor, report.imported)
    return report


def start_import(
    actor: Principal | None,
    request: GitImportRequest,
    *,
    actor_name: str | None = None,
    audit_details: dict[str, Any] | None = None,
) -> JobOut:
    """Validate the request and queue it as a `catalog_import` job."""
    settings = get_settings()
    check_request(request, settings)
    return jobs_service.create_import_job(
        actor,
        item_id=request.item_id,
        ref=request.version or str(request.ref),
        inputs=request.as_inputs(),
        timeout_seconds=settings.git_timeout_seconds + 60,
        actor_name=actor_name,
        audit_details=audit_details,
    )


@dataclass
class SourcePush:
    """What a catalog source made of a push to its repository: the refresh jobs it queued, or why none."""

    repository: str
    jobs: list[int] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


SourceWebhook = Callable[[list[str], str | None, str], SourcePush | None]
"""Given a push's repository URLs, its tag (None: not a new tag) and the forge: None when no catalog source takes
webhooks from that repository, else what it did (Forbidden when the source is disabled). The sources domain,
above this one, is connected here by `bootstrap.connect_domains`."""
source_webhooks: list[SourceWebhook] = []


@dataclass
class WebhookResult:
    provider: str
    repository: str | None = None
    accepted: list[int] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _payload_urls(payload: dict[str, Any]) -> list[str]:
    urls = []
    for section in ("repository", "project"):
        block = payload.get(section)
        if isinstance(block, dict):
            for key in (
                "clone_url",
                "ssh_url",
                "git_url",
                "html_url",
                "url",
                "git_http_url",
                "git_ssh_url",
                "http_url",
                "ssh_url",
                "homepage",
                "web_url",
            ):
                value = block.get(key)
                if isinstance(value, str):
                    urls.append(value)
    return urls


def handle_webhook(headers: Mapping[str, str], body: bytes) -> WebhookResult:
    """Verify a GitHub or GitLab push; for the repository of a catalog source with `webhook: true`, refresh the
    source (refused when it is disabled); for one in PORTAL_GIT_WEBHOOK_REPOS, queue one import per pushed
    `item-id@semver` tag."""
    settings = get_settings()
    secret = settings.git_webhook_secret
    if not secret:
        raise Forbidden("Git webhooks are not configured (set PORTAL_GIT_WEBHOOK_SECRET)")
    if "x-hub-signature-256" in headers:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers["x-hub-signature-256"]):
            raise Unauthorized("the webhook signature does not match")
        result = WebhookResult(provider="github")
        event = headers.get("x-github-event", "")
        if event == "ping":
            return result
        if event != "push":
            result.ignored.append(f"event {event!r} is not a push")
            return result
    elif "x-gitlab-token" in headers:
        if not hmac.compare_digest(secret.encode(), headers["x-gitlab-token"].encode()):
            raise Unauthorized("the webhook token does not match")
        result = WebhookResult(provider="gitlab")
        if headers.get("x-gitlab-event") not in ("Tag Push Hook", "Push Hook"):
            result.ignored.append(f"event {headers.get('x-gitlab-event')!r} is not a push")
            return result
    else:
        raise Unauthorized("the webhook is not signed (X-Hub-Signature-256 or X-Gitlab-Token)")
    try:
        payload = json.loads(body)
    except ValueError:
        raise BadRequest("the webhook body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("the webhook body is not a JSON object")

    ref = str(payload.get("ref", ""))
    deleted = payload.get("deleted") is True or payload.get("after") == "0" * 40
    pushed_tag = ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") and not deleted else None
    for hook in source_webhooks:
        push = hook(_payload_urls(payload), pushed_tag, result.provider)
        if push is not None:  # a catalog source takes this repository's webhooks: it refreshes instead
            result.repository = push.repository
            result.accepted.extend(push.jobs)
            result.ignored.extend(push.ignored)
            return result
    configured = {normalize_repo_url(url): url for url in settings.git_webhook_repos}
    clone_url = next((configured[n] for n in map(normalize_repo_url, _payload_urls(payload)) if n in configured), None)
    if clone_url is None:
        raise Forbidden("this repository is not configured for webhooks (PORTAL_GIT_WEBHOOK_REPOS)")
    result.repository = clone_url
    if not ref.startswith("refs/tags/"):
        result.ignored.append(f"{ref or 'the push'} is not a tag")
        return result
    tag = ref.removeprefix("refs/tags/")
    match = TAG_RE.match(tag)
    if deleted:
        result.ignored.append(f"tag {tag} was deleted")
    elif match is None or parse_version(match["version"]) is None:
        result.ignored.append(f"tag {tag} is not of the form item-id@semver")
    else:
        job = start_import(
            None,
            GitImportRequest(repo_url=clone_url, item_id=match["item_id"], version=match["version"]),
            actor_name=access.webhook_importer(result.provider, _pusher(payload)),
            audit_details={"webhook": result.provider, "tag": tag, "pushed_by": _pusher(payload)},
        )
        result.accepted.append(job.id)
    return result


def _pusher(payload: dict[str, Any]) -> str | None:
    """The login of who pushed the tag, as the forge tells it (GitHub `sender.login`, GitLab `user_username`)."""
    sender = payload.get("sender")
    login = sender.get("login") if isinstance(sender, dict) else payload.get("user_username")
    return login if isinstance(login, str) and login else None


def run_import(job: ClaimedJob, step: kinds.StepReporter, cancel: threading.Event) -> dict[str, Any]:
    """The runner of `catalog_import` jobs: fetch, validate, pack and register as the job's creator, reporting
    each step."""
    actor = _importer(job)
    request = GitImportRequest(**job.inputs)
    target = f"{request.repo_url} {request.refspec}"
    with import_failures.recorded("git", target, actor.username, request.item_id):
        return _run_import(request, actor, step, cancel)


def _run_import(
    request: GitImportRequest, actor: Principal, step: kinds.StepReporter, cancel: threading.Event
) -> dict[str, Any]:
    check_request(request, get_settings())
    with tempfile.TemporaryDirectory(prefix="portal-git-") as tmp:
        step(10, f"cloning {request.repo_url} at {request.refspec}")
        commit = git_importer.fetch(request, Path(tmp), cancel)
        repo = Path(tmp) / "repo"
        step(40, f"validating {request.item_id} at {commit[:12]}")
        checked = catalog_service.check_candidates(repo, git_importer.locate(repo, request), label=request.refspec)
        if request.version:
            for item in checked:
                if item.manifest.get("version") != request.version:
                    raise ValidationFailed(
                        f"the tag says {request.version} but the manifest says {item.manifest.get('version')}",
                        details=[{"file": "manifest.yaml", "line": None, "message": "version differs from the tag"}],
                    )
        step(70, "packing and registering")

        def source(item: Any) -> dict[str, Any]:
            return {
                "type": "git",
                "repo_url": request.repo_url,
                "ref": request.refspec,
                "commit": commit,
                "path": item.path.relative_to(repo).as_posix(),
            }

        imported = catalog_service.register(actor, checked, source, replace=request.replace, draft=request.draft)
        item_tests.start_for_imported(actor, imported)
    step(100, "imported")
    return {
        "repo_url": request.repo_url,
        "ref": request.refspec,
        "commit": commit,
        "imported": [v.model_dump() for v in imported],
    }


def _importer(job: ClaimedJob) -> Principal:
    """Who an import job registers versions as: its creator with the role they hold now (the item's maintainers
    are checked against it), or, for a webhook push, the portal itself (an admin configured the repository)."""
    if job.created_by is None:
        return Principal(id=None, username=job.created_by_name, role=Role.admin, via="webhook")
    try:
        role = Role.parse(auth_service.get_user(job.created_by).role)
    except NotFound:
        role = Role.viewer  # the user is gone: nothing of theirs registers
    return Principal(id=job.created_by, username=job.created_by_name, role=role, via="job")
