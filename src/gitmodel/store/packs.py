"""Pack files: many small objects in one file, found through a separate index.

A small model file (below `PACKED_BELOW`) is one chunk and one manifest; stored loose,
10,000 of them were 20,000 files of 64 KiB and 150 bytes (and as many requests to an
S3 remote). A `git add` instead appends them to one pack (git's packfiles and Xet's
64 MiB xorbs are the models):

    objects/packs/pack-<32 hex>.pack   MAGIC, then the stored bytes of each object
    objects/packs/pack-<32 hex>.idx    IDX_MAGIC, u32 count, count x ENTRY, xxh3-128
                                       of everything before it (16 bytes)

An ENTRY is kind (b"c" chunk, b"m" manifest), the object's name as raw bytes (a chunk
id's 16 bytes zero-padded to 32), offset and length in the pack. The stored bytes are
exactly what a loose object file would hold, so reading, verifying and uploading do
not care where an object lives. A pack is written to a temporary file, synced and
renamed, and only then its index: an index never names a pack that is not whole, a
pack without an index is invisible (gc removes it after the grace period). Packs are
never changed: gc writes a new one with the live objects and deletes the old one.
The index is untrusted input (a remote's, or a damaged disk's): every entry is
checked to lie inside its pack before anything is read, and every object read is
verified against its name as a loose one is.
"""
from __future__ import annotations

import contextlib
import os
import re
import struct
import tempfile
import threading
from pathlib import Path

import xxhash

from gitmodel.store import layout
from gitmodel.store.atomic import DEFAULT_MODE, pause_point, write_file

MAGIC = b"GMPACK1\n"
IDX_MAGIC = b"GMIDX1\n\0"
ENTRY = struct.Struct("<c32sQI")
_COUNT = struct.Struct("<I")
_KINDS = {b"c": layout.CHUNKS, b"m": layout.MANIFESTS}
_CODES = {v: k for k, v in _KINDS.items()}
_NAME_BYTES = {layout.CHUNKS: 16, layout.MANIFESTS: 32}
PACK_LIMIT = 64 << 20  # a pack is closed at this size (Xet's xorbs: 64 MiB)
PACKED_BELOW = 1 << 20  # files smaller than this are packed; larger ones stay loose
MAX_ENTRY = 8 << 20     # no packed object is longer (small files' chunks and manifests)
PACK_NAME = re.compile(r"pack-[0-9a-f]{32}")

Key = tuple[str, str]               # (layout.CHUNKS or layout.MANIFESTS, name)
Where = tuple[str, int, int]        # (pack name, offset, length)


class BadIndex(ValueError):
    """A pack index that is malformed or points outside its pack."""


def encode_index(entries: dict[Key, tuple[int, int]]) -> bytes:
    body = [IDX_MAGIC, _COUNT.pack(len(entries))]
    for (kind, name), (offset, length) in sorted(entries.items()):
        body.append(ENTRY.pack(_CODES[kind], bytes.fromhex(name).ljust(32, b"\0"), offset, length))
    data = b"".join(body)
    return data + xxhash.xxh3_128_digest(data)


def decode_index(data: bytes, pack_size: int) -> dict[Key, tuple[int, int]]:
    """Parse an untrusted index of a pack of `pack_size` bytes; raise BadIndex."""
    head = len(IDX_MAGIC) + _COUNT.size
    if len(data) < head + 16 or not data.startswith(IDX_MAGIC):
        raise BadIndex("not a pack index")
    if xxhash.xxh3_128_digest(data[:-16]) != data[-16:]:
        raise BadIndex("index checksum mismatch")
    (count,) = _COUNT.unpack_from(data, len(IDX_MAGIC))
    if len(data) != head + count * ENTRY.size + 16:
        raise BadIndex("index length does not match its count")
    entries: dict[Key, tuple[int, int]] = {}
    for code, raw, offset, length in ENTRY.iter_unpack(data[head:-16]):
        kind = _KINDS.get(code)
        if kind is None:
            raise BadIndex(f"unknown entry kind {code!r}")
        size = _NAME_BYTES[kind]
        if raw[size:].strip(b"\0"):
            raise BadIndex("malformed entry name")
        if not (len(MAGIC) <= offset and 0 < length <= MAX_ENTRY and offset + length <= pack_size):
            raise BadIndex("entry outside its pack")
        entries[(kind, raw[:size].hex())] = (offset, length)
    return entries


