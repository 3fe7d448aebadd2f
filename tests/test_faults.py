"""Issue 10: kill -9 of git-model at observed points of add, checkout, push, pull, fetch, gc
and the hooks; afterwards the next command succeeds, `fsck` passes and every committed
version restores byte for byte.

Each point is an event seen from outside (a temporary file or a chunk appearing, a chunk
disappearing), never a timer: the test polls for it while the command runs and then
kills every git-model process the command started (git itself is left to notice, as it
would after a crash of the filter or the hook).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import git, gm

pytestmark = pytest.mark.slow
MIB = 1 << 20


def _data(seed: str, size: int = 6 * MIB) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


def _count(folder: Path, prefix: str = "") -> int:
    """Files under FOLDER (names starting with PREFIX); 0 when it does not exist."""
    return sum(1 for _, _, names in os.walk(folder) for n in names if n.startswith(prefix))


def _group(group: int) -> list[tuple[int, bytes, bytes]]:
    """(pid, state, command line) of every process in process group GROUP."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                argv = handle.read()
        except OSError:
            continue
        if int(fields[2]) == group:
            found.append((int(entry.name), fields[0], argv))
    return found


def kill_at(cwd: Path, args: list[str], point: str) -> None:
    """Run ARGS with git-model stopping itself at pause point POINT (store/atomic.py); once
    a process is seen stopped there, kill -9 every git-model process the command started
    (git, if it is there, is left to notice, as after a crash of its filter or hook)."""
    # The filter in the process git starts (no warm server, cli/warm.py): its stopped worker
    # would be in the server's process group, not the command's.
    env = {**os.environ, "GIT_MODEL_TEST_PAUSE_AT": point, "GIT_MODEL_SERVER": "0"}
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while proc.poll() is None:
            members = _group(proc.pid)
            if any(state == b"T" for _, state, _ in members):
                for pid, _, argv in members:
                    if b"git-model" in argv:
                        os.kill(pid, signal.SIGKILL)
                proc.wait()
                return
            time.sleep(0.01)  # polling for a state that lasts until the kill: no race
        raise AssertionError(f"{args} ended (exit {proc.returncode}) without reaching {point}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _restores(repo: Path, versions: dict[str, bytes]) -> None:
    """No stray file, fsck clean, and each commit's model comes back byte for byte."""
    status = git(repo, "status", "--porcelain", "--untracked-files=all").stdout.decode()
    assert "??" not in status and ".tmp-" not in status, status
    assert gm(repo, "fsck").returncode == 0
    for commit, data in versions.items():
        assert git(repo, "cat-file", "--filters", f"{commit}:m.bin").stdout == data, commit


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with two committed versions of m.bin and a directory model remote."""
    top = tmp_path_factory.mktemp("faults")
    repo = top / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    gm(repo, "install", "--local")
    gm(repo, "track", "*.bin")
    gm(repo, "remote", "add", "origin", str(top / "store"))
    for seed in ("one", "two"):
        (repo / "m.bin").write_bytes(_data(seed))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", seed)
    return top


@pytest.fixture
def work(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template, with its own (empty) remote."""
    repo = tmp_path / "repo"
    shutil.copytree(template / "repo", repo, symlinks=True)
    git(repo, "config", "model.remote.origin.url", str(tmp_path / "store"))
    return repo


def _versions(repo: Path) -> dict[str, bytes]:
    return {"HEAD~1": _data("one"), "HEAD": _data("two")}


def _clone(repo: Path, tmp_path: Path) -> Path:
    """A clone made before git-model is set up in it: its models are pointers."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    gm(clone, "install", "--local")
    git(clone, "config", "model.remote.origin.url", str(tmp_path / "store"))
    return clone


def test_add_killed_while_storing_chunks(work: Path) -> None:
    (work / "m.bin").write_bytes(_data("three"))
    kill_at(work, ["git", "add", "m.bin"], "write")
    git(work, "add", "m.bin")
    git(work, "commit", "-qm", "three")
    _restores(work, {"HEAD~2": _data("one"), "HEAD~1": _data("two"), "HEAD": _data("three")})


def test_add_of_a_small_file_killed_right_after_the_filter_answered(work: Path) -> None:
    """A small file's objects go to a pack written in place (published when the filter
    exits); the filter writes them out before answering, so once git has the pointer, a
    kill loses nothing: the next command publishes them from the pack's journal."""
    small = _data("small", 64 << 10)
    (work / "s.bin").write_bytes(small)
    kill_at(work, ["git", "add", "s.bin"], "answered")
    assert git(work, "ls-files", "-s", "s.bin").stdout  # git recorded the pointer
    git(work, "commit", "-qm", "small")
    assert git(work, "cat-file", "--filters", "HEAD:s.bin").stdout == small
    _restores(work, {"HEAD~1": _data("two"), "HEAD": _data("two")})


