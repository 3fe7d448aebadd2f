"""Running one benchmark command: wall time, peak RSS, output kept in a log.

Peak RSS comes from wait4 rusage, read by `launch.py` (see there why a
launcher): Linux reports the largest resident set of the command *and of every
descendant it waited for* (git, its filter processes, hooks, git-lfs transfer
agents). That is exact, costs nothing while the command runs, and needs no
polling thread competing for the 2 cores being measured. Processes that
daemonize and are never waited for are not seen; none of the benchmarked tools
does that.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

LAUNCHER = Path(__file__).resolve().parent / "launch.py"
COMMAND_TIMEOUT = 1800.0  # seconds; a 1 GiB step takes well under a minute


class BenchError(Exception):
    """A benchmarked command failed or produced a wrong result."""


@dataclass(frozen=True)
class Sample:
    """What one or several commands cost: wall seconds and the largest process's RSS."""

    seconds: float
    peak_rss: int  # bytes

    def __add__(self, other: Sample) -> Sample:
        return Sample(self.seconds + other.seconds, max(self.peak_rss, other.peak_rss))


ZERO = Sample(0.0, 0)


class Runner:
    """Runs commands in one tool's isolated environment, appending their output to a log."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log

    def run(self, cmd: Sequence[str], cwd: Path) -> Sample:
        """Run `cmd` to completion; raise BenchError with the log's tail if it fails."""
        with open(self.log, "ab") as log, tempfile.NamedTemporaryFile("r") as result, \
                tempfile.NamedTemporaryFile("r") as workers:
            log.write(f"$ (cd {cwd} && {' '.join(cmd)})\n".encode())
            log.flush()
            # git-model's warm-server workers are not in the command's process tree: each
            # notes its own peak there (src/gitmodel/cli/server.py)
            env = {**self.env, "GIT_MODEL_WORKER_RSS": workers.name}
            proc = subprocess.Popen([sys.executable, "-I", "-S", str(LAUNCHER), result.name,
                                     *cmd], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, start_new_session=True)
            try:
                code = proc.wait(COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise BenchError(f"`{' '.join(cmd)}` timed out after {COMMAND_TIMEOUT:.0f} s") from None
            fields = result.read().split()
            worker_kib = max((int(n) for n in workers.read().split()), default=0)
        if code != 0 or len(fields) != 3:
            raise BenchError(f"`{' '.join(cmd)}` exited {code} in {cwd}:\n{self.tail()}")
        return Sample(float(fields[0]), max(int(fields[1]), worker_kib) * 1024)

    def steps(self, cmds: Sequence[Sequence[str]], cwd: Path) -> Sample:
        """Run commands one after the other as one step: seconds add up, RSS is the max."""
        total = ZERO
        for cmd in cmds:
            total = total + self.run(cmd, cwd)
        return total

    def output(self, cmd: Sequence[str], cwd: Path) -> str:
        """Stdout of an untimed helper command (checks, versions)."""
        proc = subprocess.run(list(cmd), cwd=cwd, env=self.env, capture_output=True,
                              timeout=COMMAND_TIMEOUT)
        if proc.returncode != 0:
            raise BenchError(f"`{' '.join(cmd)}` exited {proc.returncode} in {cwd}:\n"
                             f"{proc.stderr.decode(errors='replace')[-2000:]}")
        return proc.stdout.decode(errors="replace")

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _lstats(*roots: Path) -> Iterator[os.stat_result]:
    """lstat of every file name under `roots` (none for a missing root)."""
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                yield os.lstat(os.path.join(folder, name))


def tree_bytes(*roots: Path) -> int:
    """Apparent size of every file under `roots` that is no symbolic link."""
    return sum(st.st_size for st in _lstats(*roots) if not stat.S_ISLNK(st.st_mode))


def unshared_bytes(root: Path) -> int:
    """Bytes of files under `root` no other name shares (st_nlink 1): disk they alone hold."""
    return sum(st.st_size for st in _lstats(root) if stat.S_ISREG(st.st_mode) and st.st_nlink == 1)


def linked_bytes(*roots: Path) -> int:
    """Bytes of files under `roots` that are hardlinks (st_nlink > 1), i.e. shared, not copied.

    git-lfs's file:// agent hardlinks objects into a remote on the same file
    system: that push moves no data, and the table must say so.
    """
    return sum(st.st_size for st in _lstats(*roots) if st.st_nlink > 1)


def same_bytes(a: Path, b: Path, block: int = 1 << 22) -> bool:
    """Byte-for-byte comparison, streamed so a 1 GiB model is never held in memory."""
    if not a.is_file() or a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while chunk := fa.read(block):
            if chunk != fb.read(block):
                return False
    return True
