"""Shared fixtures: isolated git identity/config, throwaway repositories, the model workload."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # bench/models.py: the generator tests and bench share
import models  # noqa: E402

# The slow tier: whole user journeys through git with real models, servers (moto, sshd,
# giftless), virtualenvs or the benchmark. `-m "not slow"` leaves the in-process units and
# the quick CLI checks. Any test that asks for the 64 MiB workload is slow too.
SLOW_MODULES = {"test_workflow", "test_inspect", "test_remotes", "test_remote_backends",
                "test_pipeline", "test_example", "test_bench_smoke", "test_checkout_deferred"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module.__name__ in SLOW_MODULES or "workload" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def isolated_git(tmp_path_factory):
    """No user or system git config leaks in; git-model from this interpreter is on PATH."""
    home = tmp_path_factory.mktemp("home")
    runtime = home / "run"  # the warm servers the tests start (cli/warm.py), stopped at the end
    runtime.mkdir(mode=0o700)
    saved = dict(os.environ)
    os.environ.update({
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    })
    os.environ.pop("GIT_DIR", None)
    os.environ.pop("GIT_INDEX_FILE", None)
    subprocess.run(["git", "config", "--global", "init.defaultBranch", "main"], check=True)
    subprocess.run(["git", "config", "--global", "advice.detachedHead", "false"], check=True)
    yield home
    os.environ.clear()
    os.environ.update(saved)
    stop_servers(runtime)


def stop_servers(folder: Path) -> None:
    """Kill the warm servers listening in FOLDER."""
    for pid in servers(folder):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def proc_read(name: str) -> Iterator[tuple[int, bytes]]:
    """(pid, the content of /proc/PID/NAME) of every process still there to read."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / name).read_bytes()
            except OSError:
                continue


def servers(folder: Path) -> list[int]:
    """Pids of the warm servers (cli/server.py) listening in FOLDER: their command line
    names their socket."""
    return [pid for pid, argv in proc_read("cmdline")
            if b"gitmodel.cli.server" in argv and str(folder).encode() in argv]


def filter_in(repo: Path) -> int | None:
    """The pid of the git-model filter process git started in REPO, if one runs."""
    for pid, argv in proc_read("cmdline"):
        with contextlib.suppress(OSError):
            if b"filter-process" in argv.split(b"\0") and Path(os.readlink(f"/proc/{pid}/cwd")) == repo:
                return pid
    return None


@pytest.fixture(autouse=True)
def global_config_restored(isolated_git):
    """A test may `git model install` globally (the default); the next test starts without it."""
    config = isolated_git / ".gitconfig"
    saved = config.read_bytes()
    yield
    config.write_bytes(saved)


@pytest.fixture(scope="session")
def workload(tmp_path_factory) -> Path:
    """The model versions of bench/models.py at 64 MiB, plus workload.json."""
    out = tmp_path_factory.mktemp("workload")
    models.generate(out, size_mib=64)
    return out


def novel_bytes(workload: Path, name: str) -> int:
    return models.novel_bytes(json.loads((workload / "workload.json").read_text()), name)


def git(cwd: Path, *args: str, check: bool = True, input: bytes | None = None,
        env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input,
                          env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout.decode()}\n{proc.stderr.decode()}")
    return proc


def gm(cwd: Path, *args: str, check: bool = True, input: bytes | None = None,
       env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `git model ARGS` through git itself, as a user would."""
    return git(cwd, "model", *args, check=check, input=input, env=env)


def cache_bytes(repo: Path) -> int:
    objects = repo / ".git" / "model" / "objects"
    return sum(p.stat().st_size for p in objects.rglob("*") if p.is_file())


@pytest.fixture
def plain_repo(tmp_path) -> Path:
    """A new repository without git-model installed."""
    path = tmp_path / "plain"
    path.mkdir()
    git(path, "init", "-q")
    return path


@pytest.fixture
def repo(tmp_path) -> Path:
    """A new repository with git-model installed and *.safetensors/*.bin/*.pt tracked."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    gm(path, "install", "--local")
    gm(path, "track", "*.safetensors", "*.bin", "*.pt")
    return path


def copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
