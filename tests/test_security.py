"""Issue 18: what a cloned repository, a URL or a ref name may make git-model do.

Each test plays the attacker with real git and asserts the expected behaviour: nothing
written outside the repository and the cache, no secret in a committed file or on the
screen, no repository text read by git as an option or pathspec magic, bounded reads.
"""
from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path

from conftest import git, gm


def _small_stack() -> None:
    """ARG_MAX is a quarter of the stack limit: 512 KiB of stack leaves 128 KiB of arguments,
    so a few hundred long paths overflow it as 15,000 ordinary ones do on a default stack."""
    resource.setrlimit(resource.RLIMIT_STACK, (512 * 1024, resource.RLIM_INFINITY))


def test_many_racy_paths_never_go_on_gits_command_line(repo):
    """18.10: racily-clean paths reach git through stdin or a listing, never as arguments."""
    deep = repo / ("d" * 200) / ("e" * 200) / ("f" * 200)
    deep.mkdir(parents=True)
    future = time.time() + 3600  # recorded mtime after the index's: every entry is racy
    for i in range(300):
        path = deep / (f"{i:04d}" + "x" * 200)
        path.write_text("hi")
        os.utime(path, (future, future))
    git(repo, "add", "-A")
    proc = subprocess.run(["git", "model", "checkout"], cwd=repo, capture_output=True,
                          preexec_fn=_small_stack)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
    assert git(repo, "diff", "--name-only").stdout == b""
