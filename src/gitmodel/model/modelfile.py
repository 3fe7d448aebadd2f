"""One version of a model file, read where it lives: the cache or the working tree.

Inspection must not cost a checkout: a cached version is read chunk by chunk
through `Store.read_chunk`, never reassembled whole. Every tensor gets a
fingerprint that depends only on its bytes: the ids of its bytes cut into
`chunking.PIECE` pieces from its own start. That is exactly how the clean filter
cut large safetensors tensors, so for a cached version the fingerprint comes
from the manifest without decompressing anything; small grouped tensors, the
working tree and torch checkpoints hash their bytes instead. Equal fingerprints
mean equal bytes, whatever the file layout around the tensor.
"""
from __future__ import annotations

import bisect
import json
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Protocol

import xxhash

from gitmodel.errors import UserError
from gitmodel.store.chunking import MAX_SAFETENSORS_HEADER, PIECE, safetensors_layout
from gitmodel.store.objects import CorruptObject, Manifest, MissingObject, Store, chunk_id


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's identity in a file; `begin`/`end` are absolute byte offsets."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin

    @property
    def numel(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


class ByteSource(Protocol):
    """Random access to the bytes of one file version."""

    size: int

    def read(self, offset: int, length: int) -> bytes: ...

    def piece_ids(self, begin: int, end: int) -> list[str] | None: ...


class CachedSource:
    """A version in the cache: byte ranges decoded from the covering chunks only."""

    def __init__(self, store: Store, manifest: Manifest) -> None:
        self.store = store
        self.manifest = manifest
        self.size = manifest.size
        self.starts: list[int] = []
        position = 0
        for _, length in manifest.chunks:
            self.starts.append(position)
            position += length
        self._last: tuple[int, bytes] | None = None  # grouped tensors share a chunk

    def _chunk(self, index: int) -> bytes:
        if self._last is None or self._last[0] != index:
            cid, length = self.manifest.chunks[index]
            try:
                self._last = (index, bytes(self.store.read_chunk(cid, length)))
            except (MissingObject, CorruptObject) as exc:
                raise UserError(f"chunk {cid} of object {self.manifest.oid[:12]} is missing or "
                                f"damaged ({exc}): run `git model fsck --repair` or "
                                "`git model pull`") from None
        return self._last[1]

    def read(self, offset: int, length: int) -> bytes:
        parts, end = [], offset + length
        index = bisect.bisect_right(self.starts, offset) - 1
        while offset < end and index < len(self.starts):
            data = self._chunk(index)
            start = self.starts[index]
            parts.append(data[offset - start:end - start])
            offset = start + len(data)
            index += 1
        return b"".join(parts)

    def piece_ids(self, begin: int, end: int) -> list[str] | None:
        """The stored ids, when the chunks covering [begin, end) are exactly its pieces."""
        index = bisect.bisect_left(self.starts, begin)
        if begin == end or index == len(self.starts) or self.starts[index] != begin:
            return None
        ids, position = [], begin
        while position < end and index < len(self.starts):
            cid, length = self.manifest.chunks[index]
            if length > PIECE or (position + length < end and length != PIECE):
                return None
            ids.append(cid)
            position += length
            index += 1
        return ids if position == end else None


class DiskSource:
    """A file in the working tree: read with seeks, nothing cached."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle = handle
        self.size = size

    def read(self, offset: int, length: int) -> bytes:
        self.handle.seek(offset)
        return self.handle.read(length)

    def piece_ids(self, begin: int, end: int) -> list[str] | None:
        return None

    def close(self) -> None:
        self.handle.close()


@dataclass
class ModelFile:
    """A parsed file version: format, tensors by name, metadata, and its bytes."""

    format: str  # "safetensors", "torch" or "opaque"
    size: int
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    source: ByteSource | None = None
    manifest: Manifest | None = None
    oid: str | None = None
    _fingerprints: dict[str, str] = field(default_factory=dict)

    @property
    def content(self) -> ByteSource:
        """Where the content is read from; only an empty version (from its pointer) has none."""
        if self.source is None:
            raise ValueError("this version has no content to read")
        return self.source

    @property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors.values())

    def pieces(self, name: str) -> Iterator[bytes]:
        """The tensor's raw bytes, PIECE bytes at a time (bounded memory)."""
        info = self.tensors[name]
        for offset in range(info.begin, info.end, PIECE):
            yield self.content.read(offset, min(PIECE, info.end - offset))

    def fingerprint(self, name: str) -> str:
        """xxh3-128 over the ids of the tensor's pieces: equal exactly when the bytes are."""
        if name not in self._fingerprints:
            info = self.tensors[name]
            ids = self.content.piece_ids(info.begin, info.end)
            if ids is None:
                ids = [chunk_id(piece) for piece in self.pieces(name)]
            self._fingerprints[name] = xxhash.xxh3_128_hexdigest("".join(ids).encode())
        return self._fingerprints[name]

    def digest(self) -> str:
        """Identity of the whole content: the sha256 oid when known, else xxh3-128 of the bytes."""
        if self.oid is not None:
            return f"sha256:{self.oid}"
        hasher = xxhash.xxh3_128()
        for offset in range(0, self.size, PIECE):
            hasher.update(self.content.read(offset, min(PIECE, self.size - offset)))
        return f"xxh3:{hasher.hexdigest()}"

    def close(self) -> None:
        """Release what the reader holds (an open file, a temporary checkpoint)."""
        close = getattr(self.source, "close", None)
        if close is not None:
            close()


def safetensors(source: ByteSource) -> ModelFile | None:
    (length,) = struct.unpack("<Q", source.read(0, 8))
    if length > MAX_SAFETENSORS_HEADER or 8 + length > source.size:
        return None
    header = source.read(8, length)
    if safetensors_layout(header) is None:
        return None
    meta = json.loads(header)  # cannot fail: the layout parsed it
    metadata = meta.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        return None
    tensors = {}
    base = 8 + length
    for name, info in meta.items():
        begin, end = info["data_offsets"]
        shape = info.get("shape", [])
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            return None  # a header we cannot describe: the file is shown as opaque bytes
        tensors[name] = TensorInfo(name, str(info.get("dtype")), tuple(shape),
                                   base + begin, base + end)
    if any(t.end > source.size for t in tensors.values()):
        return None
    return ModelFile("safetensors", source.size, tensors,
                     {str(k): str(v) for k, v in metadata.items()}, source)
