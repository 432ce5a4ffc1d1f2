"""`python -m bench all` or `python -m bench roundtrip drain ...`: run scenarios, exit 1 on a correctness failure."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import (
    analytics,
    audit,
    backup,
    catalog,
    catalog_admin,
    distributed,
    drain,
    history,
    listing,
    logins,
    retention,
    roundtrip,
    running,
    stats,
    submit,
    web,
)
from bench.common import CorrectnessError, load_average

SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "roundtrip": roundtrip.run,
    "drain": drain.run,
    "submit": submit.run,
    "list": listing.run,
    "catalog": catalog.run,
    "catalog-admin": catalog_admin.run,
    "web": web.run,
    "stats": stats.run,
    "audit": audit.run,
    "logins": logins.run,
    "history": history.run,
    "retention": retention.run,
    "backup": backup.run,
    "analytics": analytics.run,
    "distributed": distributed.run,
    "running": running.run,
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios in order; benchmarks print figures and fail only on broken correctness."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenarios", nargs="+", choices=[*SCENARIOS, "all"], help="which scenarios to run")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if "all" in args.scenarios else list(dict.fromkeys(args.scenarios))
    failed: list[str] = []
    for name in names:
        start = time.monotonic()
        print(f"[{name}] starting (1-minute load average {load_average():.2f})", flush=True)
        try:
            SCENARIOS[name]()
        except CorrectnessError as exc:
            print(f"[{name}] CORRECTNESS FAILURE: {exc}", file=sys.stderr, flush=True)
            failed.append(name)
        except Exception:
            traceback.print_exc()
            print(f"[{name}] ERROR: the scenario could not run", file=sys.stderr, flush=True)
            failed.append(name)
        print(f"[{name}] took {time.monotonic() - start:.1f} s\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
