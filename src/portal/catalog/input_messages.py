"""Schema violations of a job's inputs in words: the field named by its title, what is expected said plainly.

The web app's form says the same (frontend/src/lib/formMessages.ts; both are checked against one list of
cases, frontend/src/lib/formMessages.cases.json). An item may give its own message with the `errorMessage`
keyword on a field's schema: a string for any problem of that field, or an object by keyword
(`{"pattern": "...", "required": "..."}`).
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import jsonschema

_TYPES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a group of fields",
    "null": "empty",
}
_FORMATS = {
    "email": "an email address",
    "uri": "a URL",
    "date": "a date (YYYY-MM-DD)",
    "date-time": "a date and time",
    "time": "a time",
    "hostname": "a host name",
    "ipv4": "an IPv4 address",
    "ipv6": "an IPv6 address",
    "uuid": "a UUID",
}

_BOUNDS = {
    "minimum": "{label} must be {value} or more",
    "maximum": "{label} must be {value} or less",
    "exclusiveMinimum": "{label} must be more than {value}",
    "exclusiveMaximum": "{label} must be less than {value}",
}


def value_text(value: Any) -> str:
    """A schema's value as a message shows it: text as it is, a whole float without '.0', the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # as JavaScript's JSON.stringify


def _at(schema: Any, path: list[str | int]) -> tuple[dict[str, Any], str]:
    """The schema of the field at `path` and its label: its title, or its name, or "<list's label> entry N"."""
    node: Any = schema
    label = "The inputs"
    for part in path:
        if isinstance(part, int):
            items = node.get("items") if isinstance(node, dict) else None
            node = items if isinstance(items, dict) else {}
            label = f"{label} entry {part + 1}"
        else:
            properties = node.get("properties") if isinstance(node, dict) else None
            node = properties.get(part) if isinstance(properties, dict) else None
            node = node if isinstance(node, dict) else {}
            label = str(node.get("title") or part)
    return node, label


def _own_message(field_schema: dict[str, Any], keyword: str) -> str | None:
    custom = field_schema.get("errorMessage")
    if isinstance(custom, str) and custom.strip():
        return custom
    if isinstance(custom, dict) and isinstance(custom.get(keyword), str) and custom[keyword].strip():
        return str(custom[keyword])
    return None


def describe(keyword: str, value: Any, field_schema: dict[str, Any], label: str, fallback: str) -> str:
    """One problem in words: `keyword` (a JSON Schema keyword) failed with the schema's `value` for it."""
    own = _own_message(field_schema, keyword)
    if own is not None:
        return own
    if keyword == "required":
        return f"{label} is required"
    if keyword == "type":
        wanted = value if isinstance(value, list) else [value]
        return f"{label} must be " + " or ".join(_TYPES.get(str(t), str(t)) for t in wanted)
    if keyword == "minLength":
        return f"{label} cannot be empty" if value == 1 else f"{label} must be at least {value} characters long"
    if keyword == "maxLength":
        return f"{label} must be at most {value} characters long"
    bound = _BOUNDS.get(keyword)
    if bound is not None:
        return bound.format(label=label, value=value_text(value))
    if keyword == "multipleOf":
        return f"{label} must be a multiple of {value_text(value)}"
    if keyword == "pattern":
        description = field_schema.get("description")
        if isinstance(description, str) and description.strip():
            return f"{label} is not valid: {description.strip()}"
        return f"{label} is not in the expected form"
    if keyword == "format":
        return f"{label} must be {_FORMATS.get(str(value), f'in the {value} format')}"
    if keyword == "enum" and isinstance(value, list):
        return f"{label} must be one of: " + ", ".join(value_text(v) for v in value)
    if keyword == "const":
        return f"{label} must be {value_text(value)}"
    if keyword == "minItems":
        return f"{label} needs at least one entry" if value == 1 else f"{label} needs at least {value} entries"
    if keyword == "maxItems":
        return f"{label} can have at most {value} entries"
    if keyword == "uniqueItems":
        return f"{label} has the same entry more than once"
    return f"{label}: {fallback}"


def missing_property(error: jsonschema.ValidationError) -> str:
    """The property a `required` error is about (jsonschema quotes it with Python's repr: '...', or "..." when
    it holds a quote)."""
    text = error.message.rsplit(" is a required property", 1)[0]
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, str) else text


def in_words(error: jsonschema.ValidationError, root_schema: Any) -> str:
    """A jsonschema error of the inputs in words (see `describe`)."""
    path = list(error.absolute_path)
    keyword = str(error.validator)
    if keyword == "required":
        missing = missing_property(error)
        field_schema, label = _at(root_schema, [*path, missing])
        return describe(keyword, error.validator_value, field_schema, label, error.message)
    if keyword == "additionalProperties":
        declared = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        patterns = error.schema.get("patternProperties", {}) if isinstance(error.schema, dict) else {}
        instance = error.instance if isinstance(error.instance, dict) else {}
        extra = [
            str(key)
            for key in instance
            if key not in declared and not any(re.search(pattern, str(key)) for pattern in patterns)
        ]
        if len(extra) > 1:
            return f"{', '.join(extra)} are not inputs of this item"
        return f"{extra[0] if extra else 'an input'} is not an input of this item"
    field_schema, label = _at(root_schema, path)
    return describe(keyword, error.validator_value, field_schema, label, error.message)
