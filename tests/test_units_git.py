"""The git layer's config reader: one `git config --list` per process, read as git reads it."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitmodel.git.repo import Repo, listed_files


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


def test_listed_files_reads_git_s_records_whatever_the_path_holds(tmp_path: Path) -> None:
    """Each regular file's (path, blob), every stage, a path with tabs, spaces and digits
    kept whole; a symlink's record left out."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    odd = "a\tb 100644 0\tc.bin"
    (tmp_path / odd).write_bytes(b"odd")
    (tmp_path / "run.sh").write_bytes(b"#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o755)
    (tmp_path / "link").symlink_to("run.sh")
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    out = subprocess.run(["git", "ls-files", "-s", "-z"], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    blob = {p: subprocess.run(["git", "rev-parse", f":{p}"], cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.strip() for p in (odd, "run.sh")}
    assert listed_files(out) == [(odd, blob[odd]), ("run.sh", blob["run.sh"])]
    assert listed_files("") == []


def test_status_starts_at_most_four_git_processes(tmp_path: Path) -> None:
    """One discover, one config list (which reads .gitmodel too), one ls-files (which applies
    the attributes), one status: however many model files and however often the remote is
    asked for (the hook check of every command costs no process)."""
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
    assert len(started) <= 4, "\n".join(started)
    # the index (GIT_LITERAL_PATHSPECS would turn the attr: pathspec into a file name) and
    # the remote's record are still read: a changed file and an unpushed object are named
    (repo / "m0.bin").write_bytes(os.urandom(4096))
    out = gm(repo, "status", env=dict(os.environ, GIT_LITERAL_PATHSPECS="1")).stdout.decode()
    assert "not staged" in out and "\tm0.bin" in out
    assert "Not yet pushed to model remote 'shared'" in out and "m2.bin" in out


def test_gitmodel_is_read_with_the_config_and_its_includes_are_not(tmp_path: Path) -> None:
    """`.gitmodel` comes through the same `git config` process as the settings, read as
    `git config -f .gitmodel` reads it; one that includes a file (git would follow it), or a
    malformed one, is left to its own reader; settings already in GIT_CONFIG_COUNT stay."""
    import os
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "evil.cfg").write_text("[model]\n\tfetchOnCheckout = false\n[core]\n\tremote = evil\n")
    (tmp_path / ".gitmodel").write_text('[remote "a"]\n\turl = /srv/a\n[core]\n\tremote = a\n'
                                        "[include]\n\tpath = evil.cfg\n")
    env = dict(os.environ, GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="model.x", GIT_CONFIG_VALUE_0="y")
    old = dict(os.environ)
    os.environ.update(env)
    try:
        repo = Repo.discover(tmp_path)
        assert repo.config("model.x") == "y"
        read = repo.gitmodel_config()
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert read is None  # it includes a file: left to its own reader, which follows none
    assert repo.config_bool("model.fetchOnCheckout", True) is True
    assert repo.config("core.remote") is None and repo.config("model.x") == "y"
    (tmp_path / ".gitmodel").write_text('[remote "a"]\n\turl = /srv/a\n[core]\n\tremote = a\n')
    os.environ.update(env)
    try:
        repo = Repo.discover(tmp_path)
        read = repo.gitmodel_config()
        assert repo.config("model.x") == "y"
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert read is not None and read[1] == {"remote.a.url": "/srv/a", "core.remote": "a"}
    assert repo.config("core.remote") is None
    (tmp_path / ".gitmodel").write_text("[remote \"a\"\n\turl = /srv/a\n")  # malformed
    repo = Repo.discover(tmp_path)
    assert repo.gitmodel_config() is None
    assert repo.config("core.bare") == "false"


def test_commit_hook_starts_at_most_five_git_processes(tmp_path: Path) -> None:
    """The pre-commit hook of a repository without stages: one discover, one config list
    (which reads .gitmodel: no stage, so no stage reader), one diff-index of the tracked
    paths, two cat-file for the staged blobs (9 before); and it still refuses a raw one."""
    import os

    from conftest import git, gm
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    gm(repo, "install", "--local")
    gm(repo, "track", "*.bin")
    gm(repo, "remote", "add", "shared", str(tmp_path / "remote"))
    (repo / "m.bin").write_bytes(os.urandom(4096))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    (repo / "m.bin").write_bytes(os.urandom(4096))
    git(repo, "add", "m.bin")
    trace = tmp_path / "trace"
    git(repo, "commit", "-qm", "v2", env=dict(os.environ, GIT_TRACE=str(trace)))
    lines = trace.read_text().splitlines()
    hook = lines[next(i for i, line in enumerate(lines) if "hooks/pre-commit" in line):]
    started = [line for line in hook if "built-in: git " in line and "maintenance" not in line]
    assert len(started) <= 5, "\n".join(started)
    (repo / "raw.bin").write_bytes(os.urandom(4096))
    blob = git(repo, "hash-object", "-w", "--no-filters", "raw.bin").stdout.decode().strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},raw.bin")  # staged raw
    proc = subprocess.run(["git", "commit", "-qm", "raw"], cwd=repo, capture_output=True)
    assert proc.returncode == 1 and b"raw.bin" in proc.stderr


def test_a_process_git_started_at_the_top_finds_the_repository_as_rev_parse_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filters and hooks (GIT_PREFIX set, run from the top) skip `git rev-parse` in a plain
    repository; a linked worktree (.git is a file) or GIT_DIR still asks git."""
    main, linked = tmp_path / "main", tmp_path / "linked"
    subprocess.run(["git", "init", "-q", str(main)], check=True)
    subprocess.run(["git", "-C", str(main), "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    subprocess.run(["git", "-C", str(main), "worktree", "add", "-q", str(linked)], check=True)
    expected = {top: Repo.discover(top) for top in (main, linked)}
    monkeypatch.setenv("GIT_PREFIX", "")
    for top, asked in expected.items():
        monkeypatch.chdir(top)
        found = Repo.discover()
        assert (found.top, found.git_dir, found.common_dir) == (asked.top, asked.git_dir, asked.common_dir)
    assert expected[linked].git_dir != expected[linked].common_dir  # the worktree's own
    monkeypatch.chdir(main)
    monkeypatch.setenv("GIT_DIR", str(linked / ".git"))  # git's own answer, whatever cwd holds
    assert Repo.discover().git_dir == expected[linked].git_dir
