"""Where the tensor records of a stored torch checkpoint (a zip) start: delta bases.

A new version's storage records are cut into pieces keyed by record name and piece
number (`chunking.zip_key`); to find the same pieces in the parent version, its zip
central directory (at the end of the file) and each record's local header are read
from the cache. Only the chunks holding those bytes are decoded: the tail and the
small grouped chunks between records, never the tensor pieces themselves (a 1 GiB
checkpoint: a few MiB decoded).
"""
from __future__ import annotations

import bisect
import itertools
import struct
from typing import Callable

from gitmodel.store.chunking import PIECE, ZIP_MAGIC, zip_key

ReadChunk = Callable[[str, int], "bytes | bytearray"]


class _Content:
    """A stored version as a read-only seekable file, decoding the chunks that hold the
    bytes read (the last one kept): what `zipfile` needs, and no read-ahead."""

    def __init__(self, chunks: tuple[tuple[str, int], ...], read: ReadChunk) -> None:
        self.chunks = chunks
        self.starts = [0, *itertools.accumulate(size for _, size in chunks)]
        self.read_chunk = read
        self.pos = 0
        self.held: tuple[int, bytes | bytearray] = (-1, b"")

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = max(0, offset + (0, self.pos, self.starts[-1])[whence])
        return self.pos

    def read(self, n: int = -1) -> bytes:
        end = self.starts[-1] if n < 0 else min(self.starts[-1], self.pos + n)
        out = bytearray()
        while self.pos < end:
            i = bisect.bisect_right(self.starts, self.pos) - 1
            if self.held[0] != i:
                self.held = (i, self.read_chunk(*self.chunks[i]))
            data, at = self.held[1], self.pos - self.starts[i]
            piece = data[at:at + end - self.pos]
            out += piece
            self.pos += len(piece)
        return bytes(out)


def zip_pieces(chunks: tuple[tuple[str, int], ...], read: ReadChunk) -> dict[str, str]:
    """Piece key -> chunk id of the stored records of a zip whose chunks are `chunks`
    (those whose pieces start chunks of the right length); {} when it is no readable zip.
    zipfile is imported here: the filter's start-up does not pay for it."""
    import zipfile

    starts = dict(zip(itertools.accumulate((size for _, size in chunks), initial=0), chunks))
    content = _Content(chunks, read)
    out: dict[str, str] = {}
    try:
        with zipfile.ZipFile(content) as archive:
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED:
                    continue
                content.seek(info.header_offset)
                fixed = content.read(30)
                if len(fixed) < 30 or fixed[:4] != ZIP_MAGIC:
                    continue
                name_len, extra_len = struct.unpack_from("<HH", fixed, 26)
                name = content.read(name_len)
                begin = info.header_offset + 30 + name_len + extra_len
                end = begin + info.compress_size
                for number, start in enumerate(range(begin, end, PIECE)):
                    cid, size = starts.get(start, ("", 0))
                    if size == min(PIECE, end - start):
                        out[f"{zip_key(name)}#{number}"] = cid
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error, KeyError):
        return {}
    return out
