"""Git's pkt-line framing, as used by the long-running filter protocol.

Each packet is 4 hex digits of length (counting themselves) and a payload;
"0000" is a flush. Content is streamed packet by packet in both directions so
that neither side ever holds a whole model.
"""
from __future__ import annotations

import os
import re
from typing import BinaryIO

MAX_PAYLOAD = 65516  # 65520 minus the 4-byte header
FLUSH = b"0000"
_HEADER = re.compile(rb"[0-9a-fA-F]{4}")  # int(x, 16) alone would take "0x10", " 1a ", "+01a"


class ProtocolError(Exception):
    """The peer sent something that is not valid pkt-line framing."""


class PktReader:
    """Reads packets, and content packets as a stream (`readinto`)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._left = 0  # content bytes of the current packet not read yet
        self._ended = False

    def _exact(self, n: int) -> bytes:
        data = self._stream.read(n)
        if len(data) != n:
            raise EOFError("git closed the filter pipe")
        return data

    def packet(self) -> bytes | None:
        """The next packet's payload, or None for a flush."""
        length = self._length()
        return None if length is None else self._exact(length)

    def _length(self) -> int | None:
        """The payload length the next packet header gives, or None for a flush."""
        head = self._exact(4)
        if not _HEADER.fullmatch(head):
            raise ProtocolError(f"bad pkt-line header {head!r}")
        length = int(head, 16)
        if length == 0:
            return None
        if length < 4 or length > MAX_PAYLOAD + 4:
            raise ProtocolError(f"bad pkt-line length {length}")
        return length - 4

    def text_list(self) -> list[str]:
        """Text packets up to the next flush, without their trailing LF."""
        lines = []
        while (pkt := self.packet()) is not None:
            try:
                lines.append(pkt.decode().rstrip("\n"))
            except UnicodeDecodeError:
                raise ProtocolError("a text packet that is not UTF-8") from None
        return lines

    def start_content(self) -> None:
        self._left = 0
        self._ended = False

    def readinto(self, buffer: memoryview | bytearray) -> int:
        """Content bytes up to the flush that ends them; 0 at that flush. Payloads are
        read straight into `buffer`, not into a packet first (one copy less of every
        byte a clean reads)."""
        while not self._left:
            if self._ended:
                return 0
            length = self._length()
            if length is None:
                self._ended = True
                return 0
            self._left = length
        n = self._stream.readinto(memoryview(buffer)[:self._left])  # type: ignore[attr-defined]
        if not n:
            raise EOFError("git closed the filter pipe")
        self._left -= n
        return n

    def drain(self) -> None:
        """Skip the rest of the current content."""
        if self._left:
            self._exact(self._left)
            self._left = 0
        while not self._ended:
            if self.packet() is None:
                self._ended = True


class PktWriter:
    """Writes packets straight to a file descriptor, header and payload in one
    `writev`, so a 1 GiB smudge costs 16k system calls rather than 32k."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def packet(self, payload: bytes | memoryview) -> None:
        header = b"%04x" % (len(payload) + 4)
        written = os.writev(self._fd, [header, payload])
        if written < len(header) + len(payload):  # a signal cut the write short
            rest = memoryview(header + bytes(payload))[written:]
            while rest:
                rest = rest[os.write(self._fd, rest):]

    def text(self, *lines: str) -> None:
        for line in lines:
            self.packet(line.encode() + b"\n")

    def flush(self) -> None:
        os.write(self._fd, FLUSH)

    def answer(self, status: str, content: bytes) -> None:
        """`status=STATUS`, a flush, the content, a flush and an empty list (the filter
        protocol's whole answer) in one write: five writes each woke git, 0.34 s of the
        filter's 3.1 s adding 3,000 small files. For small content (a pointer, a small
        file's smudge)."""
        body = b"".join(b"%04x" % (len(part) + 4) + part
                        for part in (memoryview(content)[i:i + MAX_PAYLOAD].tobytes()
                                     for i in range(0, len(content), MAX_PAYLOAD)))
        data = memoryview(b"%04x" % (len(status) + 12) + f"status={status}\n".encode()
                          + FLUSH + body + FLUSH + FLUSH)
        while data:
            data = data[os.write(self._fd, data):]

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        for start in range(0, len(view), MAX_PAYLOAD):
            self.packet(view[start:start + MAX_PAYLOAD])
        return len(view)


def widen_pipe(fd: int, size: int = 1 << 20) -> None:
    """Ask Linux for a larger pipe buffer: fewer context switches per GiB."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ImportError):
        pass  # not a pipe, not Linux, or over the system limit: the default works
