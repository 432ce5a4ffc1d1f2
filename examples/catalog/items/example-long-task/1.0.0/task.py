"""example-long-task 1.0.0: five one-second steps with progress, the original portal's demo job."""

import asyncio

STEPS = 5


async def run(inputs, progress_callback=None):
    label = inputs.get("label") or None
    for i in range(1, STEPS + 1):
        await asyncio.sleep(1)
        print(f"step {i} of {STEPS} done", flush=True)
        if progress_callback is not None:
            await progress_callback(i * 100 // STEPS, f"Step {i} of {STEPS}")
    return {"steps": STEPS, "label": label}
