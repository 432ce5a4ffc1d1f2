"""failing-task 1.0.0: fails on purpose to demo error reporting and retry.

run() is synchronous and calls progress_callback without await: the portal's callback works both
awaited and not awaited.
"""

DEFAULT_MESSAGE = "Simulated failure requested by the failing-task demo"


def run(inputs, progress_callback):
    if progress_callback is not None:
        progress_callback(50, "Halfway there")
    if inputs.get("fail", True):
        print("about to fail on purpose", flush=True)
        raise RuntimeError(inputs.get("message") or DEFAULT_MESSAGE)
    if progress_callback is not None:
        progress_callback(100, "Done without failing")
    return {"ok": True}
