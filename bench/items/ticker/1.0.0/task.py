import time


def run(inputs, progress_callback):
    seconds = float(inputs.get("seconds", 30))
    interval = 1.0 / float(inputs.get("per_second", 10))
    ticks = int(seconds / interval)
    start = time.monotonic()
    for tick in range(1, ticks + 1):
        progress_callback(int(100 * tick / ticks), f"tick {tick} of {ticks}")
        time.sleep(max(0.0, start + tick * interval - time.monotonic()))
    return {"ticks": ticks}
