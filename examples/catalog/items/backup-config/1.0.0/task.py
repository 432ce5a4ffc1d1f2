"""backup-config 1.0.0: back up network device configurations to an S3 bucket (simulated)."""

import asyncio
from datetime import UTC, datetime


async def run(inputs, progress_callback=None):
    devices = list(inputs["devices"])
    bucket = inputs["bucket"]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    if progress_callback is not None:
        await progress_callback(10, f"Connecting to {len(devices)} device(s)")
    await asyncio.sleep(0.2)

    if progress_callback is not None:
        await progress_callback(40, "Fetching running configurations")
    await asyncio.sleep(0.3)

    if progress_callback is not None:
        await progress_callback(75, f"Uploading to s3://{bucket}")
    await asyncio.sleep(0.3)

    backups = {device: f"backups/{stamp}/{device}.cfg" for device in devices}

    if progress_callback is not None:
        await progress_callback(100, f"Backed up {len(devices)} device(s)")

    return {
        "bucket": bucket,
        "timestamp": stamp,
        "backups": backups,
        "device_count": len(devices),
    }
