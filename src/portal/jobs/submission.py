"""The steps of creating a job, shared by everything that creates one (a user's request, a retry, a schedule's
tick, an import): check what a version needs against the inputs, seal the sensitive ones, and insert the row in
the caller's transaction (it reaches the browsers and the executor once that transaction commits)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from portal import values
from portal.catalog import network as catalog_network
from portal.catalog.models import Bundle
from portal.catalog.queries import RunnableVersion
from portal.catalog.validate import input_errors
from portal.db import session as db
from portal.errors import Conflict, ValidationFailed
from portal.identity.principal import Principal
from portal.jobs import executors, kinds
from portal.jobs.schemas import Precheck
from portal.jobs.states import JobState
from portal.jobs.writer import insert_job
from portal.secrets import crypto, masking
from portal.secrets import service as secrets_service
from portal.secrets.masking import MASK


def insert_import(
    s: Session,
    actor: Principal | None,
    item_id: str,
    ref: str,
    inputs: dict[str, Any],
    timeout_seconds: int,
    **extra: Any,
) -> Row[Any]:
    """A `catalog_import` job: it shows in the jobs list with its progress steps."""
    return insert_job(
        s,
        actor,
        kind=kinds.CATALOG_IMPORT,
        item_id=item_id,
        item_version=ref,
        inputs=inputs,
        timeout_seconds=timeout_seconds,
        **extra,
    )


def _hold_bundle(s: Session, sha256: str) -> None:
    """The job's bundle is still stored, and stays so until the job is: a storage cleanup removing it at this moment
    waits for this transaction (a key-share lock on PostgreSQL; SQLite has one writer) or has removed it already,
    when the version's content was replaced since it was resolved; then the job is refused, not left without code.
    Held once per unit of work: the launches of one group commit mostly share a bundle."""
    held_already: set[str] = db.memo(s).setdefault("held_bundles", set())
    if sha256 in held_already:
        return
    held = s.scalar(select(Bundle.sha256).where(Bundle.sha256 == sha256).with_for_update(key_share=True))
    if held is None:
        raise Conflict(
            "the version's bundle is no longer stored (its content was replaced meanwhile): submit the job again",
            details={"bundle_sha256": sha256},
        )
    held_already.add(sha256)


def insert_run(
    s: Session,
    actor: Principal,
    runnable: RunnableVersion,
    inputs: dict[str, Any],
    *,
    retry_of: int | None = None,
    attempt: int = 1,
    created_message: str | None = None,
    kind: str = kinds.TASK,
) -> Row[Any]:
    """A job for a checked version: sensitive inputs sealed, waiting for approval when the item asks for it (a
    real run, not a test or a dry run)."""
    _hold_bundle(s, runnable.bundle_sha256)
    stored, sealed = seal_sensitive(runnable.sensitive, inputs)
    real = kind == kinds.TASK
    # A test or a dry run may run code nobody reviewed yet: it gets no secret and no network, whatever the item's
    # grants; a dry run still waits for the item's approvers, a test (started by imports) never does.
    gated = runnable.approval if kind in (kinds.TASK, kinds.DRY_RUN) else None
    return insert_job(
        s,
        actor,
        kind=kind,
        item_id=runnable.item_id,
        item_version=runnable.version,
        bundle_sha256=runnable.bundle_sha256,
        entrypoint=runnable.entrypoint,
        source_path=runnable.dev_path,
        inputs=stored,
        timeout_seconds=runnable.timeout_seconds,
        # The network need goes with the job: the worker checks it against the item's grant at run time.
        resources={**runnable.resources, "network": runnable.network}
        if runnable.network is not None and real
        else runnable.resources,
        retry_of=retry_of,
        attempt=attempt,
        state=JobState.PENDING_APPROVAL if gated else JobState.QUEUED,
        approval=gated,
        sealed_inputs=sealed,
        secrets=runnable.secrets if real else (),
        queue=runnable.queue,
        priority=runnable.priority,
        created_message=created_message,
    )


def seal_sensitive(sensitive: tuple[str, ...], inputs: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The inputs to store (sensitive values replaced by `***`) and the sensitive values, encrypted."""
    present = {name: inputs[name] for name in sensitive if name in inputs}
    if not present:
        return inputs, None
    return {**inputs, **dict.fromkeys(present, MASK)}, crypto.seal(present)


def check_runnable(runnable: RunnableVersion, inputs: dict[str, Any]) -> None:
    """Sensitive inputs given for real, inputs that match the schema, and every declared secret granted."""
    unservable = values.problems(inputs)
    if unservable:
        raise ValidationFailed("the inputs hold values that cannot be stored", details=unservable)
    masked = [name for name in runnable.sensitive if inputs.get(name) == MASK]
    if masked:
        raise ValidationFailed(
            "sensitive inputs are never stored: give them again",
            details=[{"field": name, "message": "give this value again"} for name in masked],
        )
    errors = input_errors(runnable.validator, inputs)
    if errors:
        masking.redact_errors(errors, runnable.sensitive)
        raise ValidationFailed(
            f"the inputs do not match the schema of {runnable.item_id} {runnable.version}", details=errors
        )
    refused = secrets_service.refusal(
        runnable.item_id,
        runnable.version,
        runnable.bundle_sha256,
        runnable.secrets,
        development=runnable.dev_path is not None,
    )
    if refused is not None:
        raise refused
    catalog_network.check(runnable.item_id, runnable.network)


def validate_at_launch(runnable: RunnableVersion, inputs: dict[str, Any]) -> None:
    """The item's `validate(inputs)`, run in the job sandbox before the job exists: what it rejects is a 422 naming
    the field, and no job. Called outside any transaction (it may take up to PORTAL_JOB_VALIDATE_SECONDS). When it
    cannot conclude, the job is created and validates in its run (a refusal then ends it as REJECTED)."""
    if not runnable.validate_at_launch or runnable.approval:
        return  # an item that needs approval runs no code of its own before its approvers agreed
    verdict = executors.current().precheck(
        Precheck(
            item_id=runnable.item_id,
            bundle_sha256=runnable.bundle_sha256,
            source_path=runnable.dev_path,
            entrypoint=runnable.entrypoint,
            inputs=inputs,
            resources=runnable.resources,
        )
    )
    if verdict.outcome == "rejected":
        # The author's message, with any sensitive value it quotes masked (as a job's error would be).
        masker = masking.Masker(inputs.get(name) for name in runnable.sensitive)
        problem = {"field": masker.text(verdict.field or "(root)"), "message": masker.text(verdict.message)}
        raise ValidationFailed(f"{runnable.item_id} {runnable.version} refused the inputs", details=[problem])
