"""Issue 10: `git model gc` never deletes an object that any ref, tag, reflog entry, stash or
index (of any worktree) still reaches, over random histories (hypothesis).

The test keeps its own account of where each model version lives, by what was done to
it, not by asking git what it reaches (which is what gc itself asks): a committed version
stays reachable through the reflog (nothing here expires it), a stashed one through the
stash until dropped, a staged one while an index holds it. Every version still live
must restore byte for byte from the cache after `gc --grace 0`.
"""
from __future__ import annotations

import hashlib
import io
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import git, gm
from gitmodel.store.objects import CorruptObject, MissingObject, Store
from gitmodel.store.pointer import Pointer

pytestmark = pytest.mark.slow
OPS = ["commit", "commit", "stage", "branch", "switch", "tag", "delete-branch", "reset",
       "stash", "stash-drop", "worktree"]


class History:
    """A repository and the versions of m.bin that must survive a gc."""

    def __init__(self, top: Path) -> None:
        self.top, self.repo = top, top / "repo"
        self.repo.mkdir()
        git(self.repo, "init", "-q")
        gm(self.repo, "install", "--local")
        git(self.repo, "config", "core.hooksPath", str(top / "no-hooks"))  # gc is under test
        gm(self.repo, "track", "*.bin")
        self.count = self.names = 0
        self.live: set[bytes] = set()
        self.staged: bytes | None = None  # in the index, not committed
        self.stashes: list[set[bytes]] = []  # what each stash entry holds, newest first
        self.commit(self.repo)

    def version(self, where: Path) -> bytes:
        self.count += 1
        data = hashlib.shake_256(f"v{self.count}".encode()).digest(3000 + self.count)
        (where / "m.bin").write_bytes(data)
        return data

    def commit(self, where: Path) -> None:
        self.live.add(self.version(where))
        git(where, "add", "-A")
        git(where, "commit", "-qm", f"c{self.count}")
        self.staged = None

    def name(self, prefix: str) -> str:
        self.names += 1
        return f"{prefix}{self.names}"

    def apply(self, op: str) -> None:
        repo = self.repo
        branch = git(repo, "branch", "--show-current").stdout.decode().strip()
        if op == "commit":
            self.commit(repo)
        elif op == "stage":  # replaces the version staged before, which is then garbage
            self.staged = self.version(repo)
            git(repo, "add", "m.bin")
        elif op == "branch":
            git(repo, "checkout", "-q", "-b", self.name("b"))
        elif op in ("switch", "delete-branch", "reset"):
            self.staged = None  # -f / --hard drop what only the index held
            if op == "reset":
                git(repo, "reset", "-q", "--hard", "HEAD~1" if self._has_parent() else "HEAD")
            else:
                git(repo, "checkout", "-q", "-f", "main")
                if op == "delete-branch" and branch != "main":
                    git(repo, "branch", "-q", "-D", branch)
        elif op == "tag":
            annotated = ["-a", "-m", "t"] if self.names % 2 else []  # else lightweight
            git(repo, "tag", *annotated, self.name("t"))
        elif op == "stash":
            held = {self.version(repo)} | ({self.staged} if self.staged else set())
            git(repo, "stash", "-q")
            self.stashes.insert(0, held)
            self.staged = None
        elif op == "stash-drop" and self.stashes:
            git(repo, "stash", "drop", "-q")
            self.stashes.pop(0)
        elif op == "worktree":
            tree = self.top / self.name("wt")
            git(repo, "worktree", "add", "-q", str(tree), "-b", tree.name)
            staged, _ = self.staged, self.commit(tree)
            self.staged = staged  # the main work tree's index is untouched
            self.live.add(self.version(tree))  # staged in that worktree's index only
            git(tree, "add", "m.bin")

    def _has_parent(self) -> bool:
        return git(self.repo, "rev-parse", "-q", "--verify", "HEAD~1", check=False).returncode == 0

    def must_survive(self) -> set[bytes]:
        return self.live | ({self.staged} if self.staged else set()) | set().union(*self.stashes)


def _restores(store: Store, data: bytes) -> bool:
    out = io.BytesIO()
    try:
        store.write_to(Pointer(hashlib.sha256(data).hexdigest(), len(data)), out)
    except (MissingObject, CorruptObject):
        return False
    return out.getvalue() == data


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(OPS), min_size=4, max_size=9))
def test_gc_never_deletes_a_reachable_version(ops: list[str]) -> None:
    with tempfile.TemporaryDirectory() as top:
        history = History(Path(top))
        for op in ops:
            history.apply(op)
        proc = subprocess.run(["git", "model", "gc", "--grace", "0"], cwd=history.repo,
                              capture_output=True)
        assert proc.returncode == 0, proc.stderr.decode()
        store = Store(history.repo / ".git" / "model")
        for data in history.must_survive():
            assert _restores(store, data), f"a version of {len(data)} bytes lost after {ops}"
        assert gm(history.repo, "fsck").returncode == 0
