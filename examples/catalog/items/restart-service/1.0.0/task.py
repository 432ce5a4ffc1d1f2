"""restart-service 1.0.0: a rolling restart, one host at a time (simulated: nothing is contacted)."""

import time


def run(inputs, progress_callback):
    service, hosts = inputs["service"], int(inputs.get("hosts", 3))
    for host in range(1, hosts + 1):
        print(f"draining {service} on host {host}", flush=True)
        time.sleep(0.3)
        print(f"restarted {service} on host {host}", flush=True)
        progress_callback(host * 100 // hosts, f"host {host} of {hosts} restarted")
    return {"service": service, "hosts_restarted": hosts, "reason": inputs["reason"]}
