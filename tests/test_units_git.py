"""The git layer's config reader: one `git config --list` per process, read as git reads it."""
from __future__ import annotations

import subprocess
from pathlib import Path

from gitmodel.git.repo import Repo


def test_config_is_read_the_way_git_reads_it(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".git/config").write_text(
        (tmp_path / ".git/config").read_text()
        + '[Model]\n\tFetchOnCheckout = off\n\tbare\n[model "Remote.Shared"]\n\tURL = /srv/a\n'
        + "[model]\n\tfetchOnCheckout = yes\n\tbroken = maybe\n\tmulti = a\n\tmulti = b\n")
    repo = Repo.discover(tmp_path)
    assert repo.config_bool("model.fetchOnCheckout", False) is True  # the last one wins
    assert repo.config_bool("MODEL.BARE", False) is True             # a bare key is true
    assert repo.config_bool("model.broken", True) is True            # unreadable: the default
    assert repo.config_bool("model.unset", False) is False
    assert repo.config("model.Remote.Shared.url") == "/srv/a"        # subsection keeps its case
    assert repo.config("model.remote.shared.url") is None
    assert repo.config("model.multi") == "b"
    assert repo.config("model.bare") == ""
    assert repo.config("model.unset", "x") == "x"


def test_status_starts_at_most_six_git_processes(tmp_path: Path) -> None:
    """One discover, one config list, one ls-files, one check-attr, one status, one read of
    .gitmodel: however many model files and however often the remote is asked for (the hook
    check of every command costs no process)."""
    import os

    from conftest import git, gm
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    gm(repo, "install", "--local")
    gm(repo, "track", "*.bin")
    for i in range(3):
        (repo / f"m{i}.bin").write_bytes(os.urandom(4096))
        os.utime(repo / f"m{i}.bin", (1e9, 1e9))  # not racily clean: git status runs no filter
    gm(repo, "remote", "add", "shared", str(tmp_path / "remote"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    gm(repo, "status")  # the first run remembers the pointer blobs
    trace = tmp_path / "trace"
    gm(repo, "status", env=dict(os.environ, GIT_TRACE=str(trace)))
    started = [line for line in trace.read_text().splitlines() if "built-in: git " in line]
    assert len(started) <= 6, "\n".join(started)
