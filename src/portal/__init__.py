"""Self-service portal: catalog of runnable automation items, sandboxed jobs, live events."""

__version__ = "0.1.0"
