"""Logging: plain text for a terminal, or one JSON object per line (`PORTAL_LOG_FORMAT=json`) for collectors.

Every record carries the request id of the request it belongs to (the same id as in the `X-Request-ID`
header, the error body and the audit entries), and each request writes one access record.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from portal.context import request_id_var

ACCESS_LOGGER = "portal.access"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


def configure(log_format: str, level: str) -> dict[str, Any] | None:
    """Set up the root logger; returns the `log_config` to give uvicorn (None: leave logging as set here)."""
    if log_format != "json":
        # uvicorn's own access log covers requests in text mode.
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING)
        return None
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # replaced by portal.access, which has the request id
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO)
    return None
