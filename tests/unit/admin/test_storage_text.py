"""The bundle browser shows a file as text only when it is text: a head cut inside a character loses that
character alone, and anything else that is not UTF-8, or holds NUL bytes, is binary."""

from __future__ import annotations

from portal.admin.storage import text_of


def test_a_cut_inside_a_character_drops_only_that_character() -> None:
    data = ("a" * 10 + "€").encode()[:-1]  # the euro sign's three bytes, cut after two
    assert text_of(data, truncated=True) == "a" * 10
    assert text_of(data, truncated=False) is None  # the whole file: not UTF-8


def test_binaries_and_nul_bytes_are_not_text() -> None:
    assert text_of(bytes(range(256)), truncated=True) is None
    assert text_of(b"text\x00more", truncated=False) is None
    assert text_of("héllo".encode(), truncated=False) == "héllo"
    assert text_of(b"", truncated=False) == ""
