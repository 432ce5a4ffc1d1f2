"""Replace secret values with `***` in text and in JSON-like values (logs, messages, results, errors)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

MASK = "***"
# Shorter values would mask ordinary text ("1", "on"): they are not masked, and the docs say so.
MIN_MASKED_LENGTH = 4


def _forms(text: str) -> set[str]:
    """A value as a task may print it: as is, line by line (logs are split into lines), and escaped the way
    `json.dumps` and `repr` write it."""
    forms = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1], repr(text)[1:-1]}
    forms.update(line.strip() for line in text.splitlines())
    return forms


class Masker:
    """Masks every occurrence of the given values, longest first (so a value containing another is whole)."""

    def __init__(self, values: Iterable[Any]) -> None:
        texts: set[str] = set()
        for value in values:
            if value is not None and not isinstance(value, bool):
                texts |= _forms(str(value))
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
