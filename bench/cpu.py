"""What the whole machine's CPUs spent on a measured phase, read from `/proc/stat`: the figures that say whether a
throughput target is reachable on this machine at all at the phase's CPU cost per job.

Every process counts (the portal, its workers and children, PostgreSQL, Redis, the kernel's threads and the load
generator), because they all share the same cores: a target above the ceiling computed here would need a cheaper
job, not a better schedule.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class CpuUse:
    """Busy CPU-seconds of every core together over a phase's wall seconds."""

    cores: int
    busy_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def utilisation(self) -> float:
        """The share of all cores that was busy (1.0: every core all the time)."""
        return self.busy_seconds / (self.wall_seconds * self.cores) if self.wall_seconds else 0.0

    def per_unit_ms(self, units: int) -> float:
        """Machine CPU milliseconds per job (or request) of the phase."""
        return self.busy_seconds * 1000 / units if units else 0.0

    def ceiling(self, units: int) -> float:
        """Units per second if every core did nothing but this at the phase's cost per unit."""
        return self.cores * units / self.busy_seconds if self.busy_seconds else float("inf")

    def figures(self, units: int) -> dict[str, Any]:
        """The phase's CPU figures for a results file."""
        return {
            "cores": self.cores,
            "utilisation": round(self.utilisation, 3),
            "cpu_ms_per_unit": round(self.per_unit_ms(units), 3),
            "ceiling_per_second": round(self.ceiling(units), 1),
        }

    def describe(self, units: int, unit: str = "job") -> str:
        """One line: how busy the machine was, its CPU per unit, and the ceiling that follows."""
        return (
            f"machine {self.utilisation:.0%} busy ({self.cores} cores), {self.per_unit_ms(units):.2f} ms of CPU per "
            f"{unit}: at most {self.ceiling(units):.0f} {unit}s/s with every core on it"
        )


def _busy_ticks() -> int:
    """Clock ticks every core together spent busy since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already counted in user)
    return sum(fields[:8]) - fields[3] - fields[4]


@contextmanager
def machine_cpu() -> Iterator[CpuUse]:
    """Measure the block: the CpuUse it yields is filled in when the block ends."""
    use = CpuUse(cores=os.cpu_count() or 1)
    busy_before = _busy_ticks()
    start = time.perf_counter()
    try:
        yield use
    finally:
        busy_after = _busy_ticks()
        use.wall_seconds = time.perf_counter() - start
        use.busy_seconds = (busy_after - busy_before) / _TICKS


def ceiling_verdict(needed: float, use: CpuUse, units: int) -> str:
    """Whether `needed` units/s fit under the phase's ceiling on this machine."""
    ceiling = use.ceiling(units)
    if needed <= ceiling:
        return f"{needed:.0f}/s fits under that ceiling"
    return f"{needed:.0f}/s is above that ceiling: out of reach on this machine at this CPU cost per job"
