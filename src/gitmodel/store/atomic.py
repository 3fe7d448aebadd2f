"""Atomic file writes: a reader sees the old file or the whole new one, never half.

Everything git-model writes (cache objects, working-tree files, remote objects
on a local path) goes through a temporary file in the same directory tree and a
rename, so a command killed at any point leaves no partial file under a final
name. fsync is optional (config `model.fsync`): every object is verified on
read, so the cost (measured: 1 GiB takes 2.0 s to sync here, 4x the copy) buys
only power-loss durability.
"""
from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

_UMASK = os.umask(0)
os.umask(_UMASK)
DEFAULT_MODE = 0o666 & ~_UMASK  # what open() would give; mkstemp gives 0600
_PAUSES: dict[str, int] = {}
_PAUSE_LOCK = threading.Lock()


def pause_point(name: str) -> None:
    """Fault-injection hook for tests (tests/test_faults.py): with the environment variable
    GIT_MODEL_TEST_PAUSE_AT=NAME (or NAME:N, the Nth time this process gets there) the
    process stops itself here (SIGSTOP), and the test, seeing it stopped, kills it with
    SIGKILL at exactly this point. Unset: nothing."""
    wanted = os.environ.get("GIT_MODEL_TEST_PAUSE_AT", "")  # read now: a warm server's worker
    # takes its client's environment after this module was imported (cli/warm.py)
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    with _PAUSE_LOCK:  # a push's upload threads pass here together
        _PAUSES[name] = seen = _PAUSES.get(name, 0) + 1
    if str(seen) == (nth or "1"):
        os.kill(os.getpid(), signal.SIGSTOP)


@contextlib.contextmanager
def atomic_output(path: Path, tmp_dir: Path | None = None, fsync: bool = False,
                  mode: int | None = None,
                  dispose: Callable[[str], None] | None = None) -> Iterator[BinaryIO]:
    """Open a temporary file that replaces `path` only if the block succeeds; `dispose`:
    see `replace`."""
    fd, tmp = _temporary(tmp_dir or path.parent, DEFAULT_MODE if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            pause_point("write")  # the temporary file is whole, not yet in place
            if fsync:
                os.fsync(handle.fileno())
        try:
            replace(tmp, path, dispose)
        except FileNotFoundError:  # the target's folder is not there yet
            path.parent.mkdir(parents=True, exist_ok=True)
            replace(tmp, path, dispose)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_NOFOLLOW", 0)


def _temporary(folder: Path, mode: int) -> tuple[int, str]:
    """A new file in FOLDER (made if missing) with MODE, and its name. Created with its
    final mode (fchmod only where the umask, read at start-up as for DEFAULT_MODE, would
    take bits away), and folders made only
    when missing: mkstemp + chmod + two mkdirs were ~40 us of the ~300 us a pull spends
    on each small file, in the thread that holds the GIL."""
    for attempt in range(100):
        name = f"{folder}/.tmp-{os.urandom(8).hex()}.part"
        try:
            fd = os.open(name, _CREATE, mode)
        except FileExistsError:
            continue
        except FileNotFoundError:
            if attempt:
                raise
            folder.mkdir(parents=True, exist_ok=True)
            continue
        if mode & _UMASK:
            try:
                os.fchmod(fd, mode)
            except BaseException:
                os.close(fd)
                os.unlink(name)
                raise
        return fd, name
    raise FileExistsError(f"no free temporary name in {folder}")


_RENAME_EXCHANGE = 2  # linux/fs.h
_renameat2: Callable[..., int] | None | bool = False  # False: not looked up yet


def replace(src: str | Path, dst: str | Path,
            dispose: Callable[[str], None] | None = None) -> None:
    """`os.replace(src, dst)`, without the write-out ext4 starts when a rename replaces a
    file (its auto_da_alloc heuristic, for programs that never fsync: the new file's dirty
    pages are flushed during the rename). Replacing a pointer by a 256 MiB model took
    0.116 s that way, 0.0001 s as an exchange (measured here): when `dst` is a regular
    file the two names are swapped atomically (renameat2 RENAME_EXCHANGE; a reader sees
    the old file or the new one), then `src`, now the old file, is removed. Elsewhere,
    or when the call is refused, a plain rename. A kill leaves the old file or the new one
    either way; after a power loss without `model.fsync` the new file may be empty (git
    status shows it modified; `git checkout -- PATH` writes it again).

    With `dispose`, the old file (then named `src`) is handed to it instead of removed at
    once, for a caller that replaces many files to delete them after it has created all
    the new ones (commands/checkout.py's `Materializer`)."""
    try:
        exchange = stat.S_ISREG(os.lstat(dst).st_mode) and _exchange(src, dst)
    except OSError:
        exchange = False
    if exchange and dispose is not None:
        dispose(os.fspath(src))
    elif exchange:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(src)
    else:
        os.replace(src, dst)


def _exchange(src: str | Path, dst: str | Path) -> bool:
    """Swap the two names; False when that cannot be done here (no such call in this libc
    or kernel, a file system without it, dst gone meanwhile): os.replace then decides."""
    global _renameat2
    if _renameat2 is False:
        _renameat2 = None
        if sys.platform == "linux":
            import ctypes
            with contextlib.suppress(OSError, AttributeError):  # glibc < 2.28
                _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    at_cwd = -100
    return callable(_renameat2) and _renameat2(at_cwd, os.fsencode(src), at_cwd, os.fsencode(dst),
                                               _RENAME_EXCHANGE) == 0


def write_file(path: Path, data: bytes | bytearray | memoryview, tmp_dir: Path | None = None,
               fsync: bool = False) -> None:
    """Write `data` to `path` atomically."""
    with atomic_output(path, tmp_dir, fsync) as handle:
        handle.write(data)
