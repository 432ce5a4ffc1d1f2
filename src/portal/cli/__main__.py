"""`python -m portal.cli`: the `portal` command (the unprivileged tests run it so, with another interpreter)."""

from portal.cli import main

main()
