"""The floor of the distributed scenario: plain Celery on the same Redis, with no portal in the way.

`raw.noop` returns through a Redis result backend (for the round trip); `raw.count` increments a Redis counter
(for the drain, whose end is seen without a result per task); `raw.spawn` starts `python -I -S -c pass` and then
counts: the process per job a portal job pays for, as a second floor; `raw.fork` forks a child that exits at
once, then counts: the original portal's shape (Celery, a child forked per job, no isolation). The delivery
settings are the portal workers': late acknowledgement, one message reserved per thread, the thread pool.
Worker processes are started with `celery -A bench.raw_celery:app worker` and find their namespace in
BENCH_RAW_NAMESPACE.
"""

from __future__ import annotations

import os
import subprocess
import sys

import redis
from celery import Celery

REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
FLOOR_COMMAND = [os.path.realpath(sys.executable), "-I", "-S", "-c", "pass"]


def counter_key(namespace: str) -> str:
    return f"{namespace}:done"


def make_app(namespace: str) -> Celery:
    """A Celery app whose queue, keys and results live under `namespace` on REDIS_URL (the sending side: it sends
    tasks by name)."""
    app = Celery("raw", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=namespace,
        broker_transport_options={"global_keyprefix": f"{namespace}:"},
        result_backend_transport_options={"global_keyprefix": f"{namespace}:"},
        result_expires=600,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )
    return app


def worker_app(namespace: str) -> Celery:
    """The app of the worker processes: `make_app` with the two tasks."""
    app = make_app(namespace)
    counter = redis.Redis.from_url(REDIS_URL)

    @app.task(name="raw.noop")  # type: ignore[untyped-decorator]
    def noop() -> None:
        return None

    @app.task(name="raw.count", ignore_result=True)  # type: ignore[untyped-decorator]
    def count() -> None:
        counter.incr(counter_key(namespace))

    @app.task(name="raw.spawn", ignore_result=True)  # type: ignore[untyped-decorator]
    def spawn() -> None:
        subprocess.run(FLOOR_COMMAND, check=True, stdin=subprocess.DEVNULL)
        counter.incr(counter_key(namespace))

    @app.task(name="raw.fork", ignore_result=True)  # type: ignore[untyped-decorator]
    def fork() -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        counter.incr(counter_key(namespace))

    return app


app = worker_app(os.environ.get("BENCH_RAW_NAMESPACE", "rawbench"))
