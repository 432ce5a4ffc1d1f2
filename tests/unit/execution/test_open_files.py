"""A process that runs many jobs lifts its soft limit of open files (a shell's default 1,024 holds about 80
running jobs' pipes and pidfds); a high enough limit is left alone."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import resource
from portal.execution.host import FILES_PER_JOB, raise_open_files_limit
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
raise_open_files_limit(1000)
raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
wanted = 1024 + 1000 * FILES_PER_JOB
assert raised == (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)), (raised, hard)
raise_open_files_limit(1)
assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == raised  # never lowered
print("ok", raised)
"""


def test_the_soft_limit_of_open_files_is_raised_for_the_slots() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stderr
