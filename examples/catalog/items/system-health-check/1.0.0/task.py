"""system-health-check 1.0.0: probe platform services (simulated, deterministic).

Latency and load are derived from a hash of the service name, so the same input always gives the
same result and no randomness or network access is needed.
"""

import asyncio
import hashlib


def _probe(service):
    digest = hashlib.sha256(service.encode()).digest()
    return {
        "latency_ms": 5 + digest[0] % 120,
        "load_percent": 5 + digest[1] % 60,
        "p95_latency_ms": 20 + digest[2] % 280,
        "throughput_rps": 100 + int.from_bytes(digest[3:5], "big") % 4900,
    }


async def run(inputs, progress_callback=None):
    services = list(inputs["services"])
    performance_tests = inputs.get("performance_tests", False)
    threshold = inputs.get("alert_threshold", 80)

    if progress_callback is not None:
        await progress_callback(5, f"Checking {len(services)} service(s)")

    results = {}
    alerts = []
    span = 70 if performance_tests else 90
    for index, service in enumerate(services, start=1):
        await asyncio.sleep(0.1)
        probe = _probe(service)
        degraded = probe["load_percent"] >= threshold
        results[service] = {
            "status": "degraded" if degraded else "healthy",
            "latency_ms": probe["latency_ms"],
            "load_percent": probe["load_percent"],
        }
        if degraded:
            alerts.append(f"{service}: load {probe['load_percent']}% >= threshold {threshold}%")
        if progress_callback is not None:
            await progress_callback(5 + span * index // len(services), f"Checked {service}")

    if performance_tests:
        if progress_callback is not None:
            await progress_callback(80, "Running performance tests")
        await asyncio.sleep(0.5)
        for service in services:
            probe = _probe(service)
            results[service]["p95_latency_ms"] = probe["p95_latency_ms"]
            results[service]["throughput_rps"] = probe["throughput_rps"]

    overall = "degraded" if alerts else "healthy"
    if progress_callback is not None:
        await progress_callback(100, f"Overall status: {overall}")

    return {
        "overall_status": overall,
        "alert_threshold": threshold,
        "services": results,
        "alerts": alerts,
        "performance_tests": bool(performance_tests),
    }
