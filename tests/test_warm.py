"""The warm server git's filter runs in (cli/warm.py, cli/server.py): same results as the
filter in the process git starts, a killed client takes its worker along, and a socket
folder others could reach is never used."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import filter_in, git, gm, proc_read, servers, stop_servers

MIB = 1 << 20


def _data(seed: str, size: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


def _children(parent: int) -> list[int]:
    return [pid for pid, stat in proc_read("stat")
            if int(stat[stat.rfind(b")") + 2:].split()[1]) == parent]


def _until(condition, what: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"no {what} within {deadline:.0f} s"
        time.sleep(0.01)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment whose server lives in a folder of this test's own; stopped after."""
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(folder)}
    env.pop("GIT_MODEL_SERVER", None)
    yield env
    stop_servers(folder)


def _socket_of(env: dict[str, str]) -> Path:
    folder = Path(env["XDG_RUNTIME_DIR"]) / f"git-model-{os.getuid()}"
    return next(folder.glob("*.sock"), folder / "none.sock")


def test_adds_commits_and_checkouts_give_the_same_pointers_through_the_server(repo, runtime):
    (repo / "m.bin").write_bytes(_data("one", 3 * MIB))
    git(repo, "add", "m.bin", ".gitattributes", env=runtime)  # no server yet: this starts one
    _until(lambda: servers(Path(runtime["XDG_RUNTIME_DIR"])) and _socket_of(runtime).exists(),
           "server")
    git(repo, "commit", "-qm", "one", env=runtime)
    (repo / "m.bin").write_bytes(_data("two", 3 * MIB))
    git(repo, "add", "m.bin", env=runtime)  # in a worker
    git(repo, "commit", "-qm", "two", env=runtime)
    alone = {**runtime, "GIT_MODEL_SERVER": "0"}
    for rev, seed in (("HEAD~1", "one"), ("main", "two")):
        git(repo, "checkout", "-q", rev, env=runtime)
        assert (repo / "m.bin").read_bytes() == _data(seed, 3 * MIB)
        assert git(repo, "status", "--porcelain", env=alone).stdout == b""
    pointer = git(repo, "show", "HEAD:m.bin").stdout
    assert git(repo, "cat-file", "--filters", "HEAD:m.bin", env=alone).stdout == _data("two", 3 * MIB)
    (repo / "m.bin").write_bytes(_data("two", 3 * MIB))  # the same bytes, cleaned without the server
    git(repo, "add", "m.bin", env=alone)
    assert git(repo, "diff", "--cached", "--quiet", env=alone).returncode == 0
    assert git(repo, "show", ":m.bin").stdout == pointer
    assert gm(repo, "fsck", env=alone).returncode == 0


def test_a_killed_filter_client_takes_its_worker_along(repo, runtime):
    (repo / "warm.bin").write_bytes(_data("warm", MIB))
    git(repo, "add", "warm.bin", env=runtime)
    _until(lambda: servers(Path(runtime["XDG_RUNTIME_DIR"])), "server")
    server = servers(Path(runtime["XDG_RUNTIME_DIR"]))[0]
    _until(lambda: _socket_of(runtime).exists(), "socket")
    (repo / "big.bin").write_bytes(_data("big", 96 * MIB))
    proc = subprocess.Popen(["git", "add", "big.bin"], cwd=repo, env=runtime,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _until(lambda: _children(server) or proc.poll() is not None, "worker")
    workers = _children(server)
    assert workers and proc.poll() is None, "the add ran outside the server"
    client = filter_in(repo)
    assert client is not None
    os.kill(client, signal.SIGKILL)
    assert proc.wait() != 0
    _until(lambda: not any(Path(f"/proc/{w}").exists() for w in workers), "end of the worker")
    alone = {**runtime, "GIT_MODEL_SERVER": "0"}
    assert gm(repo, "fsck", env=alone).returncode == 0
    git(repo, "add", "big.bin", env=alone)
    assert git(repo, "cat-file", "--filters", ":big.bin", env=alone).stdout == _data("big", 96 * MIB)


def test_a_socket_folder_others_can_enter_is_not_used(repo, runtime):
    folder = Path(runtime["XDG_RUNTIME_DIR"]) / f"git-model-{os.getuid()}"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (repo / "m.bin").write_bytes(_data("m", MIB))
    git(repo, "add", "m.bin", env=runtime)
    assert git(repo, "cat-file", "--filters", ":m.bin", env=runtime).stdout == _data("m", MIB)
    assert list(folder.iterdir()) == [] and not servers(Path(runtime["XDG_RUNTIME_DIR"]))


def test_status_answers_the_same_through_the_server(repo, runtime):
    (repo / "m.bin").write_bytes(_data("m", MIB))
    git(repo, "add", "m.bin", ".gitattributes", env=runtime)
    _until(lambda: _socket_of(runtime).exists(), "socket")
    git(repo, "commit", "-qm", "m", env=runtime)
    (repo / "m.bin").write_bytes(_data("changed", MIB))
    alone = {**runtime, "GIT_MODEL_SERVER": "0"}
    for args in (["status"], ["status", "--json"], ["status", "--porcelain"], ["status", "--nope"]):
        warm, cold = gm(repo, *args, env=runtime, check=False), gm(repo, *args, env=alone, check=False)
        assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert b"m.bin" in gm(repo, "status", env=runtime).stdout


def test_a_server_that_never_answers_costs_a_wait_not_the_command(repo, runtime):
    """A listener that accepts and says nothing (a stopped or wedged server): the filter
    gives up after HANDOFF_SECONDS and does the work itself, and the add is right."""
    import socket
    import sys
    sys.path.insert(0, str(Path(__file__).parents[1] / "src"))
    from gitmodel.cli import warm
    env_before = dict(os.environ)
    os.environ.update(runtime)
    try:
        path = warm.socket_path()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    assert path is not None
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(path)
    mute.listen(8)
    try:
        (repo / "m.bin").write_bytes(_data("m", MIB))
        git(repo, "add", "m.bin", env=runtime)
        alone = {**runtime, "GIT_MODEL_SERVER": "0"}
        assert git(repo, "cat-file", "--filters", ":m.bin", env=alone).stdout == _data("m", MIB)
        assert gm(repo, "fsck", env=alone).returncode == 0
    finally:
        mute.close()


def test_a_worker_notes_its_peak_memory_where_asked(repo, runtime, tmp_path):
    """The bench's peak RSS counts workers through GIT_MODEL_WORKER_RSS."""
    (repo / "m.bin").write_bytes(_data("m", MIB))
    git(repo, "add", "m.bin", env=runtime)
    _until(lambda: _socket_of(runtime).exists(), "socket")
    notes = tmp_path / "rss"
    (repo / "m.bin").write_bytes(_data("n", MIB))
    git(repo, "add", "m.bin", env={**runtime, "GIT_MODEL_WORKER_RSS": str(notes)})
    kib = [int(n) for n in notes.read_text().split()]
    assert len(kib) == 1 and 1024 < kib[0] < 1 << 20  # one worker, its peak in KiB
