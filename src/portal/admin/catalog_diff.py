"""Two versions of an item compared, and the schema change checked against reality: which of the item's schedules
and which of its recent jobs (the "run again" path) the newer version would refuse. Here, above the catalog, the
jobs and the schedules, because it reads all three."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft7Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.catalog import access, administration, network, schema_diff, version_diff
from portal.catalog.admin_schemas import (
    Affected,
    AffectedJob,
    AffectedSchedule,
    FileChanges,
    ManifestChange,
    Needs,
    NeedsDiff,
    SchemaChangeOut,
    SchemaDiffOut,
    VersionDiff,
)
from portal.catalog.manifest import approval_policy, network_need
from portal.catalog.models import CatalogItem, CatalogVersion
from portal.catalog.queries import sensitive_fields
from portal.catalog.service import find_version
from portal.catalog.validate import input_errors
from portal.db import session as db
from portal.identity.principal import Principal
from portal.jobs import kinds
from portal.jobs.models import Job
from portal.schedules import checks as schedule_checks
from portal.schedules.models import Schedule
from portal.secrets import masking
from portal.secrets import service as secrets

RECENT_JOBS = 10_000
LISTED = 100


def compare(
    actor: Principal, item_id: str, older: str | None, newer: str, recent_jobs: int = RECENT_JOBS
) -> VersionDiff:
    """`older` and `newer` (versions or channel names) of an item: schema, manifest, files and what each asks for
    (network, secrets, approval); `older` None compares `newer` with nothing (an item's first version, reviewed
    whole). For the item's maintainers and admins only: it names the item's schedules and other users' jobs."""
    with db.read() as s:
        item = administration.item_row(s, item_id)
        access.check_may_manage(actor, item)
        old = find_version(s, item_id, older) if older is not None else None
        new = find_version(s, item_id, newer)
        old_needs = _needs(s, item, old) if old is not None else None
        new_needs = _needs(s, item, new)
        s.expunge_all()
    # Against nothing, the schema's fields are all new and nothing ran before it to break: its text is in the
    # files (schema.json), and only the check against reality is kept.
    changes = schema_diff.diff(old.input_schema, new.input_schema, old.ui_schema, new.ui_schema) if old else []
    return VersionDiff(
        item_id=item_id,
        from_version=old.version if old else None,
        to_version=new.version,
        schema_=SchemaDiffOut(
            changes=[SchemaChangeOut(**c.as_dict()) for c in changes],
            breaking=any(c.breaking for c in changes),
            affected=affected(new, recent_jobs),
        ),
        manifest=[
            ManifestChange(key=c["key"], from_value=c["from"], to_value=c["to"])
            for c in version_diff.manifest_changes(old.manifest if old else {}, new.manifest)
        ],
        files=FileChanges.model_validate(version_diff.file_changes(old, new)),
        needs=NeedsDiff(
            from_needs=old_needs,
            to_needs=new_needs,
            new_secrets=sorted(set(new_needs.secrets) - set(old_needs.secrets if old_needs else ())),
            network_widened=not network.covers(old_needs.network if old_needs else None, new_needs.network),
        ),
    )


def _needs(s: Session, item: CatalogItem, version: CatalogVersion) -> Needs:
    need = network_need(version.manifest)
    return Needs(
        network=need,
        network_allowed=network.covers(item.network_grant, need),
        secrets=secrets.coverage(s, version),
        approval=approval_policy(version.manifest) is not None,
    )


def affected(new: CatalogVersion, recent_jobs: int = RECENT_JOBS) -> Affected:
    """The item's schedules, and its last `recent_jobs` jobs, whose inputs `new` refuses."""
    validator = Draft7Validator(new.input_schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    sensitive = sensitive_fields(new.input_schema)
    with db.read() as s:
        schedules = list(s.scalars(select(Schedule).where(Schedule.item_id == new.item_id).order_by(Schedule.id)))
        jobs = s.execute(
            select(Job.id, Job.item_version, Job.created_by_name, Job.inputs)
            .where(Job.item_id == new.item_id, Job.kind == kinds.TASK)
            .order_by(Job.id.desc())
            .limit(recent_jobs)
        ).all()
    failing_schedules = []
    for schedule in schedules:
        inputs = schedule_checks.all_inputs(schedule)  # the sealed values too: they are checked, never shown
        errors = input_errors(validator, inputs)
        if errors:
            sealed = set(inputs) - set(schedule.inputs or {}) | {
                k for k, v in (schedule.inputs or {}).items() if v == masking.MASK
            }
            masking.redact_errors(errors, sealed | set(sensitive))
            failing_schedules.append(
                AffectedSchedule(id=schedule.id, name=schedule.name, version=schedule.version, errors=errors)
            )
    failing_jobs: list[AffectedJob] = []
    failing = 0
    verdicts: dict[str, list[dict[str, Any]]] = {}  # many jobs share their inputs: each distinct set once
    for job_id, version, created_by, inputs in jobs:
        key = json.dumps(inputs, sort_keys=True, default=str)
        if key not in verdicts:
            verdicts[key] = _job_errors(validator, inputs or {}, sensitive)
        errors = verdicts[key]
        if errors:
            failing += 1
            if len(failing_jobs) < LISTED:
                failing_jobs.append(AffectedJob(id=job_id, version=version, created_by=created_by, errors=errors))
    return Affected(schedules=failing_schedules, jobs=failing_jobs, jobs_checked=len(jobs), jobs_failing=failing)


def _job_errors(validator: Draft7Validator, inputs: dict[str, Any], sensitive: tuple[str, ...]) -> list[dict[str, Any]]:
    """A job stores its sensitive inputs as `***`: what the new schema says about those is not known (their
    values are gone once the job ended), so errors on them are left out rather than guessed."""
    masked = set(masking.masked_names(inputs))
    errors = [e for e in input_errors(validator, inputs) if masking.input_of(e["field"]) not in masked]
    return masking.redact_errors(errors, set(sensitive) | masked) if errors else []
