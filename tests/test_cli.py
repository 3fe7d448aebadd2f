"""Commands a user types: install, track, hooks, and one-line errors for bad input."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import git, gm


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    err = result.stderr.decode()
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_version_and_help():
    out = subprocess.run(["git-model", "--version"], capture_output=True, check=True)
    assert out.stdout.startswith(b"git-model ")
    assert b"track" in subprocess.run(["git-model", "--help"], capture_output=True).stdout


def test_outside_a_repository_is_one_line(tmp_path):
    err = one_line_error(subprocess.run(["git-model", "status"], cwd=tmp_path, capture_output=True))
    assert "not inside a git work tree" in err


def test_unknown_command_is_one_line(repo):
    err = one_line_error(gm(repo, "frobnicate", check=False))
    assert "--help" in err


@pytest.mark.parametrize("pattern", ["has space.bin", "!neg.bin", "#x", " "])
def test_bad_track_pattern_is_one_line(repo, pattern):
    err = one_line_error(gm(repo, "track", pattern, check=False))
    assert "pattern" in err
    assert pattern.strip() not in (repo / ".gitattributes").read_text().split() or not pattern.strip()


def test_track_lists_and_untrack(repo):
    assert gm(repo, "track").stdout.split() == [b"*.safetensors", b"*.bin", b"*.pt"]
    assert b"already tracked" in gm(repo, "track", "*.bin").stdout
    gm(repo, "untrack", "*.bin")
    assert gm(repo, "track").stdout.split() == [b"*.safetensors", b"*.pt"]
    attrs = (repo / ".gitattributes").read_text()
    assert "*.pt filter=model diff=model merge=binary -text" in attrs


def test_install_keeps_and_chains_an_existing_hook(plain_repo, tmp_path):
    repo = plain_repo
    hook = repo / ".git/hooks/post-checkout"
    hook.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/ran\n")
    hook.chmod(0o755)
    assert b"kept your post-checkout hook" in gm(repo, "install").stdout
    (repo / "f").write_text("x")
    git(repo, "add", "f")
    git(repo, "commit", "-q", "-m", "one")
    git(repo, "checkout", "-q", "-b", "two")
    assert (tmp_path / "ran").read_text().split()[-1] == "1"
    gm(repo, "uninstall")
    assert hook.read_text().startswith("#!/bin/sh\necho")
    assert git(repo, "config", "--get", "filter.model.process", check=False).returncode == 1


def test_install_honours_core_hooks_path(plain_repo, tmp_path):
    repo = plain_repo
    git(repo, "config", "core.hooksPath", "githooks")
    gm(repo, "install")
    for name in ("pre-commit", "post-checkout", "post-merge", "pre-push"):
        assert (repo / "githooks" / name).stat().st_mode & 0o111
    assert not (repo / ".git/hooks/post-checkout").exists()


def test_install_refuses_to_overwrite_foreign_filter_config(plain_repo, tmp_path):
    repo = plain_repo
    git(repo, "config", "filter.model.process", "something-else")
    err = one_line_error(gm(repo, "install", "--local", check=False))
    assert "--force" in err
    gm(repo, "install", "--local", "--force")
    value = git(repo, "config", "filter.model.process").stdout.decode().strip()
    exe, verb = value.split()  # the absolute path of this git-model: no PATH needed
    assert Path(exe).is_absolute() and Path(exe).name == "git-model" and verb == "filter-process"


def test_pre_push_hook_passes_stdin_to_the_previous_hook(plain_repo, tmp_path):
    repo = plain_repo
    previous = repo / ".git/hooks/pre-push"
    previous.write_text(f"#!/bin/sh\ncat > {tmp_path}/stdin\nexit 3\n")
    previous.chmod(0o755)
    gm(repo, "install")
    shim = repo / ".git/hooks/pre-push"
    result = subprocess.run([str(shim), "origin", "url"], cwd=repo, input=b"a b c d\n",
                            capture_output=True)
    assert result.returncode == 3
    assert (tmp_path / "stdin").read_bytes() == b"a b c d\n"


def test_status_lists_staged_and_modified(repo: Path, workload):
    (repo / "model.safetensors").write_bytes((workload / "v0_base.safetensors").read_bytes())
    git(repo, "add", "model.safetensors")
    assert b"to be committed:\n\tmodel.safetensors" in gm(repo, "status").stdout
    git(repo, "commit", "-q", "-m", "v0")
    (repo / "model.safetensors").write_bytes((workload / "v3_reorder.safetensors").read_bytes())
    assert b"not staged (git add them):\n\tmodel.safetensors" in gm(repo, "status").stdout
