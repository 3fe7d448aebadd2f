"""`git model migrate import|export|info`: history rewritten through fast-export | fast-import,
every version restored byte for byte, and git-lfs reading the pointers it leaves."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from conftest import git, gm
from gitmodel.commands.migrate import parse_size
from gitmodel.errors import UserError

MODELS = ("model.safetensors", "sub dir/head.safetensors")


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))


def _tree_digests(repo: Path, rev: str) -> dict[str, str]:
    """sha256 of every file of REV as a checkout writes it (through the filter, if any), but
    .gitattributes (which migrate edits)."""
    git(repo, "checkout", "-q", rev)
    return {p: hashlib.sha256((repo / p).read_bytes()).hexdigest()
            for p in git(repo, "ls-files", "-z").stdout.decode().split("\0")
            if p and p != ".gitattributes"}


def _by_subject(repo: Path) -> dict[str, str]:
    out = git(repo, "log", "--all", "--format=%H %s").stdout.decode()
    return {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in out.splitlines()}


@pytest.fixture
def history(plain_repo) -> Path:
    """Five commits with models committed raw (a branch merged, an annotated tag), then install."""
    repo = plain_repo
    (repo / ".gitattributes").write_text("*.txt text\n")
    for i in range(3):
        _write(repo / MODELS[0], 150_000 + 50_000 * i)
        (repo / "notes.txt").write_text(f"v{i}\n")
        _write(repo / "small.bin", 2000)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"v{i}")
    git(repo, "tag", "-a", "first", "-m", "first", "HEAD~2")
    git(repo, "checkout", "-qb", "side", "HEAD~1")
    _write(repo / MODELS[1], 120_000)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "side")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "side")
    gm(repo, "install", "--local")
    return repo


def test_import_everything_restores_every_version_and_lfs_reads_the_pointers(history, tmp_path):
    repo = history
    before_ids = _by_subject(repo)
    before = {s: _tree_digests(repo, c) for s, c in before_ids.items()}
    git(repo, "checkout", "-q", "main")
    dry = gm(repo, "migrate", "import", "--everything", "--include=*.safetensors", "--dry-run")
    assert b"4 blob(s)" in dry.stdout and b"nothing changed" in dry.stdout
    assert _by_subject(repo) == before_ids
    assert b"*.safetensors" in gm(repo, "migrate", "info", "--everything").stdout
    out = gm(repo, "migrate", "import", "--everything", "--include=*.safetensors").stdout.decode()
    assert "rewrote 5 commit(s)" in out and "4 blob(s)" in out
    assert git(repo, "status", "--porcelain").stdout == b""
    assert gm(repo, "fsck").returncode == 0  # no raw blob of a tracked path left in history
    after = _by_subject(repo)
    assert {s: _tree_digests(repo, c) for s, c in after.items()} == before
    git(repo, "checkout", "-q", "main")
    assert "*.txt text\n*.safetensors filter=model" in (repo / ".gitattributes").read_text()
    assert git(repo, "rev-parse", "first^{commit}").stdout.strip().decode() == after["v0"]
    assert b"fast-import" in git(repo, "reflog", "main").stdout
    assert int(git(repo, "cat-file", "-s", "main~1:small.bin").stdout) == 2000  # not selected
    lfs = git(repo, "lfs", "ls-files", "--all", "--name-only").stdout.decode().splitlines()
    assert sorted(set(lfs)) == sorted(MODELS)
    pointer = tmp_path / "pointer"
    pointer.write_bytes(git(repo, "cat-file", "blob", "first:model.safetensors").stdout)
    git(repo, "lfs", "pointer", "--check", f"--file={pointer}")


def test_export_puts_the_bytes_back(history):
    repo = history
    gm(repo, "migrate", "import", "--everything", "--include=*.safetensors")
    before = {s: _tree_digests(repo, c) for s, c in _by_subject(repo).items()}
    git(repo, "checkout", "-q", "main")
    out = gm(repo, "migrate", "export", "--everything", "--include=*.safetensors").stdout.decode()
    assert "4 blob(s)" in out and "back into Git" in out
    assert "filter=model" not in (repo / ".gitattributes").read_text()
    assert int(git(repo, "cat-file", "-s", "first:model.safetensors").stdout) == 150_000
    after = _by_subject(repo)
    assert {s: _tree_digests(repo, c) for s, c in after.items()} == before


def test_range_above_and_refusals(history):
    repo = history
    git(repo, "config", "--unset", "filter.model.process")
    refused = gm(repo, "migrate", "import", "--include=*.safetensors", check=False)
    assert refused.returncode == 1 and b"run `git model install`, then migrate" in refused.stderr
    gm(repo, "install", "--local")
    (repo / "notes.txt").write_text("dirty\n")
    refused = gm(repo, "migrate", "import", "--include=*.safetensors", check=False)
    assert refused.returncode == 1 and b"uncommitted changes" in refused.stderr
    git(repo, "checkout", "-q", "notes.txt")
    old_v1 = git(repo, "rev-parse", "main~1").stdout
    # only the commits after v1, and only files of at least 190 kB
    gm(repo, "migrate", "import", "--include=*.safetensors", "--above=190kb", "main", "^main~1")
    assert git(repo, "rev-parse", "main~1").stdout == old_v1  # left as it was
    assert int(git(repo, "cat-file", "-s", "main:model.safetensors").stdout) < 200
    assert int(git(repo, "cat-file", "-s", "main:sub dir/head.safetensors").stdout) == 120_000
    assert "/model.safetensors filter=model" in git(repo, "show", "main:.gitattributes").stdout.decode()
    assert git(repo, "status", "--porcelain").stdout == b""


def test_sizes_read_as_git_lfs_reads_them():
    assert [parse_size(s) for s in ("2000", "500kb", "1MiB", "1.5 GB")] == \
        [2000, 500_000, 1_048_576, 1_500_000_000]
    with pytest.raises(UserError):
        parse_size("big")
