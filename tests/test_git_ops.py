"""Issue 10, item 8: git's multi-step commands work with git-model exactly as without it.

rebase, cherry-pick, revert, am, merge, stash and pull --rebase keep their own index in
memory between steps; the post-checkout hook must not re-date files or rewrite the index
under them. Each is run through real git on a branch that changed a model.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import git, gm

pytestmark = pytest.mark.slow


def _data(seed: str) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(1 << 16)


def _write(repo: Path, name: str, seed: str) -> bytes:
    data = _data(seed)
    (repo / name).write_bytes(data)
    return data


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: base, then a text change; feat (checked out): two model versions."""
    repo = tmp_path_factory.mktemp("ops") / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    gm(repo, "install", "--local")
    gm(repo, "track", "*.bin")
    _write(repo, "m.bin", "a")
    (repo / "a.txt").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "feat")
    for seed in ("b", "c"):
        _write(repo, "m.bin", seed)
        git(repo, "commit", "-qam", f"model {seed}")
    git(repo, "checkout", "-q", "main")
    (repo / "a.txt").write_text("y\n")
    git(repo, "commit", "-qam", "text")
    git(repo, "checkout", "-q", "feat")
    return repo


@pytest.fixture
def branches(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template (a copy is a whole repository: .git inside)."""
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    return repo


def _clean(repo: Path, model: bytes) -> None:
    assert (repo / "m.bin").read_bytes() == model
    assert git(repo, "status", "--porcelain").stdout == b""
    assert not (repo / ".git" / "rebase-merge").exists()
    assert not (repo / ".git" / "rebase-apply").exists()
    assert gm(repo, "fsck").returncode == 0


@pytest.mark.parametrize("args", [["rebase", "main"], ["rebase", "--apply", "main"],
                                  ["-c", "sequence.editor=true", "rebase", "-i", "main"],
                                  ["pull", "--rebase", ".", "main"]])
def test_rebase_of_a_branch_that_changed_a_model(branches: Path, args: list[str]) -> None:
    git(branches, *args)
    _clean(branches, _data("c"))
    assert git(branches, "show", "-s", "--format=%s", "HEAD~2").stdout.strip() == b"text"


def test_cherry_pick_and_revert(branches: Path) -> None:
    git(branches, "checkout", "-q", "main")
    git(branches, "cherry-pick", "main..feat")
    _clean(branches, _data("c"))
    git(branches, "revert", "--no-edit", "HEAD", "HEAD~1")
    _clean(branches, _data("a"))


def test_am_applies_a_model_change(branches: Path, tmp_path: Path) -> None:
    patches = tmp_path / "patches"
    git(branches, "format-patch", "-q", "-o", str(patches), "main..feat")
    git(branches, "checkout", "-q", "main")
    git(branches, "am", *sorted(str(p) for p in patches.iterdir()))
    _clean(branches, _data("c"))


def test_merge_of_a_model_change(branches: Path) -> None:
    git(branches, "checkout", "-q", "main")
    git(branches, "merge", "-q", "--no-edit", "feat")
    _clean(branches, _data("c"))
    assert (branches / "a.txt").read_text() == "y\n"


def test_stash_and_pop_a_changed_model(branches: Path) -> None:
    changed = _write(branches, "m.bin", "d")
    git(branches, "stash", "-q")
    _clean(branches, _data("c"))
    git(branches, "rebase", "-q", "main")
    git(branches, "stash", "pop", "-q")
    assert (branches / "m.bin").read_bytes() == changed
    assert git(branches, "status", "--porcelain").stdout == b" M m.bin\n"
