"""The one redaction of the sources domain: sensitive property names, URL passwords, token-shaped values; and
restoring stored values a client sent back masked; and a document that cannot be read is a parse error."""

from __future__ import annotations

import pytest

from portal.sources.redaction import MASK, looks_like_token, redact, redact_text, redact_url, restore, url_has_password
from portal.sources.validation import ParseError, parse_body

TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def test_url_passwords_and_token_user_names_are_masked() -> None:
    assert redact_url("https://bob:hunter2@git.example.com/r.git") == f"https://bob:{MASK}@git.example.com/r.git"
    assert redact_url(f"https://{TOKEN}@github.com/o/r.git") == f"https://{MASK}@github.com/o/r.git"
    assert redact_url("ssh://git@git.example.com/r.git") == "ssh://git@git.example.com/r.git"
    assert redact_url("git@github.com:o/r.git") == "git@github.com:o/r.git"
    assert url_has_password("https://bob:x@h/r") and not url_has_password("https://bob@h/r")


def test_free_text_loses_url_passwords() -> None:
    text = "fatal: unable to access 'https://bob:hunter2@git.example.com/r.git/': 403"
    assert "hunter2" not in redact_text(text) and "bob:***@git.example.com" in redact_text(text)
    dummy = f"https://{TOKEN}:x-oauth-basic@github.com/o/r.git"
    assert redact_text(dummy) == "https://***:***@github.com/o/r.git"
    with_token = f"fatal: could not read from 'https://{TOKEN}@github.com/o/r.git'; ssh://git@h/r stays"
    assert redact_text(with_token) == "fatal: could not read from 'https://***@github.com/o/r.git'; ssh://git@h/r stays"


def test_documents_are_redacted_at_every_level_but_secret_references_stay() -> None:
    document = {
        "sources": [
            {"id": "a", "url": "https://u:pw@h/r.git", "credentials": {"secret": "DEPLOY_TOKEN"}},
            {"id": "b", "path": TOKEN, "nested": {"api_key": "abc", "password": "p", "list": [TOKEN]}},
        ]
    }
    out = redact(document)
    reference = {"secret": "DEPLOY_TOKEN"}
    assert out["sources"][0] == {"id": "a", "url": f"https://u:{MASK}@h/r.git", "credentials": reference}
    assert out["sources"][1] == {"id": "b", "path": MASK, "nested": {"api_key": MASK, "password": MASK, "list": [MASK]}}
    assert document["sources"][0]["url"] == "https://u:pw@h/r.git"  # a copy


def test_token_shapes() -> None:
    assert looks_like_token(TOKEN)
    assert looks_like_token("glpat-abcdefghijklmnopqrst")
    assert looks_like_token("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    assert not looks_like_token("catalog-deploy-token")
    assert not looks_like_token("*@*")


def test_masked_values_sent_back_keep_the_stored_ones() -> None:
    stored = {"sources": [{"id": "a", "url": "https://u:pw@h/r.git"}, {"id": "b", "url": "https://v:pw2@h/s.git"}]}
    sent = redact(stored)
    sent["sources"][1]["url"] = f"https://v:{MASK}@other/s.git"  # changed: not restored
    back = restore(sent, stored)
    assert back["sources"][0]["url"] == "https://u:pw@h/r.git"
    assert back["sources"][1]["url"] == f"https://v:{MASK}@other/s.git"
    assert restore({"sources": [{"id": ["a"]}, 3]}, stored) == {"sources": [{"id": ["a"]}, 3]}  # not a document yet
    assert restore([1], stored) == [1]


def test_numbers_too_long_to_convert_are_a_parse_error_not_a_crash() -> None:
    huge = "1" * 5000
    for body, yaml_input in ((f'{{"apiVersion": {huge}}}', False), (f"apiVersion: {huge}\n", True)):
        with pytest.raises(ParseError, match="invalid"):
            parse_body(body.encode(), yaml_input)
