"""Settings from PORTAL_ variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.settings import Settings


def test_relative_data_dir_becomes_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Children run in their own scratch directory, so a relative bundle path would break every job.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORTAL_DATA_DIR", "data")
    settings = Settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'portal.db'}"


def test_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_CATALOG_LOCAL_ROOTS", "/srv/a, /srv/b")
    monkeypatch.setenv("PORTAL_CORS_ORIGINS", "https://a.example,https://b.example")
    settings = Settings()
    assert settings.catalog_local_roots == [Path("/srv/a"), Path("/srv/b")]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_WORKER_SLOTS", "-1")
    with pytest.raises(ValueError, match="worker_slots"):
        Settings()
