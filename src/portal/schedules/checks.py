"""What makes a schedule valid, checked on every change and again at each tick: the cron expression and time
zone (not too frequent), the version it names (not deprecated unless it follows latest), and the inputs against
that version's schema, with stored sensitive values never shown in a message."""

from __future__ import annotations

from typing import Any

from portal.catalog import channels
from portal.catalog import queries as catalog_queries
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.jobs import submission
from portal.schedules import cron
from portal.schedules.models import Schedule
from portal.secrets import crypto, masking
from portal.secrets.masking import MASK
from portal.settings import get_settings

LATEST = "latest"
_SEALED_NOT_SHOWN = "does not match the schema (not shown: it involves a stored sensitive value)"


def problem(field_name: str, message: str) -> dict[str, str]:
    return {"field": field_name, "message": message}


def parse(expression: str, timezone: str, problems: list[dict[str, str]]) -> cron.Cron | None:
    """The checked expression, or None with the problems (cron, timezone, too frequent) added."""
    try:
        cron.zone(timezone)
    except cron.CronError as exc:
        problems.append(problem(exc.field, exc.message))
        timezone = "UTC"  # still check the expression itself
    try:
        parsed = cron.parse(expression, timezone)
    except cron.CronError as exc:
        problems.append(problem(exc.field, exc.message))
        return None
    minimum = get_settings().scheduler_min_interval_seconds
    gap = cron.smallest_gap(parsed, utcnow())
    if gap is not None and gap.total_seconds() < minimum:
        problems.append(
            problem(
                "cron",
                f"runs {gap.total_seconds():g} s apart at times; schedules must be at least {minimum:g} s apart "
                "(PORTAL_SCHEDULER_MIN_INTERVAL_SECONDS)",
            )
        )
        return None
    return parsed if not any(p["field"] == "timezone" for p in problems) else None


def resolve(item_id: str, version: str, problems: list[dict[str, str]]) -> catalog_queries.RunnableVersion | None:
    """The version a schedule names, or None with the problem (item_id or version) added."""
    try:
        runnable = catalog_queries.resolve_runnable(item_id, version)
    except NotFound as exc:
        where = exc.details.get("field") if isinstance(exc.details, dict) else None
        problems.append(problem(where or "item_id", exc.message))
        return None
    except Conflict as exc:  # archived or otherwise not runnable
        problems.append(problem("version", exc.message))
        return None
    if version != LATEST and not channels.is_channel_name(version) and runnable.deprecated:
        problems.append(
            problem(
                "version",
                f"{item_id} {version} is deprecated ({runnable.deprecated}): pin another version or use latest",
            )
        )
        return None
    return runnable


def check_inputs(
    runnable: catalog_queries.RunnableVersion,
    inputs: dict[str, Any],
    problems: list[dict[str, str]],
    sealed: dict[str, Any] | None = None,
    *,
    at_launch: bool = False,
) -> None:
    """Inputs against the version's schema (problems on `inputs.<field>`); Conflict when secrets are missing.
    With `at_launch` (a schedule being saved), the item's `validate` too, as a job's launch runs it.

    `sealed` are the schedule's stored sensitive values: a message about them, or about the inputs as a whole
    (which quotes them), is not shown, and any other message has them masked. The version may have changed
    since they were sealed (a field no longer marked sensitive), so the version's own marks are not enough.
    """
    try:
        submission.check_runnable(runnable, inputs)
        if at_launch:
            submission.validate_at_launch(runnable, inputs)
    except ValidationFailed as exc:
        details = exc.details if isinstance(exc.details, list) else []
        if sealed:
            masking.redact_errors(details, sealed, masker=masking.Masker(sealed.values()), note=_SEALED_NOT_SHOWN)
        for detail in details:
            field_name = str(detail.get("field") or "")
            where = "inputs" if field_name in ("", "(root)") else f"inputs.{field_name}"
            problems.append(problem(where, str(detail.get("message"))))
        if not details:
            problems.append(problem("inputs", exc.message))


def raise_problems(problems: list[dict[str, str]]) -> None:
    if problems:
        fields = ", ".join(dict.fromkeys(p["field"] for p in problems))
        raise ValidationFailed(f"the schedule is not valid ({fields})", details=problems)


def all_inputs(schedule: Schedule) -> dict[str, Any]:
    """The inputs in clear: the stored ones with the sealed sensitive values put back."""
    inputs = dict(schedule.inputs or {})
    if schedule.sealed_inputs:
        inputs.update(crypto.unseal(schedule.sealed_inputs))
    return inputs


def with_kept_secrets(schedule: Schedule, given: dict[str, Any]) -> dict[str, Any]:
    """New inputs where a sensitive value given as `***` keeps the stored one (it is never shown to anyone)."""
    if not schedule.sealed_inputs:
        return given
    kept = crypto.unseal(schedule.sealed_inputs)
    return {name: kept[name] if value == MASK and name in kept else value for name, value in given.items()}


def prepare(schedule: Schedule) -> tuple[catalog_queries.RunnableVersion, dict[str, Any]]:
    """The version to run and the inputs in clear, checked like a new job's (PortalError when they are not)."""
    problems: list[dict[str, str]] = []
    runnable = resolve(schedule.item_id, schedule.version, problems)
    inputs = all_inputs(schedule)
    if runnable is not None:
        sealed = crypto.unseal(schedule.sealed_inputs) if schedule.sealed_inputs else None
        check_inputs(runnable, inputs, problems, sealed)
    raise_problems(problems)
    assert runnable is not None
    return runnable, inputs
