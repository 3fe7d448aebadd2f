"""Git LFS v1 pointer files: the only thing git-model puts into Git objects.

Using the LFS format byte for byte means every LFS tool and server understands
our history. Parsing is strict because pointers come from repositories and
remotes we do not control: an oid ends up in a cache path, so anything but the
one canonical encoding is "not a pointer".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

VERSION = "https://git-lfs.github.com/spec/v1"
MAX_POINTER_SIZE = 1024
_OID_RE = re.compile(r"[0-9a-f]{64}")
_POINTER_RE = re.compile(
    rb"version https://git-lfs\.github\.com/spec/v1\n"
    rb"oid sha256:([0-9a-f]{64})\n"
    rb"size ([1-9][0-9]{0,18})\n"  # size 0 is the empty file, never this text
)


@dataclass(frozen=True)
class Pointer:
    """A reference to a file version: its sha256 and its size in bytes."""

    oid: str
    size: int

    def __post_init__(self) -> None:
        if not is_oid(self.oid):
            raise ValueError(f"invalid oid {self.oid!r}")
        if not 0 <= self.size < 2**63:
            raise ValueError(f"invalid size {self.size!r}")

    def encode(self) -> bytes:
        """The canonical pointer text (the empty file is its own pointer)."""
        if self.size == 0:
            return b""
        return f"version {VERSION}\noid sha256:{self.oid}\nsize {self.size}\n".encode()

    @property
    def short(self) -> str:
        return self.oid[:12]


def is_oid(value: object) -> bool:
    """True for a 64-character lowercase hex sha256, the only safe oid form."""
    return isinstance(value, str) and _OID_RE.fullmatch(value) is not None


EMPTY_OID = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
EMPTY = Pointer(EMPTY_OID, 0)


def parse(data: bytes) -> Pointer | None:
    """Return the pointer that `data` canonically encodes, or None.

    Only the exact canonical text is accepted (no extra keys, no CRLF, no
    leading zeros, no "size 0": git-lfs writes the empty file for empty
    content): a file that merely looks like a pointer is content.
    """
    if not data:
        return EMPTY
    if len(data) >= MAX_POINTER_SIZE:
        return None
    match = _POINTER_RE.fullmatch(data)
    if match is None:
        return None
    return Pointer(match.group(1).decode(), int(match.group(2)))
