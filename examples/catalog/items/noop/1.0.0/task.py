"""noop 1.0.0: returns at once. Used by the benchmarks, so it imports nothing."""


def run(inputs):
    return {"ok": True}