def test_checkout_killed_while_writing_the_model(work: Path) -> None:
    """The deferred writer (the filter, after git exits) dies with its file half written."""
    kill_at(work, ["git", "checkout", "-q", "HEAD~1"], "write")
    assert _count(work / ".git/model/tmp", ".tmp-") == 1  # the model, whole, not in place
    gm(work, "checkout")
    assert (work / "m.bin").read_bytes() == _data("one")
    _restores(work, {"main~1": _data("one"), "main": _data("two")})


def _save_anew(repo: Path, seed: str) -> None:
    """Write a version as a new file renamed into place, and commit it: git add keeps it whole."""
    (repo / "new.tmp").write_bytes(_data(seed))
    os.replace(repo / "new.tmp", repo / "m.bin")
    git(repo, "add", "m.bin")
    git(repo, "commit", "-qm", seed)


def test_add_killed_while_keeping_the_version_whole(work: Path) -> None:
    (work / "m.bin").unlink()
    (work / "m.bin").write_bytes(_data("three"))
    kill_at(work, ["git", "add", "m.bin"], "keep-whole")
    git(work, "add", "m.bin")
    git(work, "commit", "-qm", "three")
    _save_anew(work, "four")
    git(work, "checkout", "-q", "HEAD~1")
    assert (work / "m.bin").read_bytes() == _data("three")
    _restores(work, {"main~1": _data("three"), "main": _data("four")})


def test_checkout_killed_while_linking_a_kept_version(work: Path) -> None:
    """The version comes back as a hard link of the file `git add` hashed; a kill before the
    link is renamed into place leaves the pointer, which `git model checkout` writes."""
    _save_anew(work, "three")
    _save_anew(work, "four")
    kill_at(work, ["git", "checkout", "-q", "HEAD~1"], "relink")
    assert len((work / "m.bin").read_bytes()) < 200  # the pointer, not a mix
    gm(work, "checkout")
    assert (work / "m.bin").read_bytes() == _data("three")
    _restores(work, {"main~1": _data("three"), "main": _data("four")})


def test_push_killed_while_uploading(work: Path, tmp_path: Path) -> None:
    kill_at(work, ["git", "model", "push", "--all"], "upload")
    gm(work, "push", "--all")
    clone = _clone(work, tmp_path)
    gm(clone, "pull")
    _restores(clone, _versions(clone))


@pytest.mark.parametrize("fetched", [False, True], ids=["downloading", "writing"])
def test_pull_killed_leaves_no_file_in_the_work_tree(work: Path, tmp_path: Path,
                                                     fetched: bool) -> None:
    """Item 13: downloads and working-tree writes wait in .git/model/tmp, never beside
    the model, so `git add -A` after a killed pull finds nothing to add."""
    gm(work, "push", "--all")
    clone = _clone(work, tmp_path)
    if fetched:
        gm(clone, "fetch")
    tmp = clone / ".git/model/tmp"
    kill_at(clone, ["git", "model", "pull"], "write")
    assert git(clone, "status", "--porcelain", "--untracked-files=all").stdout == b""
    stale, fresh = tmp / ".tmp-left-by-a-kill.part", tmp / ".tmp-being-written.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    gm(clone, "pull")
    assert not stale.exists() and fresh.exists()  # a day untouched: removed
    assert (clone / "m.bin").read_bytes() == _data("two")
    _restores(clone, _versions(clone))


def test_fetch_killed_while_storing_chunks(work: Path, tmp_path: Path) -> None:
    gm(work, "push", "--all")
    clone = _clone(work, tmp_path)
    kill_at(clone, ["git", "model", "fetch"], "write")
    gm(clone, "fetch")
    gm(clone, "checkout")
    _restores(clone, _versions(clone))


def test_gc_killed_while_deleting(work: Path) -> None:
    """Garbage: a version only ever added (then reset away) and 2,000 stray chunk files,
    all old; gc is killed once it has started deleting (the walk before deletes nothing)."""
    (work / "m.bin").write_bytes(_data("junk"))
    git(work, "add", "m.bin")
    git(work, "reset", "-q", "--hard")
    objects = work / ".git/model/objects"
    chunk_dir = objects / "chunks"
    for n in range(2000):
        cid = hashlib.md5(str(n).encode()).hexdigest()
        (chunk_dir / cid[:2]).mkdir(exist_ok=True)
        (chunk_dir / cid[:2] / cid).write_bytes(b"x")
    old = 1_000_000_000
    for path in objects.rglob("*"):
        os.utime(path, (old, old))
    before = _count(objects)
    kill_at(work, ["git", "model", "gc"], "delete")
    assert before - 2000 < _count(objects) < before
    gm(work, "gc")
    assert _count(objects) < before - 2000
    _restores(work, _versions(work))


def test_pre_push_hook_killed_while_uploading(work: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(work, "remote", "add", "up", str(origin))
    store = tmp_path / "store"
    kill_at(work, ["git", "push", "-q", "up", "main"], "upload")
    git(work, "push", "-q", "up", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    gm(clone, "install", "--local")
    git(clone, "config", "model.remote.origin.url", str(store))
    gm(clone, "pull")
    _restores(clone, _versions(clone))
