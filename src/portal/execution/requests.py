"""What a run is asked to do: the task, its inputs and environment, and the limits it runs under."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_seconds: int
    file_size_mb: int
    open_files: int
    timeout_seconds: float


@dataclass(frozen=True)
class RunRequest:
    job_id: int
    bundle_dir: str
    entrypoint: str
    inputs: dict[str, Any]
    limits: Limits
    env: dict[str, str] = field(default_factory=dict)
    # The item's declared network access: None (none), {} (any port but the portal's) or {"tcp_ports": [...]}.
    network: dict[str, Any] | None = None
    # "run" (validate, then run) or "validate" (only the item's `validate`: launch-time validation).
    mode: str = "run"
