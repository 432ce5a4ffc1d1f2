"""Git import requests are checked before git ever sees them; webhook repository URLs compare loosely."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.catalog.importers.git import check_request, git_env, known_hosts, normalize_repo_url
from portal.catalog.schemas import GitImportRequest
from portal.errors import ValidationFailed
from portal.settings import Settings


def fields(request: GitImportRequest, *, git_allow_file: bool = False, git_allow_http: bool = False) -> set[str]:
    try:
        check_request(request, Settings(git_allow_file=git_allow_file, git_allow_http=git_allow_http))
    except ValidationFailed as exc:
        return {d["field"] for d in exc.details}
    return set()


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/ops/catalog.git",
        "ssh://git@git.example.com/ops/catalog",
        "git@github.com:o/r.git",
    ],
)
def test_remote_urls_are_accepted(url: str) -> None:
    assert fields(GitImportRequest(url, "demo", version="1.0.0")) == set()


@pytest.mark.parametrize("url", ["http://internal/repo.git", "git://example.com/r", "HTTP://internal/repo.git"])
def test_plain_text_transports_only_when_allowed(url: str) -> None:
    """Whoever sits between the portal and the server could hand over other code, which jobs would then run."""
    assert fields(GitImportRequest(url, "demo", version="1.0.0")) == {"repo_url"}
    assert fields(GitImportRequest(url, "demo", version="1.0.0"), git_allow_http=True) == set()


@pytest.mark.parametrize(
    "url",
    ["ext::sh -c evil", "-uhttps://x", "/srv/repo", "https://host/with space", "fd::17", "file:///srv/repo"],
)
def test_other_urls_are_refused(url: str) -> None:
    assert fields(GitImportRequest(url, "demo", version="1.0.0")) == {"repo_url"}


@pytest.mark.parametrize("url", ["https://alice:ghp_secret@github.com/o/r.git", "https://ghp_token@github.com/o/r"])
def test_credentials_in_urls_are_refused(url: str) -> None:
    assert fields(GitImportRequest(url, "demo", version="1.0.0")) == {"repo_url"}


def test_file_urls_only_when_allowed() -> None:
    assert fields(GitImportRequest("file:///srv/repo", "demo", version="1.0.0"), git_allow_file=True) == set()


@pytest.mark.parametrize("ref", ["--upload-pack=x", "a..b", "main branch", "-x", "main\n"])
def test_option_like_or_odd_refs_are_refused(ref: str) -> None:
    assert fields(GitImportRequest("https://h/r.git", "demo", ref=ref)) == {"ref"}


def test_version_or_ref_exactly_one() -> None:
    assert "version" in fields(GitImportRequest("https://h/r.git", "demo"))
    assert "version" in fields(GitImportRequest("https://h/r.git", "demo", version="1.0.0", ref="main"))
    assert fields(GitImportRequest("https://h/r.git", "demo", version="v1")) == {"version"}


def test_refspec_of_a_version_is_its_tag() -> None:
    assert GitImportRequest("https://h/r", "demo", version="1.2.3").refspec == "refs/tags/demo@1.2.3"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://github.com/Org/Repo.git", "https://github.com/Org/Repo"),
        ("https://token@GitHub.com/Org/Repo/", "https://github.com/Org/Repo.git"),
        ("git@github.com:Org/Repo.git", "https://github.com/Org/Repo"),
    ],
)
def test_repository_urls_compare_loosely(a: str, b: str) -> None:
    assert normalize_repo_url(a) == normalize_repo_url(b)


def test_different_repositories_differ() -> None:
    assert normalize_repo_url("https://github.com/org/repo") != normalize_repo_url("https://github.com/org/other")


def test_ssh_trusts_only_the_known_hosts_file(tmp_path: Path) -> None:
    """No trust on first use: an unknown host key is refused, never learnt from whoever answers first."""
    settings = Settings(data_dir=tmp_path, git_ssh_known_hosts=str(tmp_path / "hosts"))
    ssh = git_env(tmp_path, settings)["GIT_SSH_COMMAND"]
    assert "StrictHostKeyChecking=yes" in ssh and "accept-new" not in ssh
    assert f"UserKnownHostsFile={tmp_path / 'hosts'}" in ssh and "GlobalKnownHostsFile=/dev/null" in ssh
    assert known_hosts(Settings(data_dir=tmp_path)) == tmp_path / "ssh_known_hosts"
