"""Scratch directories: removal that never follows a link (even while the tree changes under it), and the sweep of
folders that runner processes left when they died."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.execution.scratch import ScratchSpace
from portal.fs import remove_tree


def victim(tmp_path: Path) -> Path:
    """A folder of the host that a job must never be able to make the portal delete."""
    folder = tmp_path / "victim"
    folder.mkdir()
    for index in range(40):
        (folder / f"entry-{index}").write_text("keep me")
    (folder / "sub").mkdir()
    (folder / "sub" / "file").write_text("keep me too")
    return folder


def untouched(folder: Path) -> bool:
    return len(list(folder.iterdir())) == 41 and (folder / "sub" / "file").read_text() == "keep me too"


def test_links_are_removed_never_followed(tmp_path: Path) -> None:
    target = victim(tmp_path)
    scratch = tmp_path / "scratch"
    (scratch / "deep" / "er").mkdir(parents=True)
    (scratch / "link").symlink_to(target)
    (scratch / "deep" / "er" / "link").symlink_to(target)
    (scratch / "deep" / "file-link").symlink_to(target / "entry-1")
    (scratch / "deep" / "er" / "file").write_text("x")
    (scratch / "deep" / "er").chmod(0o500)  # read-only, as a task may leave it
    remove_tree(scratch)
    assert not scratch.exists()
    assert untouched(target)


def test_a_tree_deeper_than_the_recursion_limit_is_removed(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    fd = os.open(tmp_path, os.O_RDONLY)
    os.mkdir("scratch", dir_fd=fd)
    current = os.open("scratch", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    for _ in range(sys.getrecursionlimit() + 100):
        os.mkdir("d", dir_fd=current)
        child = os.open("d", os.O_RDONLY, dir_fd=current)
        os.close(current)
        current = child
    os.close(current)
    remove_tree(scratch)
    assert not scratch.exists()


def test_a_directory_swapped_for_a_link_during_the_removal_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack of a process that outlived its job: swap each folder of the scratch directory for a symlink to a
    host folder at the worst moment, right after the removal listed it and before it opens or unlinks it. Entries
    carry the victim's names, so anything done by path through the link would hit the victim."""
    target = victim(tmp_path)
    scratch = tmp_path / "scratch"
    for index in range(5):
        (scratch / f"d{index}" / "sub").mkdir(parents=True)
        for name in range(40):
            (scratch / f"d{index}" / f"entry-{name}").write_text("x")
            (scratch / f"d{index}" / "sub" / "file").write_text("x")
    listdir = os.listdir
    swapped: list[str] = []

    def list_then_swap(fd: int) -> list[str]:
        names = listdir(fd)
        for name in names:
            if name.startswith("d") and os.path.isdir(os.path.join(f"/proc/self/fd/{fd}", name)):
                os.rename(name, f"moved-{name}", src_dir_fd=fd, dst_dir_fd=fd)
                os.symlink(target, name, dir_fd=fd)
                swapped.append(name)
        return names

    monkeypatch.setattr("portal.fs.os.listdir", list_then_swap)
    remove_tree(scratch)
    monkeypatch.undo()
    assert len(swapped) == 5
    assert not scratch.exists()  # the moved folders too: a folder filled meanwhile is listed again
    assert untouched(target)


def test_the_folders_of_dead_runners_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    live = ScratchSpace(root)
    left = live.new_dir(7)
    (left / "file").write_text("a running job's")
    # A runner process that died with a job's scratch directory in its folder.
    code = (
        "import sys; from pathlib import Path; from portal.execution.scratch import ScratchSpace;"
        "s = ScratchSpace(Path(sys.argv[1])); (s.new_dir(1) / 'left').write_text('x'); print(s.folder)"
    )
    dead = Path(subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True).stdout.strip())
    assert dead.is_dir()
    (root / "job-3-old").mkdir()  # the layout before runner folders
    starting = ScratchSpace(root)  # a runner starting: it sweeps first
    assert not dead.exists() and not (root / "job-3-old").exists()
    assert (left / "file").read_text() == "a running job's"
    assert starting.sweep() == []
    starting.close()
    live.close()
    assert not live.folder.exists()
