import time


def run(inputs):
    time.sleep(float(inputs.get("seconds", 60)))
    return {"slept": inputs.get("seconds", 60)}
