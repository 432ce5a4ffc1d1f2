"""Running jobs: the executor interface, the embedded executor, and the sandboxed runner."""
