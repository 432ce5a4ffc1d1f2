"""Masking of secret values in whatever a task reports."""

from __future__ import annotations

import json

from portal.secrets.masking import Masker

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
