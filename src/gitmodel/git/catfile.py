"""Blobs read one at a time from one `git cat-file --batch-command` (git 2.36+).

`info` gives a blob's size without reading it, so a large blob that is to be
left alone costs nothing; `contents` hands the blob over as a stream bounded by
its size, so a multi-GiB model passes through in pieces, never held whole.

git maps what it reads: a whole loose object (a 300 MiB loose blob put 311 MB
in cat-file's resident set, measured), packs in windows of up to 1 GiB, and it
reads a packed blob below core.bigFileThreshold (512 MiB) whole (373 MB for a
300 MiB one). So a loose blob is inflated here from its file, 1 MiB at a time,
and cat-file runs with 16 MiB pack windows (at most 64 MiB mapped) and a 1 MiB
threshold: a packed blob above it streams, unless it is stored as a delta.
"""
from __future__ import annotations

import re
import zlib
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


class _Inflating:
    """A loose object's content, inflated from its file as it is read."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close(), after the caller reads)
        self._zlib = zlib.decompressobj()
        self._pending = b""
        header = b""
        while b"\0" not in header and len(header) < 64:
            header += self._inflate()
        head, _, self._pending = header.partition(b"\0")
        kind, _, size = head.partition(b" ")
        if not size.isdigit():
            raise UserError(f"damaged git object {path.name}: run `git fsck`")
        self.kind, self.left = kind.decode(errors="replace"), int(size)

    def _inflate(self) -> bytes:
        data = self._zlib.unconsumed_tail or self._file.read(1 << 20)
        if not data:
            raise UserError("a loose git object ends early: run `git fsck`")
        return self._zlib.decompress(data, 1 << 20)

    def readinto(self, buffer: memoryview | bytearray) -> int:
        if self.left <= 0:
            return 0
        while not self._pending:
            self._pending = self._inflate()
        n = min(len(buffer), len(self._pending), self.left)
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.left -= n
        return n

    def close(self) -> None:
        self._file.close()


class BlobReader:
    def __init__(self, cwd: Path, objects: Path) -> None:
        self._objects = objects
        self._proc = start(["-c", "core.packedGitWindowSize=16m", "-c", "core.packedGitLimit=64m",
                            "-c", "core.bigFileThreshold=1m", "cat-file", "--batch-command"],
                           cwd, stdin=True, stdout=True)
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

    def stream(self, name: str, use: Callable[[_Bounded | _Inflating], T]) -> T | None:
        """Call USE with the content of blob NAME as a stream; None when NAME is not a blob."""
        if _HEX.fullmatch(name) and (loose := self._objects / name[:2] / name[2:]).is_file():
            inflating = _Inflating(loose)
            try:
                return use(inflating) if inflating.kind == "blob" else None
            finally:
                inflating.close()
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


_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _rest(stream: _Bounded | _Inflating, keep: bool) -> bytearray:
    """Read what is left of STREAM in 1 MiB pieces; return it if KEEP, else drop it."""
    data = bytearray()
    buffer = bytearray(min(stream.left, 1 << 20))
    while n := stream.readinto(buffer):
        if keep:
            data += buffer[:n]
    return data
