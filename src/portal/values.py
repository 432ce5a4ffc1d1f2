"""What JSON and the database can store and give back unchanged: checked at the door, so that nothing accepted
can make a later read fail (a lone surrogate, a NUL character, NaN, an integer beyond 64 bits, nesting too deep to
serialize)."""

from __future__ import annotations

import math
import re
from typing import Any

MAX_DEPTH = 64
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
MAX_ID = MAX_INT  # ids in paths: the database's 64-bit integers
_SURROGATE = re.compile("[\ud800-\udfff]")


def problems(value: Any, field: str = "") -> list[dict[str, str]]:
    """Each part of `value` that cannot be stored and served back, as `{field, message}` with the field's path
    below `field` (`devices[1]`, `options.retries`); walked without recursion, so a hostile depth costs nothing."""
    found: list[dict[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack and len(found) < 20:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            found.append({"field": where or "(root)", "message": f"nested deeper than {MAX_DEPTH} levels"})
            continue
        if isinstance(item, str):
            if _SURROGATE.search(item):
                found.append({"field": where, "message": "holds an unpaired surrogate, which is not text"})
            if "\x00" in item:
                found.append({"field": where, "message": "holds a NUL character, which the database cannot store"})
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not MIN_INT <= item <= MAX_INT:
                found.append({"field": where, "message": "is an integer beyond 64 bits"})
        elif isinstance(item, float):
            if not math.isfinite(item):
                found.append({"field": where, "message": "must be a finite number (not NaN or Infinity)"})
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    found.append({"field": where or "(root)", "message": "has a key with an unpaired surrogate"})
                if isinstance(key, str) and "\x00" in key:
                    found.append({"field": where or "(root)", "message": "has a key with a NUL character"})
                stack.append((child, f"{where}.{key}" if where else str(key), depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]", depth + 1) for index, child in enumerate(item))
    return found


def text(value: str) -> str:
    """Text every database takes: NUL characters and unpaired surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return _SURROGATE.sub("\ufffd", value)