class PackWriter:
    """One pack being written by this process: appended to under a lock (the add's
    writer threads share it), readable by this process before it is published."""

    def __init__(self, packs_dir: Path, tmp_dir: Path) -> None:
        self.packs_dir = packs_dir
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".tmp-pack-", suffix=".part")
        self.tmp = Path(tmp)
        self.handle = os.fdopen(fd, "w+b")
        self.handle.write(MAGIC)
        self.size = len(MAGIC)
        self.hash = xxhash.xxh3_128(MAGIC)
        self.entries: dict[Key, tuple[int, int]] = {}
        self.lock = threading.Lock()

    def add(self, key: Key, blob: bytes | bytearray) -> None:
        with self.lock:
            if key in self.entries:
                return
            self.handle.write(blob)
            self.hash.update(blob)
            self.entries[key] = (self.size, len(blob))
            self.size += len(blob)

    def get(self, key: Key) -> bytes | None:
        with self.lock:
            where = self.entries.get(key)
            if where is None:
                return None
            self.handle.flush()
            return os.pread(self.handle.fileno(), where[1], where[0])

    def has(self, key: Key) -> bool:
        return key in self.entries

    def abandon(self) -> None:
        with self.lock:
            self.handle.close()
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()

    def publish(self, fsync: bool) -> str | None:
        """Sync and rename the pack into place, then write its index; None when empty.
        The pack is always synced (one sync per pack, not per object): its index, once
        there, must never name bytes a power loss could take back."""
        with self.lock:
            try:
                if not self.entries:
                    return None
                self.handle.flush()
                os.fsync(self.handle.fileno())
                name = f"pack-{self.hash.hexdigest()}"
                os.chmod(self.tmp, DEFAULT_MODE)
                self.packs_dir.mkdir(parents=True, exist_ok=True)
                os.replace(self.tmp, self.packs_dir / f"{name}.pack")
                pause_point("pack")  # the pack is in place, its index not yet
                write_file(self.packs_dir / f"{name}.idx", encode_index(self.entries),
                           self.tmp.parent, fsync=True)
                if fsync:
                    _sync_dir(self.packs_dir)
                return name
            finally:
                self.handle.close()
                with contextlib.suppress(FileNotFoundError):
                    self.tmp.unlink()


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Packs:
    """The published packs of one store: their merged index, re-read when the folder changes."""

    def __init__(self, packs_dir: Path) -> None:
        self.dir = packs_dir
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._indexes: dict[str, dict[Key, tuple[int, int]]] = {}  # pack name -> entries
        self._where: dict[Key, Where] = {}
        self._fds: dict[str, int] = {}

    def refresh(self, force: bool = False) -> None:
        """Re-read the folder if it changed since the last look (or always, with `force`:
        a pack published within the same timestamp tick leaves the folder's mtime alone).
        A damaged index is skipped: its objects are missing, which fsck reports."""
        try:
            stamp = os.stat(self.dir).st_mtime_ns
        except FileNotFoundError:
            stamp = 0
        if stamp == self._stamp and not force:
            return
        with self._lock:
            names = set()
            for entry in _listing(self.dir):
                name, dot, ext = entry.name.rpartition(".")
                if ext == "idx" and PACK_NAME.fullmatch(name) and entry.is_file(follow_symlinks=False):
                    names.add(name)
            indexes = {}
            for name in names:
                if name in self._indexes:
                    indexes[name] = self._indexes[name]
                    continue
                with contextlib.suppress(OSError, BadIndex):
                    size = os.stat(self.dir / f"{name}.pack").st_size
                    indexes[name] = decode_index((self.dir / f"{name}.idx").read_bytes(), size)
            self._indexes = indexes
            self._where = {key: (name, *where) for name, entries in sorted(indexes.items())
                           for key, where in entries.items()}
            self._stamp = stamp

    def locate(self, key: Key) -> Where | None:
        self.refresh()
        return self._where.get(key)

    def read(self, where: Where) -> bytes:
        """The stored bytes at `where`; FileNotFoundError when gc removed the pack."""
        name, offset, length = where
        with self._lock:
            fd = self._fds.get(name)
            if fd is None:
                fd = self._fds[name] = os.open(self.dir / f"{name}.pack", os.O_RDONLY)
        data = os.pread(fd, length, offset)
        if len(data) != length:
            raise FileNotFoundError(f"pack {name} is shorter than its index says")
        return data

    def names(self, kind: str) -> dict[str, str]:
        """Every packed object of `kind`: name -> pack name."""
        self.refresh(force=True)
        return {name: where[0] for (k, name), where in self._where.items() if k == kind}

    def entries(self, pack: str) -> dict[Key, tuple[int, int]]:
        self.refresh(force=True)
        return dict(self._indexes.get(pack, {}))

    def pack_names(self) -> list[str]:
        self.refresh(force=True)
        return sorted(self._indexes)

    def path(self, pack: str, ext: str = "pack") -> Path:
        return self.dir / f"{pack}.{ext}"

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    if folder.is_symlink():
        return []
    try:
        with os.scandir(folder) as listing:
            return list(listing)
    except (FileNotFoundError, NotADirectoryError):
        return []
