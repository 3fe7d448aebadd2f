"""Blobs read one at a time from one `git cat-file --batch-command` (git 2.36+).

`info` gives a blob's size without reading it, so a large blob that is to be
left alone costs nothing; `contents` hands the blob over as a stream bounded by
its size, so a multi-GiB model passes through in pieces, never held whole.
"""
from __future__ import annotations

from io import BufferedReader
from pathlib import Path
from typing import Callable, TypeVar, cast

from gitmodel.errors import UserError
from gitmodel.git.repo import start

T = TypeVar("T")


class _Bounded:
    """The next `left` bytes of git's output, as a readable stream."""

    def __init__(self, raw: BufferedReader, left: int) -> None:
        self._raw = raw
        self.left = left

    def readinto(self, buffer: memoryview | bytearray) -> int:
        if self.left <= 0:
            return 0
        view = memoryview(buffer)[:min(len(buffer), self.left)]
        n = self._raw.readinto(view)
        if not n:
            raise UserError("git cat-file stopped in the middle of a blob")
        self.left -= n
        return n


class BlobReader:
    def __init__(self, cwd: Path) -> None:
        self._proc = start(["cat-file", "--batch-command"], cwd, stdin=True, stdout=True)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in, self._out = self._proc.stdin, cast(BufferedReader, self._proc.stdout)

    def _ask(self, command: str, name: str) -> tuple[str, int] | None:
        """(type, size) of object NAME, or None when it does not exist."""
        self._in.write(f"{command} {name}\n".encode())
        self._in.flush()
        header = self._out.readline().split()
        if len(header) != 3:  # "NAME missing" / "NAME ambiguous"
            return None
        return header[1].decode(), int(header[2])

    def size(self, name: str) -> int | None:
        """Size of blob NAME, or None when NAME is not a blob."""
        found = self._ask("info", name)
        return found[1] if found and found[0] == "blob" else None

    def read(self, name: str) -> bytes | None:
        """The whole content of a small blob (callers check the size first)."""
        return self.stream(name, lambda stream: bytes(_rest(stream, keep=True)))

    def stream(self, name: str, use: Callable[[_Bounded], T]) -> T | None:
        """Call USE with the content of blob NAME as a stream; None when NAME is not a blob."""
        found = self._ask("contents", name)
        if found is None:
            return None
        stream = _Bounded(self._out, found[1])
        try:
            return use(stream) if found[0] == "blob" else None
        finally:
            _rest(stream, keep=False)  # what USE left unread (it failed): skipped, not kept
            self._out.read(1)  # the newline after the content

    def close(self) -> None:
        self._in.close()
        self._proc.wait()


def _rest(stream: _Bounded, keep: bool) -> bytearray:
    """Read what is left of STREAM in 1 MiB pieces; return it if KEEP, else drop it."""
    data = bytearray()
    buffer = bytearray(min(stream.left, 1 << 20))
    while n := stream.readinto(buffer):
        if keep:
            data += buffer[:n]
    return data
