"""Masking of secret values in whatever a task reports."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

from jsonschema import Draft7Validator

from portal.catalog.validate import input_errors
from portal.secrets.masking import NOT_SHOWN, Masker, redact_errors

PEM = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END KEY-----"


def test_values_are_masked_in_text_and_in_json_like_values() -> None:
    masker = Masker(["s3cret-token", 'pw-with-"quote"', None, True])
    assert masker.text("token=s3cret-token; again s3cret-token") == "token=***; again ***"
    assert masker.value({"a": ["s3cret-token", 1], "s3cret-token": "x"}) == {"a": ["***", 1], "***": "x"}
    # as json.dumps and repr print it
    assert "quote" not in masker.text(json.dumps({"p": 'pw-with-"quote"'}))
    assert "quote" not in masker.text(repr({"p": 'pw-with-"quote"'}))


def test_a_multi_line_secret_is_masked_line_by_line() -> None:
    masker = Masker([PEM])
    for line in PEM.splitlines():
        assert masker.text(f"  {line}") == "  ***"
    assert masker.text(json.dumps(PEM)) == '"***"'


def test_short_values_are_left_alone() -> None:
    masker = Masker(["abc"])
    assert not masker and masker.text("abc def") == "abc def"


def test_a_value_is_masked_in_the_encodings_a_task_may_print() -> None:
    secret = "hunter2-s3cret/value+more"
    masker = Masker([secret])
    raw = secret.encode()
    for shown in (
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        quote(secret, safe=""),
        quote(secret),  # "/" kept
        quote(secret, safe="!'()*"),  # as encodeURIComponent writes it
        quote(secret, safe="").lower(),  # lowercase hex
        quote_plus(secret),
        raw.hex(),
        raw.hex().upper(),
    ):
        masked = masker.text(f"value: {shown} end")
        assert masked.startswith("value: ") and masked.endswith(" end"), shown
        assert shown not in masked and "***" in masked, (shown, masked)


def test_a_value_inside_a_longer_base64_text_is_masked_at_any_offset() -> None:
    secret = "correct-horse-battery"
    masker = Masker([secret])
    for prefix in ("", "a", "ab", "admin:", "user12:"):
        header = base64.b64encode(f"{prefix}{secret}@host".encode()).decode()
        masked = masker.text(f"Authorization: Basic {header}")
        assert "***" in masked, (prefix, header)
        # what is left is too little to decode the secret: at most a few letters on each side of the mask
        left = masked.removeprefix("Authorization: Basic ").split("***")
        assert all(len(part) <= 8 + len(prefix) * 2 for part in left), (prefix, masked)


def test_encodings_of_short_values_are_not_masked_in_ordinary_text() -> None:
    masker = Masker(["abcd"])  # its base64 "YWJjZA" is too short to tell from text; its hex is long enough
    assert masker.text("YWJjZA 61626364 abcd") == "YWJjZA *** ***"


def test_a_schema_error_about_the_whole_inputs_does_not_quote_a_sensitive_value() -> None:
    """jsonschema quotes the instance it refuses: at the root that is every input, the sensitive ones too."""
    schema = {
        "type": "object",
        "properties": {"password": {"type": "string", "writeOnly": True}, "host": {"type": "string"}},
        "anyOf": [{"required": ["host"]}, {"required": ["port"]}],
    }
    errors = input_errors(Draft7Validator(schema), {"password": "hunter2-secret"})
    assert any("hunter2-secret" in e["message"] for e in errors)  # what would leak
    redacted = redact_errors(errors, ("password",))
    assert redacted and all("hunter2-secret" not in e["message"] for e in redacted)
    assert {e["message"] for e in redacted} == {NOT_SHOWN}


def test_other_schema_errors_are_masked_not_hidden() -> None:
    errors = [{"field": "host", "message": "'db-hunter2-secret' is too long"}]
    redacted = redact_errors(errors, ("password",), masker=Masker(["hunter2-secret"]))
    assert redacted == [{"field": "host", "message": "'db-***' is too long"}]
