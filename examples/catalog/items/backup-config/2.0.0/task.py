"""backup-config 2.0.0: back up network device configurations to an S3 bucket (simulated).

Adds encryption, compression, a schedule and a retention period to 1.0.0.
"""

import asyncio
from datetime import UTC, datetime, timedelta

_EXTENSIONS = {"gzip": ".cfg.gz", "zstd": ".cfg.zst", "none": ".cfg"}
_INTERVALS = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


class ValidationError(ValueError):
    """A refusal naming the input at fault: the portal shows the message under that form field."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def validate(inputs):
    """Return cleaned inputs: hostnames stripped and lowercased, duplicates (ignoring case) rejected."""
    devices = inputs.get("devices")
    if not isinstance(devices, list) or not devices:
        raise ValidationError("devices", "give at least one hostname")
    cleaned = []
    seen = {}
    for index, raw in enumerate(devices):
        if not isinstance(raw, str) or not raw.strip():
            raise ValidationError(f"devices[{index}]", "give a hostname")
        host = raw.strip().lower()
        if host in seen:
            raise ValidationError(
                f"devices[{index}]", f"{raw!r} duplicates {seen[host]!r} (hostnames are compared ignoring case)"
            )
        seen[host] = raw
        cleaned.append(host)
    out = dict(inputs)
    out["devices"] = cleaned
    return out


async def run(inputs, progress_callback=None):
    inputs = validate(inputs)
    devices = inputs["devices"]
    bucket = inputs["bucket"]
    encryption = inputs.get("encryption", True)
    schedule = inputs.get("schedule", "once")
    retention_days = inputs.get("retention_days", 30)
    compression = inputs.get("compression", "gzip")

    now = datetime.now(UTC).replace(microsecond=0)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    ext = _EXTENSIONS[compression]

    async def step(pct, message):
        if progress_callback is not None:
            await progress_callback(pct, message)
        await asyncio.sleep(0.2)

    await step(10, f"Connecting to {len(devices)} device(s)")

    await step(30, "Fetching running configurations")
    for device in devices:
        print(f"fetched running-config from {device}", flush=True)

    if compression == "none":
        await step(50, "Skipping compression")
    else:
        await step(50, f"Compressing with {compression}")

    if encryption:
        await step(70, "Encrypting with AES-256")
    else:
        await step(70, "Encryption disabled, storing plain objects")

    await step(90, f"Uploading {len(devices)} object(s) to s3://{bucket}")

    backups = [
        {
            "device": device,
            "key": f"backups/{stamp}/{device}{ext}",
            "encrypted": bool(encryption),
        }
        for device in devices
    ]
    next_run = now + _INTERVALS[schedule] if schedule in _INTERVALS else None

    if progress_callback is not None:
        await progress_callback(100, f"Backed up {len(devices)} device(s)")

    return {
        "bucket": bucket,
        "timestamp": stamp,
        "backups": backups,
        "device_count": len(devices),
        "encryption": "AES256" if encryption else None,
        "compression": compression,
        "schedule": schedule,
        "next_run": next_run.isoformat() if next_run else None,
        "retention_days": retention_days,
        "expires_at": (now + timedelta(days=retention_days)).isoformat(),
    }
