"""Benchmark scenarios of the portal: roundtrip, drain, submit and list (see bench/README.md)."""
