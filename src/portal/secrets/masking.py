"""Replace secret values with `***` in text and in JSON-like values (logs, messages, results, errors).

A value is also masked as a task may encode it: base64 (standard and URL-safe, also inside a longer base64
text such as an `Authorization: Basic` header, whatever the value's offset in it), URL-encoded and hex.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values would mask ordinary text ("1", "on"): they are not masked, and the docs say so.
MIN_MASKED_LENGTH = 4
# An encoded form shorter than this could be ordinary text (a few base64 letters): only longer ones are masked.
MIN_ENCODED_LENGTH = 8
_PERCENT = re.compile("%[0-9A-F]{2}")


def _forms(text: str) -> set[str]:
    """A value as a task may print it: as is, line by line (logs are split into lines), and escaped the way
    `json.dumps` and `repr` write it."""
    forms = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1], repr(text)[1:-1]}
    forms.update(line.strip() for line in text.splitlines())
    return forms


def _base64_cores(data: bytes) -> set[str]:
    """The base64 letters that depend on `data` alone, for each of its 3 possible offsets in a longer text: a
    value encoded inside `user:value` or a JSON document shows one of them whatever comes before or after it."""
    cores: set[str] = set()
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + data).decode().rstrip("=")
        first = -(-8 * shift // 6)  # the first letter with no bit of the padding before the value
        last = 8 * (shift + len(data)) // 6  # the letters after this one hold bits of what follows it
        core = encoded[first:last]
        cores.update((core, core.replace("+", "-").replace("/", "_")))
    return cores


def _encoded_forms(text: str) -> set[str]:
    """A value as a task may encode it: base64 (alone or inside more), URL-encoded, hex."""
    data = text.encode()
    forms = _base64_cores(data)
    # URL-encoded as Python, JavaScript's encodeURIComponent and form bodies write it, in either hex case.
    urls = {quote(text, safe=safe) for safe in ("", "/", "!'()*")} | {quote_plus(text, safe="")}
    forms.update(urls | {_PERCENT.sub(lambda m: m.group(0).lower(), url) for url in urls})
    forms.update((binascii.hexlify(data).decode(), binascii.hexlify(data).decode().upper()))
    return {form for form in forms if len(form) >= MIN_ENCODED_LENGTH}


class Masker:
    """Masks every occurrence of the given values, longest first (so a value containing another is whole)."""

    def __init__(self, values: Iterable[Any]) -> None:
        texts: set[str] = set()
        for value in values:
            if value is not None and not isinstance(value, bool) and len(str(value)) >= MIN_MASKED_LENGTH:
                texts |= _forms(str(value)) | _encoded_forms(str(value))
        self.values = sorted((t for t in texts if len(t) >= MIN_MASKED_LENGTH), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string masked (keys included)."""
        if not self.values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


NOT_SHOWN = "does not match the schema (the value is not shown: the input is sensitive)"


def input_of(field: str) -> str:
    """The top-level input a validation error's field names (`creds.user` and `hosts[2]` name `creds`, `hosts`)."""
    return field.split(".")[0].split("[")[0]


def masked_names(inputs: Mapping[str, Any] | None) -> list[str]:
    """The inputs stored as `***` (their values are sealed apart, or were never stored)."""
    return [name for name, value in (inputs or {}).items() if value == MASK]


def redact_errors(
    errors: list[dict[str, Any]], sensitive: Collection[str], *, masker: Masker | None = None, note: str = NOT_SHOWN
) -> list[dict[str, Any]]:
    """Validation errors that never quote a sensitive value. jsonschema quotes what it refuses: a message about a
    sensitive input, or about the inputs as a whole (which hold them), becomes `note`; any other is masked."""
    for error in errors:
        field = str(error.get("field") or "")
        if sensitive and (field in ("", "(root)") or input_of(field) in sensitive):
            error["message"] = note
        elif masker:
            error["message"] = masker.text(str(error.get("message")))
    return errors
