"""Nothing raw slips into Git: track after a commit, a clone without the filter, directory
patterns, and the reports (status, ls-files, fsck) that name raw blobs of tracked paths."""
from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import git, gm


def _content(path: Path, size: int = 5000) -> bytes:
    data = os.urandom(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def _blob_size(repo: Path, spec: str) -> int:
    return int(git(repo, "cat-file", "-s", spec).stdout)


def test_track_after_commit_restages_pointer_and_names_history(plain_repo):
    repo = plain_repo
    gm(repo, "install", "--local")
    _content(repo / "model.safetensors")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "raw")
    out = gm(repo, "track", "*.safetensors").stdout.decode()
    assert "store them as pointers at the next `git add`: model.safetensors" in out
    assert "git model migrate import --everything --include='*.safetensors'" in out
    status = gm(repo, "status").stdout.decode()
    assert "model.safetensors (index: raw blob, HEAD: raw blob)" in status
    assert " R model.safetensors" in gm(repo, "ls-files").stdout.decode()
    [listed] = json.loads(gm(repo, "ls-files", "--json").stdout)
    assert listed["raw"] and listed["path"] == "model.safetensors" and listed["size"] == 5000
    assert json.loads(gm(repo, "status", "--json").stdout)["raw"] == [
        "model.safetensors (index: raw blob, HEAD: raw blob)"]
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "track")
    assert _blob_size(repo, "HEAD:model.safetensors") < 200
    assert "(HEAD: raw blob)" not in gm(repo, "ls-files").stdout.decode()
    assert " R model.safetensors" in gm(repo, "ls-files", "HEAD~1").stdout.decode()
    fsck = gm(repo, "fsck", check=False)
    assert fsck.returncode == 1
    assert "raw: model.safetensors" in fsck.stdout.decode()
    assert "git model migrate import --everything" in fsck.stdout.decode()


def test_directory_pattern_becomes_glob_and_unmatched_patterns_are_reported(repo):
    _content(repo / "models" / "ckpt.data")
    out = gm(repo, "track", "models/", "*.nothing").stdout.decode()
    assert "tracking 'models/**'" in out
    assert "no file matches '*.nothing' yet" in out and "'models/**' yet" not in out
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dir")
    assert _blob_size(repo, "HEAD:models/ckpt.data") < 200


def test_clone_without_filter_warns_and_hook_refuses_raw_commit(repo, tmp_path):
    _content(repo / "model.safetensors")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    status = gm(clone, "status")
    assert "lacks it, so git stores them raw: run `git model install`" in status.stderr.decode()
    # hooks in place but the filter config gone: the commit would store the file raw
    gm(clone, "install", "--local")
    git(clone, "config", "--remove-section", "filter.model")
    _content(clone / "model.safetensors")
    git(clone, "add", "model.safetensors")
    commit = git(clone, "commit", "-qm", "raw", check=False)
    assert commit.returncode == 1
    assert "run `git model install`, then `git add --renormalize -- model.safetensors`" \
        in commit.stderr.decode()
    gm(clone, "install", "--local")
    git(clone, "add", "--renormalize", "model.safetensors")
    git(clone, "commit", "-qm", "pointer")
    assert _blob_size(clone, "HEAD:model.safetensors") < 200
    assert gm(clone, "status").stderr == b""
