"""The system Chromium for the browser tests and the web benchmark: where it is and how to start it here."""

from __future__ import annotations

import shutil

# Headless as root needs --no-sandbox; the rest keeps Chromium off a network this machine does not have.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """The path of Debian's Chromium (package `chromium`), or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")
