"""The content-addressed object cache under `<git common dir>/model/`.

Layout (see README):

    objects/chunks/<2 hex>/<32 hex>      one chunk, named by xxh3-128 of its raw bytes,
                                         encoded by `codec` (zstd, bytes grouped)
    objects/manifests/<2 hex>/<64 hex>   one file version, named by the sha256 of its
                                         content: JSON list of (chunk id, length)
    objects/packs/pack-<32 hex>.pack     the chunks and manifests of small files, many
    objects/packs/pack-<32 hex>.idx      to a file, and their index (see `packs`)
    tmp/                                 temporary files, renamed into place when whole

A file is stored once per distinct chunk across all files and versions. Chunks
are a few MiB (tensor pieces; 64 KiB to 1 MiB for content-defined cuts), so a
10 GB model is a few thousand files, not a million. Every chunk is verified
against its name when read, so a damaged cache never yields a wrong model.
"""
from __future__ import annotations

import collections
import contextlib
import fcntl
import itertools
import json
import os
import re
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Generator, Iterable, Iterator, Protocol, TypeVar

import xxhash

from gitmodel.errors import CacheError
from gitmodel.store import codec, layout
from gitmodel.store.atomic import pause_point, write_file
from gitmodel.store.chunking import (
    CDC_MIN,
    MAX_CHUNK,
    MAX_SAFETENSORS_HEADER,
    ZIP_MAGIC,
    Chunk,
    Readable,
    Reader,
    chunk_stream,
    tensor_pieces,
)
from gitmodel.store.packs import (
    PACK_LIMIT,
    PACKED_BELOW,
    Key,
    Packs,
    PackWriter,
    Where,
    abandoned,
    forget,
    listing,
    sync_dir,
    to_merge,
)
from gitmodel.store.pointer import MAX_SIZE, Pointer, is_oid
from gitmodel.store.zippieces import zip_pieces

if TYPE_CHECKING:  # annotations only; imported where used (a re-clean needs neither)
    import concurrent.futures
    import hashlib

T = TypeVar("T")
_CHUNK_ID_RE = re.compile(r"[0-9a-f]{32}")
MANIFEST_VERSION = 1
WORKERS = 2  # the machines we target have 2+ cores; zstd and xxh3 release the GIL
READ_AHEAD = 6  # chunks decoded ahead of the writer: bounds memory to ~6 x 4 MiB
# A manifest lists ~45 bytes per chunk: 16 MiB covers 370k chunks (> 1 TB of model).
MAX_MANIFEST = 16 << 20
# A delta is kept without trying the plain encoding when below this share of the raw
# piece (plain bf16 never gets under ~66%), and else only when under DELTA_KEEP of plain.
DELTA_SURE = 0.5
DELTA_KEEP = 0.9
# Older versions' pieces are tried as bases only when more than this share of the bytes
# differ from the best base in the parent's chain: a sibling fine-tune's retrained head
# differs from its parent in 73% of the bytes and from the shared ancestor in 9%, a
# training checkpoint from the one before it in far fewer.
DIFFER_TRY = 0.5
OLDER_MIN = 1 << 20  # below this a piece never asks for older versions (a git call)
# Small pieces (below CDC_MIN: small files, tails) whose delta this many tries in one process
# never kept are stored plain without trying for the rest of it (`Store.small_deltas_pay`).
SMALL_DELTA_TRIES = 16
PACKS_LOOK = 0.5  # seconds an add trusts its view of the packs folder (freshen_object)
STALE_TMP = 86400.0  # a day: tmp/ files older than that were left by a killed command


class CorruptObject(CacheError):
    """A stored chunk or manifest that does not match its name."""


class MissingObject(CacheError):
    """An object that is not in the cache."""


def is_chunk_id(value: object) -> bool:
    return isinstance(value, str) and _CHUNK_ID_RE.fullmatch(value) is not None


def chunk_id(data: bytes | bytearray | memoryview) -> str:
    return xxhash.xxh3_128_hexdigest(data)


class Writable(Protocol):
    """Where a file's content is written: a file, stdout, git's pkt-line stream."""

    def write(self, data: bytes | bytearray, /) -> object: ...


@dataclass(frozen=True)
class Manifest:
    """The chunks of one file version, in order."""

    oid: str
    size: int
    chunks: tuple[tuple[str, int], ...]

    @property
    def pointer(self) -> Pointer:
        return Pointer(self.oid, self.size)

    def placed(self) -> Iterator[tuple[str, int, int]]:
        """(chunk id, size, offset in the file) of each chunk, in order."""
        offset = 0
        for cid, size in self.chunks:
            yield cid, size, offset
            offset += size

    def encode(self) -> bytes:
        body = {"version": MANIFEST_VERSION, "oid": self.oid, "size": self.size,
                "chunks": [list(c) for c in self.chunks]}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, oid: str, data: bytes) -> Manifest:
        """Parse untrusted manifest bytes; raise CorruptObject unless well-formed.

        Chunk lengths are bounded by what the chunker makes (MAX_CHUNK): every
        length here becomes a buffer when the chunk is decoded.
        """
        try:
            if len(data) > MAX_MANIFEST:
                raise ValueError("too large")
            body = json.loads(data)
            chunks = tuple((c, n) for c, n in body["chunks"])
            ok = (body.get("version") == MANIFEST_VERSION and body.get("oid") == oid
                  and type(body.get("size")) is int and 0 < body["size"] <= MAX_SIZE
                  and all(is_chunk_id(c) and type(n) is int and 0 < n <= MAX_CHUNK
                          for c, n in chunks)
                  and sum(n for _, n in chunks) == body["size"])
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            ok = False
        if not ok:
            raise CorruptObject(f"manifest {oid[:12]} is malformed")
        return cls(oid, body["size"], chunks)


# One chunk of a delta chain: (id, depth, raw bytes).
Link = tuple[str, int, bytes | bytearray]
# The version a new one replaces (delta bases), or how to find it when first needed.
Parent = Manifest | Callable[[], Manifest | None] | None
# Older versions (newest first), asked for only when the parent's piece is a poor base.
Ancestors = Callable[[], list[Manifest]]
# Where the raw bytes of some chunks can be had without decoding them (`FileChunks`):
# verified bytes, or None.
Bases = Callable[[str, int], bytearray | None]


class Store:
    """Chunks and manifests on disk, with streaming add and verified reads."""

    def __init__(self, root: Path, fsync: bool = False) -> None:
        self.root = root
        self.chunk_dir = root / "objects" / layout.CHUNKS
        self.manifest_dir = root / "objects" / layout.MANIFESTS
        self.tmp_dir = root / "tmp"
        self.fsync = fsync
        self._objects = os.fspath(root / "objects")
        self._root = os.fspath(root)
        self._pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        self._pools_lock = threading.Lock()
        self.packs = Packs(root / "objects" / "packs")
        self._writer: PackWriter | None = None
        self._batches = 0
        self._deferring = 0  # adds under way: their packed objects are written as one
        self._writer_lock = threading.Lock()
        self._packs_dated: dict[str, float] = {}  # pack name -> when this process dated it
        self._small_deltas = [0, 0]  # small pieces tried as deltas, and kept so

    def pool(self, kind: str) -> concurrent.futures.ThreadPoolExecutor:
        """The process's worker threads for KIND ("read", "write"; "hash": one thread, so
        that the updates of a hash run in order), started once: a filter
        process that started a pool per file spent 0.6 s of 2.1 s on thread start-up
        adding 1,000 small files. Readers and writers have their own, so that neither
        waits behind the other's queue."""
        import concurrent.futures  # not at import (with logging, ~3 ms): a re-clean needs no thread
        with self._pools_lock:
            if kind not in self._pools:
                self._pools[kind] = concurrent.futures.ThreadPoolExecutor(
                    1 if kind == "hash" else WORKERS, thread_name_prefix=f"git-model-{kind}")
            return self._pools[kind]

    # -- paths and existence -------------------------------------------------
    def chunk_path(self, cid: str) -> Path:
        return Path(self._chunk_file(cid))

    def manifest_path(self, oid: str) -> Path:
        return Path(self._manifest_file(oid))

    # Plain strings on the lookup paths: `git model status` checks every model file's
    # object, and pathlib's joins were half of its time at 10,000 files.
    def _chunk_file(self, cid: str) -> str:
        if not is_chunk_id(cid):
            raise CorruptObject(f"invalid chunk id {cid!r}")
        return f"{self._objects}/{layout.key(layout.CHUNKS, cid)}"

    def _manifest_file(self, oid: str) -> str:
        if not is_oid(oid):
            raise CorruptObject(f"invalid object id {oid!r}")
        return f"{self._objects}/{layout.key(layout.MANIFESTS, oid)}"

    def files(self, kind: str) -> Iterator[tuple[str, Path]]:
        """(name, path) of every file under KIND's fan-out (layout.CHUNKS, layout.MANIFESTS),
        or in "tmp" or "packs", valid name or not: gc and fsck judge names. Symbolic links are neither
        listed nor followed, so a sweep never reaches outside the cache."""
        top = self.tmp_dir if kind == "tmp" else self.root / "objects" / kind
        flat = kind in ("tmp", "packs")
        dirs = [top] if flat else [Path(d.path) for d in listing(top)
                                   if d.is_dir(follow_symlinks=False)]
        for folder in dirs:
            for entry in listing(folder):
                if entry.is_file(follow_symlinks=False):
                    yield entry.name, Path(entry.path)

    def remove_stale_tmp(self, age: float = STALE_TMP) -> int:
        """Delete files in tmp/ untouched for `age` seconds (what a killed command left: a
        live write touches its file continually); return how many. gc does the same with
        its own grace period."""
        cutoff, removed = time.time() - age, 0
        for _, path in self.files("tmp"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue  # gone meanwhile, or a read-only cache: nothing to do
        return removed

    def has_chunk(self, cid: str) -> bool:
        return self._packed((layout.CHUNKS, cid)) or os.path.exists(self._chunk_file(cid))

    def has_manifest(self, oid: str) -> bool:
        return self._packed((layout.MANIFESTS, oid)) or os.path.exists(self._manifest_file(oid))

    def missing_manifests(self, oids: Iterable[str]) -> set[str]:
        """Those of `oids` whose manifest is not here (`manifest_places`)."""
        return self.manifest_places(oids)[1]

    def manifest_places(self, oids: Iterable[str]) -> tuple[set[str], set[str]]:
        """(those of `oids` whose manifest is in a published pack, those whose manifest is
        not here), with one look at the packs folder (`has_manifest` looks at it for every
        oid: ~25 ms of a 10,000-file status)."""
        wanted = set(oids)
        if not wanted:
            return set(), set()  # no pack index read (a status with everything settled)
        packed = self.packs.present(layout.MANIFESTS, wanted)
        writer = self._writer
        return packed, {oid for oid in wanted - packed
                        if not (writer is not None and writer.has((layout.MANIFESTS, oid)))
                        and not os.path.exists(self._manifest_file(oid))}

    # -- packs (see store/packs.py) ---------------------------------------------
    def _packed(self, key: Key) -> bool:
        writer = self._writer
        return (writer is not None and writer.has(key)) or self.packs.locate(key) is not None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Within this block, adds with `packed=True` append small objects to one pack,
        published (synced, renamed, indexed) when the block ends or the pack is full.
        Until then only this process sees them; a kill leaves a stale temporary file."""
        with self._writer_lock:
            self._batches += 1
            first = self._batches == 1
        if first:
            self.recover()
        try:
            yield
        finally:
            with self._writer_lock:
                self._batches -= 1
                writer = None
                if not self._batches:  # an inner batch (a fetch during a checkout) leaves
                    writer, self._writer = self._writer, None  # the pack to the outer one
            if writer is not None and writer.publish(self.fsync) is not None:
                self.packs.refresh(force=True)
                self.merge_small_packs()

    def _put(self, key: Key, blob: bytes | bytearray, packed: bool) -> None:
        """Store an object's bytes: appended to this batch's pack when `packed` and a
        batch is open, else as a loose file."""
        full = None
        with self._writer_lock:
            if packed and self._batches:
                if self._writer is None:
                    self._writer = PackWriter(self.packs.dir, self.tmp_dir)
                self._writer.add(key, blob, defer=self._deferring > 0)
                if self._writer.size >= PACK_LIMIT:
                    full, self._writer = self._writer, None
        if full is not None:
            full.publish(self.fsync)
            self.packs.refresh(force=True)
        elif not (packed and self._batches):
            path = self.chunk_path(key[1]) if key[0] == layout.CHUNKS else self.manifest_path(key[1])
            write_file(path, blob, self.tmp_dir, self.fsync)

    def _read(self, key: Key, limit: int) -> bytes:
        """The stored bytes of an object, loose or packed, read no further than `limit`
        (+1, so the caller sees an overlong one); raise MissingObject."""
        path = self._chunk_file(key[1]) if key[0] == layout.CHUNKS else self._manifest_file(key[1])
        where = self.packs.locate(key)  # packs first: most objects of a many-file repository
        if where is not None:           # are there, and a failed open costs more than a lookup
            with contextlib.suppress(FileNotFoundError):
                return self.packs.read(where)[:limit + 1]
        try:
            with open(path, "rb") as handle:
                return handle.read(limit + 1)
        except FileNotFoundError:
            pass
        writer = self._writer
        if writer is not None and (data := writer.get(key)) is not None:
            return data[:limit + 1]
        for force in (False, True):  # gc may have repacked it since the last look
            self.packs.refresh(force)
            where = self.packs.locate(key)
            if where is not None:
                try:
                    return self.packs.read(where)[:limit + 1]
                except FileNotFoundError:
                    continue
        raise MissingObject(key[1])

    def freshen_object(self, key: Key, pending: bool = True) -> bool:
        """`freshen` for an object wherever it is: a packed one dates its pack, and one in
        this batch's unpublished pack is fresh already, if `pending` (a packed add) may rely
        on it: a loose object must never refer to one that a kill could still take away.
        The packs folder is looked at again only every PACKS_LOOK seconds: a pack another
        process published since is missed at worst, and the object stored once more
        (a stat per object was ~8 us of every small file's add)."""
        path = self._chunk_file(key[1]) if key[0] == layout.CHUNKS else self._manifest_file(key[1])
        if self.freshen(path):
            return True
        writer = self._writer
        if writer is not None and writer.has(key):
            return pending
        where = self.packs.locate(key, PACKS_LOOK)
        return where is not None and self._freshen_pack(where[0])

    def _freshen_pack(self, name: str) -> bool:
        """`freshen` for a pack, at most once a second: the objects of many small files
        share a few packs, and a lock and a utime for each of them were most of the time
        of a re-clean of 100 such files. A pack dated a second ago is inside any grace
        period gc is given but 0."""
        now = time.monotonic()
        if now - self._packs_dated.get(name, -2.0) < 1.0:
            return True
        if not self.freshen(self.packs.path(name)):
            return False
        self._packs_dated[name] = now
        return True

    def rewrite_pack(self, pack: str, keep: Iterable[Key]) -> str | None:
        """Copy the `keep` entries of PACK into a new pack, published before PACK may go
        (gc's repack, fsck's removal of a damaged entry); return the new pack's name."""
        entries = self._entries_of(pack)
        return self._new_pack(((key, (pack, *entries[key])) for key in sorted(keep)), self.fsync)

    def _entries_of(self, pack: str) -> dict[Key, tuple[int, int]]:
        """PACK's entries; FileNotFoundError when it is gone (merged into another since)."""
        entries = self.packs.entries(pack)
        if not entries:
            raise FileNotFoundError(pack)
        return entries

    def _new_pack(self, objects: Iterable[tuple[Key, Where]], fsync: bool) -> str | None:
        """One new pack holding these packed objects, each read from where it is, published
        (or nothing left of it, if reading or writing fails); its name."""
        writer = PackWriter(self.packs.dir, self.tmp_dir)
        try:
            for key, where in objects:
                writer.add(key, self.packs.read(where), defer=True)
            name = writer.publish(fsync)
        except BaseException:
            writer.abandon()
            raise
        self.packs.refresh(force=True)
        return name

    def merge_small_packs(self) -> str | None:
        """Merge the packs `packs.to_merge` chooses into one; its name, or None when there
        is nothing to merge, another process is merging, or it failed (a pack gone meanwhile,
        a full disk): merging only saves time, and nothing it leaves behind is needed.

        The new pack is published (synced, indexed, the folder synced) before any old one
        goes, each index before its pack: killed at any point, every object is in a pack
        with an index, at worst in two. A reader that found an object in a pack removed
        since looks again (`_read`); an add that would date it there writes it anew. What
        gc meant to delete of the old packs is kept, fresh, until its next run."""
        chosen = to_merge(self.packs.sizes())
        if not chosen:
            return None
        fd = self._open_lock("merge.lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            name = self._merged(chosen)
        except OSError:
            return None
        finally:
            os.close(fd)
        pause_point("merge")  # the new pack is there, the old ones too
        for pack in chosen:
            for ext in ("idx", "pack"):
                with contextlib.suppress(FileNotFoundError):
                    self.packs.path(pack, ext).unlink()
        self.packs.refresh(force=True)
        return name

    def _merged(self, packs: list[str]) -> str | None:
        """One new pack holding every entry of `packs`, published and the folder synced;
        FileNotFoundError when one of them is gone."""
        def objects() -> Iterator[tuple[Key, Where]]:
            for pack in packs:
                entries = self._entries_of(pack)
                for key, where in sorted(entries.items(), key=lambda e: e[1]):
                    yield key, (pack, *where)
        name = self._new_pack(objects(), fsync=True)
        sync_dir(self.packs.dir)
        return name

    def drop_packed(self, keys: set[Key], aside: Path) -> None:
        """Take `keys` out of every pack holding them: the rest is rewritten to a new pack
        and the old one moved into the folder `aside` (fsck's quarantine)."""
        for pack in self.packs.pack_names():
            entries = self.packs.entries(pack)
            if keys & entries.keys():
                self.rewrite_pack(pack, entries.keys() - keys)
                aside.mkdir(parents=True, exist_ok=True)
                for ext in ("idx", "pack"):
                    os.replace(self.packs.path(pack, ext), aside / f"{pack}.{ext}")
                self.packs.refresh(force=True)

    def recover(self) -> int:
        """Publish what killed writers left in open packs (see `packs.PackWriter`): every
        object whose journal entry is whole and whose bytes match its name; return how
        many. Run when a batch starts, and by gc and fsck."""
        count = 0
        for pack, fd, entries in abandoned(self.packs.dir):
            writer = None
            try:
                for key, (offset, length) in sorted(entries.items(), key=lambda e: e[1]):
                    blob = os.pread(fd, length, offset)
                    if len(blob) == length and self._sound(key, blob):
                        writer = writer or PackWriter(self.packs.dir, self.tmp_dir)
                        writer.add(key, blob)
                        count += 1
                if writer is not None:
                    writer.publish(self.fsync)
            finally:
                forget(pack, fd)
        if count:
            self.packs.refresh(force=True)
        return count

    def _sound(self, key: Key, blob: bytes) -> bool:
        try:
            if key[0] == layout.MANIFESTS:
                return Manifest.decode(key[1], blob).oid == key[1]
            size = codec.raw_size(blob)
            return size is not None and chunk_id(self._decode(key[1], size, blob)) == key[1]
        except (CorruptObject, MissingObject, OSError):
            return False

    def stored_names(self, kind: str) -> set[str]:
        """The names of every stored object of KIND, loose or packed (valid or not)."""
        return {name for name, _ in self.files(kind)} | set(self.packs.names(kind))

    def has_object(self, pointer: Pointer) -> bool:
        """True when the manifest and every chunk it lists are present."""
        if pointer.size == 0:
            return True
        try:
            manifest = self.read_manifest(pointer.oid)
        except (MissingObject, CorruptObject):
            return False
        return all(self.has_chunk(c) for c, _ in manifest.chunks)

    def missing_chunks(self, manifest: Manifest) -> list[str]:
        return [c for c, _ in manifest.chunks if not self.has_chunk(c)]

    # -- manifests -----------------------------------------------------------
    def read_manifest(self, oid: str) -> Manifest:
        if not is_oid(oid):
            raise CorruptObject(f"invalid object id {oid!r}")
        return Manifest.decode(oid, self._read((layout.MANIFESTS, oid), MAX_MANIFEST))

    def put_manifest(self, manifest: Manifest, packed: bool = False) -> None:
        self._put((layout.MANIFESTS, manifest.oid), manifest.encode(), packed)

    # -- chunks --------------------------------------------------------------
    def put_chunk(self, cid: str, chunk: Chunk, base: str | None = None,
                  others: Callable[[], list[str]] | None = None, packed: bool = False) -> None:
        """Store a chunk whose id the caller computed from `chunk.data`, as a delta
        against chunk `base` (the same tensor piece of the parent version) or one of
        `others()` (that piece in older versions) when that is clearly smaller than the
        plain encoding."""
        blob = self._delta(chunk, base, others, packed) if base is not None and base != cid else None
        if base is not None and len(chunk.data) < CDC_MIN:
            self._small_deltas[0] += 1
            self._small_deltas[1] += blob is not None
        if blob is None:
            blob = codec.encode(chunk.data, chunk.width)
        self._put((layout.CHUNKS, cid), blob, packed)

    def small_deltas_pay(self) -> bool:
        """Whether a small piece is still worth its delta try: until SMALL_DELTA_TRIES of this
        process kept none. A try reads the parent's manifest and piece and encodes twice,
        ~0.5 ms of a 64 KiB file's ~1.2 ms add; a change of 100 files of noise among 10,000
        (nothing to gain) spent 50 ms of 0.14 s there. Files that share bytes with their
        last version keep being tried as long as one in SMALL_DELTA_TRIES pays."""
        tried, kept = self._small_deltas
        return tried < SMALL_DELTA_TRIES or kept * SMALL_DELTA_TRIES >= tried

    def _delta(self, chunk: Chunk, base: str,
               others: Callable[[], list[str]] | None = None,
               packed: bool = False) -> bytes | None:
        """The delta encoding of `chunk` against `base`, a chunk under it or one of
        `others()` if it pays.

        Every chunk of the base's chain is decoded anyway (to verify the base), so each
        is a candidate, and the one whose bytes differ least from the new piece is taken;
        when most bytes differ, the chains of `others()` are tried as well: a sibling
        fine-tune (v2_full after v1_head, both from v0) differs less from the shared
        ancestor than from its parent (benchmark, 64 MiB, through git: v2_full stores
        7.3 MB instead of 11.5 MB). A base already at the depth limit is replaced by the
        plain chunk its chain starts from (a key frame): on 11 checkpoints of a real fine-tune
        (bench/checkpoints.py, lr 2e-5, every 20 steps) the store holds 45% of the plain
        size instead of 57% when every 4th version is re-based whole; when the drift from
        the key frame no longer pays, the piece is stored whole, a new key frame.
        The chosen base and the chunks under it are freshened after they were read, so
        gc (which re-checks ages before deleting) cannot take them meanwhile."""
        size = len(chunk.data)
        try:
            parents = self._base_chain(base, size)
            chain = self._best_base(chunk.data, parents)
            if others is not None and chain[1] > DIFFER_TRY * size:
                tried = {link[0] for link in parents}
                for other in others():
                    if other not in tried:
                        with contextlib.suppress(MissingObject, CorruptObject):
                            chain = min(chain, self._best_base(chunk.data, self._base_chain(
                                other, size)), key=lambda c: c[1])
            if not all(self.freshen_object((layout.CHUNKS, link[0]), packed) for link in chain[0]):
                return None
            base, depth, raw = chain[0][0]
            delta = codec.encode_delta(chunk.data, chunk.width, raw, base, depth)
        except (MissingObject, CorruptObject, codec.CorruptChunk, ValueError, OSError):
            return None
        if len(delta) < DELTA_SURE * size:
            return delta
        return delta if len(delta) < DELTA_KEEP * len(codec.encode(chunk.data, chunk.width)) else None

    def _base_chain(self, base: str, size: int) -> list[Link]:
        """The chain of `base` as candidate bases: all of it, or, when `base` is at the
        depth limit, the key frame its chain starts from (depth 0) alone."""
        blob = self.read_encoded(base, size)
        head = codec.delta_base(blob)
        if head is not None and head[1] >= codec.MAX_DEPTH:
            for _ in range(codec.MAX_DEPTH):  # down to the key frame (depth 0)
                if head is not None:
                    base, head = head[0], self.chunk_head(head[0])
            blob = self.read_encoded(base, size)
        chain = self._decode_chain(base, size, blob)
        if chain[0][1] >= codec.MAX_DEPTH:
            raise CorruptObject(f"chunk {base} is no key frame")
        return chain

    @staticmethod
    def _best_base(data: bytes | bytearray, chain: list[Link]) -> tuple[list[Link], int]:
        """The tail of `chain` from the link whose bytes differ least from `data` (the
        nearest among equals), and how many bytes differ."""
        scores = [codec.differing(data, link[2]) for link in chain]
        at = scores.index(min(scores))
        return chain[at:], scores[at]

    def chunk_head(self, cid: str) -> tuple[str, int] | None:
        """(base, depth) of a stored delta chunk, None for a plain chunk (or an absent or
        unreadable one: fsck judges those)."""
        try:
            return codec.delta_base(self._read((layout.CHUNKS, cid), codec.DELTA_HEAD))
        except (OSError, MissingObject, CorruptObject, codec.CorruptChunk):
            return None

    def chunk_base(self, cid: str) -> str | None:
        head = self.chunk_head(cid)
        return head[0] if head else None

    def with_bases(self, cids: Iterable[str]) -> set[str]:
        """`cids` and every chunk their delta chains need."""
        out: set[str] = set()
        todo = list(cids)
        while todo:
            cid = todo.pop()
            if cid not in out:
                out.add(cid)
                if (base := self.chunk_base(cid)) is not None:
                    todo.append(base)
        return out

    def pieces(self, manifest: Manifest) -> dict[str, str]:
        """Tensor-piece key -> chunk id for a stored safetensors version (the parent of a
        new one), from its header and where its chunks start, or for a torch checkpoint
        (a zip: its records); {} for anything else."""
        offsets, position = {}, 0
        for cid, size in manifest.chunks:
            offsets[position] = (cid, size)
            position += size
        head, length = bytearray(), MAX_SAFETENSORS_HEADER + 1
        try:
            if manifest.chunks and self.read_chunk(*manifest.chunks[0])[:4] == ZIP_MAGIC:
                return zip_pieces(manifest.chunks, self.read_chunk)
            for cid, size in manifest.chunks:
                head += self.read_chunk(cid, size)
                if len(head) >= 8:
                    length = int.from_bytes(head[:8], "little")
                if length > MAX_SAFETENSORS_HEADER or len(head) >= 8 + length:
                    break
        except (MissingObject, CorruptObject):
            return {}
        if length > MAX_SAFETENSORS_HEADER or len(head) < 8 + length or head[8:9] != b"{":
            return {}
        header = head[8:8 + length]
        return {key: offsets[start][0] for start, length, key in tensor_pieces(header)
                if offsets.get(start, ("", 0))[1] == length}

    def stored_size(self, cid: str) -> int:
        """Bytes on disk of a chunk; 0 when absent. Looked for in `_read`'s order (packs,
        loose, this batch's pack), so that it is the length of what `read_encoded` returns
        even for a chunk stored twice, encoded differently (a push plans its packs with
        these lengths). Nothing is read: whether it is a delta is `chunk_head`'s to say."""
        where = self.packs.locate((layout.CHUNKS, cid))
        if where is not None:
            return where[2]
        try:
            return self.chunk_path(cid).stat().st_size
        except OSError:
            writer = self._writer
            pending = writer.entries.get((layout.CHUNKS, cid)) if writer is not None else None
            return pending[1] if pending else 0

    def put_encoded(self, cid: str, size: int, blob: bytes, packed: bool = False,
                    linked: Path | None = None) -> bytes | bytearray:
        """Store an already-encoded chunk (from a remote) after verifying it; return its raw
        bytes, so a download can hash the file without decoding every chunk twice. A
        delta chunk's base must be in the cache already (MissingObject names it). With
        `linked` (from `link_encoded`, holding `blob`), that file is renamed into place."""
        data = self._decode(cid, size, blob)
        if linked is None:
            self._put((layout.CHUNKS, cid), blob, packed)
            return data
        path = self._chunk_file(cid)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if self.fsync:
            fd = os.open(linked, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(linked, path)
        return data

    def link_encoded(self, source: str, limit: int) -> tuple[Path, bytes] | None:
        """Hard-link `source`, an encoded chunk on this cache's filesystem (a directory
        remote), under tmp/ and read it through the link: adopting the remote's file
        spares writing a copy (an inode allocation and the bytes; ext4 file creation was
        the largest kernel cost of a pull, git clone --local links objects alike). None
        when no link can be made or it would not be safe: only a regular file of this
        user that nobody else may write, so what `put_encoded` verifies is what stays
        (both sides only ever replace files whole, never write into one), and no longer
        than `limit`."""
        if not hasattr(os, "getuid"):  # no owner to check (Windows): copy
            return None
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp_dir / f".link-{os.urandom(8).hex()}.part"
        try:
            os.link(source, tmp, follow_symlinks=False)
        except (OSError, NotImplementedError):
            return None
        try:
            fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                st = os.fstat(fd)
                if (stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid()
                        and not st.st_mode & 0o022 and st.st_size <= limit):
                    with os.fdopen(os.dup(fd), "rb") as handle:
                        blob = handle.read(limit + 1)
                    if len(blob) <= limit:
                        return tmp, blob
            finally:
                os.close(fd)
        except OSError:
            pass
        tmp.unlink(missing_ok=True)
        return None

    def read_encoded(self, cid: str, size: int = MAX_CHUNK) -> bytes:
        """The stored bytes of a chunk of raw length `size`, read no further than its
        encoding of that length can reach (a damaged file may be any length)."""
        limit = codec.max_encoded(size)
        if not is_chunk_id(cid):
            raise CorruptObject(f"invalid chunk id {cid!r}")
        blob = self._read((layout.CHUNKS, cid), limit)
        if len(blob) > limit:
            raise CorruptObject(f"chunk {cid} is damaged (longer than {size} bytes can encode to)")
        return blob

    def read_chunk(self, cid: str, size: int, bases: Bases | None = None) -> bytes | bytearray:
        """The raw bytes of a chunk, verified against its id; a delta's base is taken from
        `bases` when it has it."""
        return self._decode(cid, size, self.read_encoded(cid, size), bases)

    def chunk_is_sound(self, cid: str) -> bool:
        """True when the stored chunk decodes, at the length its encoding records, to
        bytes matching its id: a verdict on the chunk alone, whatever a manifest says."""
        try:
            blob = self.read_encoded(cid)
            size = codec.raw_size(blob)
            return size is not None and chunk_id(self._decode(cid, size, blob)) == cid
        except (MissingObject, CorruptObject, codec.CorruptChunk, OSError):
            return False

    def _decode(self, cid: str, size: int, blob: bytes,
                bases: Bases | None = None) -> bytes | bytearray:
        """Decode and verify a chunk; a delta chunk's base is read first, and must sit
        lower in the chain (its depth below this one's), so a damaged or hostile chain
        ends after MAX_DEPTH reads instead of looping.

        A delta of grouped streams over a grouped base (how tensor pieces are stored) is
        undone on the streams, merged once, and only the result is verified: a damaged
        base cannot give the right bytes. v2_full of the benchmark (256 MiB, 154 of 205
        chunks such deltas) decoded in 0.50 s before, 0.4 s so, one thread (measured here).
        """
        try:
            data = self._unverified(size, blob, bases)
        except codec.CorruptChunk as exc:
            raise CorruptObject(f"chunk {cid} is damaged ({exc})") from None
        if chunk_id(data) != cid:
            raise CorruptObject(f"chunk {cid} does not match its id")
        return data

    def _decode_chain(self, cid: str, size: int, blob: bytes) -> list[Link]:
        """(id, depth, verified raw bytes) of a chunk and of each chunk down its delta
        chain, nearest first: the candidate bases of a new piece (an add needs each
        link's bytes, a read only the top's: `_decode`)."""
        try:
            head = codec.delta_base(blob)
            below = self._decode_chain(head[0], size, self._base_blob(head, size)) if head else []
            data = codec.decode(blob, size, below[0][2] if below else None)
        except codec.CorruptChunk as exc:
            raise CorruptObject(f"chunk {cid} is damaged ({exc})") from None
        if chunk_id(data) != cid:
            raise CorruptObject(f"chunk {cid} does not match its id")
        return [(cid, head[1] if head else 0, data), *below]

    def _unverified(self, size: int, blob: bytes, bases: Bases | None) -> bytes | bytearray:
        """The raw bytes of a chunk, unverified: `_streams` merged once when it has them,
        else the `_plain` way. With `bases`, every delta goes the `_plain` way, which asks
        them first."""
        grouped = None if bases is not None and codec.delta_base(blob) else self._streams(size, blob)
        return codec.merge(grouped[1], size, grouped[0]) if grouped else self._plain(size, blob, bases)

    def _plain(self, size: int, blob: bytes, bases: Bases | None = None) -> bytes | bytearray:
        """The raw bytes of a chunk that is not a chain of grouped XOR deltas (`_streams`),
        unverified. A difference delta (codec.CODEC_DELTA_SUB) is added into its base's
        buffer, which is not verified on its own either: only the result is, as for
        `_streams`. v2_full of the benchmark (256 MiB, one thread) decoded in 0.53 s
        verifying the base and filling a new buffer, 0.30 s so; v0 (plain) in 0.20 s.
        A base that `bases` has (verified there) is not decoded at all."""
        head = codec.delta_base(blob)
        if head is None:
            return codec.decode(blob, size)
        known = bases(head[0], size) if bases is not None else None
        if known is not None:
            return codec.decode(blob, size, known, in_place=True)
        if blob[0] != codec.CODEC_DELTA_SUB:
            return codec.decode(blob, size, self._decode(head[0], size, self._base_blob(head, size), bases))
        # the base's stored bytes and streams are freed before the delta is applied: peak
        # memory as a plain decode's
        base = self._unverified(size, self._base_blob(head, size), bases)
        return codec.decode(blob, size, base, in_place=True)

    def _base_blob(self, head: tuple[str, int], size: int) -> bytes:
        """The stored base of a delta whose head is `head`; it must be lower in the chain."""
        base_blob = self.read_encoded(head[0], size)
        under = codec.delta_base(base_blob)
        if under is not None and under[1] >= head[1]:
            raise codec.CorruptChunk(f"base {head[0]} is no lower in the chain")
        return base_blob

    def _streams(self, size: int, blob: bytes) -> tuple[int, list] | None:
        """(width, byte streams) of a grouped chunk or of a chain of grouped deltas over a
        grouped chunk, unverified; None for any other form (decoded the plain way)."""
        head = codec.delta_base(blob)
        if head is None:
            return codec.streams(blob, size)
        if blob[0] != codec.CODEC_DELTA_XOR:
            return None
        delta = codec.streams(memoryview(blob)[codec.DELTA_HEAD:], size)
        if delta is None:
            return None
        base = self._streams(size, self._base_blob(head, size))
        if base is None or base[0] != delta[0]:
            return None
        return delta[0], [codec.xor(a, b) for a, b in zip(delta[1], base[1])]

    @contextlib.contextmanager
    def gc_lock(self, shared: bool) -> Iterator[None]:
        """gc deletes under the exclusive lock; an add dates the objects it reuses under
        the shared one. So a reused object was either seen fresh by gc's last look
        before deleting, or was already gone and the add writes it again."""
        fd = self._open_lock("gc.lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _open_lock(self, name: str) -> int:
        """A new descriptor of the lock file `name` (a flock belongs to one open file: every
        use, in any thread, needs its own); the folder is made only when missing (a mkdir and
        a path join for every object were ~8% of the filter's time adding 3,000 small files)."""
        lock = f"{self._root}/{name}"
        try:
            return os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:
            self.root.mkdir(parents=True, exist_ok=True)
            return os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)

    def freshen(self, path: str | Path) -> bool:
        """Date an object an add reuses now, so gc's grace period covers it until git
        records the pointer; False when it is not there (the caller writes it). A new
        object, absent, needs no lock: nothing gc does can change that answer (the lock's
        open and flock were ~6% of the filter's time adding 3,000 new small files)."""
        if not os.path.exists(path):
            return False
        with self.gc_lock(shared=True):
            try:
                os.utime(path)
            except FileNotFoundError:
                return False
        return True

    # -- whole files ---------------------------------------------------------
    def iter_chunks(self, manifest: Manifest, bases: Bases | None = None) -> Iterator[bytes | bytearray]:
        """The verified raw chunks of a file in order, decoded ahead in threads (delta
        bases taken from `bases` when it has them); a small file's (a packed one's: a few
        chunks of 64 KiB) in this thread: handing them over cost more than decoding them
        (a checkout of 100 files of 64 KiB waited 50 ms on the pool, on a busy machine)."""
        pool = self.pool("read") if manifest.size >= PACKED_BELOW else None
        return read_ahead(pool, lambda cid, size: self.read_chunk(cid, size, bases),
                          manifest.chunks, READ_AHEAD)

    def write_to(self, pointer: Pointer, out: Writable, bases: Bases | None = None) -> None:
        """Write a file's content to `out`; raise MissingObject/CorruptObject."""
        if pointer.size == 0:
            return
        for data in self.iter_chunks(self.read_manifest(pointer.oid), bases):
            out.write(data)

    def matches(self, path: Path, manifest: Manifest) -> bool:
        """True when the file at `path` has exactly the chunks of `manifest`: read in the
        manifest's lengths, each piece's xxh3 its chunk's id. No chunker runs (the cuts are
        known): a checkout's filter checks its files without loading pyfastcdc (~25 ms)."""
        try:
            with open(path, "rb", buffering=0) as handle:
                if os.fstat(handle.fileno()).st_size != manifest.size:
                    return False
                buffer = bytearray(max((n for _, n in manifest.chunks), default=0))
                view = memoryview(buffer)
                for cid, length in manifest.chunks:
                    if handle.readinto(view[:length]) != length or chunk_id(view[:length]) != cid:
                        return False
                return handle.read(1) == b""
        except OSError:
            return False

    def knows(self, data: bytes | bytearray) -> bool:
        """Whether a chunk of these bytes is stored (the chunker's hint, `chunking.Known`)."""
        return self.has_chunk(chunk_id(data))

    def add_stream(self, stream: Readable, expected: Manifest | None = None,
                   name: str = "", parent: Parent = None, *, size: int | None = None,
                   ancestors: Ancestors | None = None, exact: bool = False) -> Manifest:
        """Chunk, hash and store a stream; return its manifest.

        With `expected` (what the stat cache says this file held), the content is
        only compared chunk by chunk against it: when it matches, no sha256, no
        compression and no writes are needed. At the first difference the
        prefix is replayed from the cache into sha256 and the add goes on as a
        normal one. `name` (the file's path) guides how the content is cut.
        A new tensor piece is delta-encoded against the same piece of `parent`
        (the version this one replaces; `expected` when there is one), or of what
        `parent()` returns, called only once a tensor piece needs a base; and when
        the parent's piece differs in most bytes, against that piece in `ancestors()`
        (older versions, called once at most) if one is closer. `size`, the stream's
        length if known (a hint), helps cut an edited copy of a stored file, and a small
        one (below `PACKED_BELOW`) goes to the pack inside a `batch`.

        `exact`: the file's whole stat data is what it was when it held `expected` (git's
        re-clean of a racily clean entry, at every `git commit` right after `git add`).
        The stream is then read as `expected`'s chunks, each checked against its id,
        without cutting it again (nor importing the cutter, ~7 ms of the filter's start);
        at the first difference it is added as usual.
        """
        packed = size is not None and size < PACKED_BELOW
        if expected is not None and exact:
            reader = stream if isinstance(stream, Reader) else Reader(stream)
            left = self._follow(reader, expected, packed)
            if left is None:
                return expected
            stream, parent = _Replayed(self, expected.chunks[:left], reader), parent or expected
            expected = None
        with self.deferred_writes():  # an add returns once its objects are in the pack
            return _Ingest(self, expected, parent or expected, packed, ancestors).run(stream, name, size)

    @contextlib.contextmanager
    def deferred_writes(self) -> Iterator[None]:
        """Within this block, objects added to this batch's pack are written out together
        (`PackWriter.flush`) when it ends, not one by one: two system calls for a small
        file's chunk and manifest instead of four, and for a fetch's many threads no
        write made while holding the pack's lock."""
        with self._writer_lock:
            self._deferring += 1
        try:
            yield
        finally:
            with self._writer_lock:
                self._deferring -= 1
            writer = self._writer
            if writer is not None:
                writer.flush()

    def _follow(self, reader: Reader, expected: Manifest, packed: bool) -> int | None:
        """Read `reader` as `expected`'s chunks; None when it is exactly that content and
        every object of it is here (dated for gc's grace period, like any add), else
        the number of chunks that matched, with the bytes read past them pushed back."""
        for index, (cid, size) in enumerate(expected.chunks):
            data = reader.read(size)
            if len(data) != size or chunk_id(data) != cid \
                    or not self.freshen_object((layout.CHUNKS, cid), packed):
                reader.unread(data)
                return index
        extra = reader.read(1)
        if extra:
            reader.unread(extra)
            return len(expected.chunks)
        if not self.freshen_object((layout.MANIFESTS, expected.oid), packed):
            self.put_manifest(expected, packed)
        return None


class _Replayed:
    """A stream whose first chunks were read already: those, from the store, then the rest."""

    def __init__(self, store: Store, chunks: tuple[tuple[str, int], ...], rest: Reader) -> None:
        self._blocks = (store.read_chunk(cid, size) for cid, size in chunks)
        self._head = memoryview(b"")
        self._rest = rest

    def readinto(self, buffer: memoryview | bytearray, /) -> int:
        while not self._head:
            block = next(self._blocks, None)
            if block is None:
                return self._rest.readinto(buffer)
            self._head = memoryview(block)
        n = min(len(buffer), len(self._head))
        buffer[:n] = self._head[:n]
        self._head = self._head[n:]
        return n


class FileChunks:
    """The chunks of a stored version read from a file that held it: the version of a
    path that a checkout replaces (commands/previous.py keeps it linked), whose pieces are
    the bases of the next version's deltas. Reading one there (a copy from the page cache
    and a hash) spares decoding it: v2_full of the benchmark (256 MiB, deltas on v0)
    checked out over v0 with 0.39 s of CPU instead of 0.61 s (v0 over v2_full: 0.40 s),
    measured here. Every read is verified against the chunk's id, so the file needs no
    trust: one changed since only costs the decode it was to spare. Safe to call from
    the reader threads (positioned reads)."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.at: dict[str, tuple[int, int]] = {}
        for cid, size, offset in manifest.placed():
            self.at.setdefault(cid, (offset, size))
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))

    def __call__(self, cid: str, size: int) -> bytearray | None:
        where = self.at.get(cid)
        if where is None or where[1] != size:
            return None
        try:
            if hasattr(os, "preadv"):  # into the buffer the delta is then added to
                data = bytearray(size)
                got = os.preadv(self.fd, [data], where[0])
            else:
                data = bytearray(os.pread(self.fd, size, where[0]))
                got = len(data)
        except OSError:
            return None
        return data if got == size and chunk_id(data) == cid else None

    def close(self) -> None:
        os.close(self.fd)


def _sha256() -> hashlib._Hash:
    import hashlib  # OpenSSL's load is ~2 ms of a filter's start; a re-clean needs no sha256
    return hashlib.sha256()


def read_ahead(pool: concurrent.futures.Executor | None, work: Callable[..., T],
               chunks: Iterable[tuple], depth: int) -> Generator[T, None, None]:
    """`work(*item)` of each item (a chunk's `(cid, size)`, say) in order, up to `depth` of
    them done ahead in `pool` (one by one without a pool). When the reader stops early,
    what is queued is cancelled and what is running is waited for: nothing `work` does
    (a write into the caller's file) happens after the generator is closed."""
    if pool is None:
        for item in chunks:
            yield work(*item)
        return
    todo = iter(chunks)
    pending = collections.deque(pool.submit(work, *item) for item in itertools.islice(todo, depth))
    try:
        while pending:
            data = pending.popleft().result()
            if (following := next(todo, None)) is not None:
                pending.append(pool.submit(work, *following))
            yield data
    finally:
        import concurrent.futures  # loaded already: `pool` is one of its executors
        for future in pending:
            future.cancel()
        concurrent.futures.wait(pending)


class _Ingest:
    """One streaming add: chunk -> id -> (sha256, encode+write in threads)."""

    def __init__(self, store: Store, expected: Manifest | None, parent: Parent,
                 packed: bool, ancestors: Ancestors | None = None) -> None:
        self.store = store
        self.packed = packed
        self.expected = expected
        self.parent = parent
        self.ancestors = ancestors
        self.bases: dict[str, str] | None = None
        self.older: list[dict[str, str]] | None = None  # pieces of `ancestors()`, once read
        self.older_lock = threading.Lock()  # asked for by the writer threads
        self.sha: hashlib._Hash | None = None if expected else _sha256()
        self.chunks: list[tuple[str, int]] = []
        self.seen: set[str] = set()

    def run(self, stream: Readable, name: str, size: int | None) -> Manifest:
        import concurrent.futures  # imported by `pool` already
        pool = self.store.pool("write")
        inflight: collections.deque = collections.deque()
        try:
            for chunk in chunk_stream(stream, name, self._known, size):
                self._take(chunk, pool, inflight)
                while len(inflight) > 2 * WORKERS + 1:
                    inflight.popleft().result()
        finally:
            for future in inflight:  # every write done (or failed) before the add returns
                concurrent.futures.wait([future])
        for future in inflight:
            future.result()
        size = sum(n for _, n in self.chunks)
        if self.sha is None and self.expected is not None \
                and len(self.chunks) == len(self.expected.chunks):
            manifest = self.expected
        else:
            if self.sha is None:
                self.sha = self._replay(len(self.chunks))
            manifest = Manifest(self.sha.hexdigest(), size, tuple(self.chunks))
        if size and not self.store.freshen_object((layout.MANIFESTS, manifest.oid), self.packed):
            self.store.put_manifest(manifest, self.packed)
        return manifest

    def _take(self, chunk: Chunk, pool: concurrent.futures.Executor,
              inflight: collections.deque) -> None:
        cid = chunk_id(chunk.data)
        index = len(self.chunks)
        self.chunks.append((cid, len(chunk.data)))
        if self.sha is None:
            assert self.expected is not None  # no sha256 only while following `expected`
            if index < len(self.expected.chunks) and self.expected.chunks[index][0] == cid:
                self._keep(cid, chunk, pool, inflight)
                return
            if index == 0 and self._cut_as_expected(chunk, pool, inflight):
                return
            self.sha = self._replay(index)
        if self.packed:  # a small file: its sha256 costs less than a thread's hand-off
            self.sha.update(chunk.data)
        else:  # sha256 (0.76 s per GiB here, SHA-NI) in one thread of its own, in order,
            # so that reading the next chunk from git's pipe does not wait for it
            inflight.append(self.store.pool("hash").submit(self.sha.update, chunk.data))
        self._keep(cid, chunk, pool, inflight)

    def _cut_as_expected(self, chunk: Chunk, pool: concurrent.futures.Executor,
                         inflight: collections.deque) -> bool:
        """Whether the first chunk holds exactly the expected content, cut otherwise (a
        small file stored before it became one chunk, chunking.WHOLE_BELOW); then the
        expected chunks stand for it, so a re-clean of such a file still hashes, encodes
        and writes nothing."""
        assert self.expected is not None
        cuts = self.expected.chunks
        if len(cuts) < 2 or len(chunk.data) != self.expected.size:
            return False
        view, at, pieces = memoryview(chunk.data), 0, []
        for cid, size in cuts:
            if chunk_id(view[at:at + size]) != cid:
                return False
            pieces.append((cid, Chunk(bytes(view[at:at + size]))))
            at += size
        self.chunks[:] = cuts
        for cid, part in pieces:
            self._keep(cid, part, pool, inflight)
        return True

    def _known(self, data: bytes | bytearray) -> bool:
        cid = chunk_id(data)
        return cid in self.seen or self.store.has_chunk(cid)

    def _keep(self, cid: str, chunk: Chunk, pool: concurrent.futures.Executor,
              inflight: collections.deque) -> None:
        if cid in self.seen:
            return
        self.seen.add(cid)
        if self.store.freshen_object((layout.CHUNKS, cid), self.packed):
            return
        if len(chunk.data) < CDC_MIN:  # a small file or a file's tail: a thread's hand-off
            bases = self._bases(chunk) if self.store.small_deltas_pay() else (None, None)
            self.store.put_chunk(cid, chunk, *bases, self.packed)  # costs more
        else:
            inflight.append(pool.submit(self.store.put_chunk, cid, chunk, *self._bases(chunk),
                                        self.packed))

    def _bases(self, chunk: Chunk) -> tuple[str | None, Callable[[], list[str]] | None]:
        """The parent's chunk for this tensor piece, and how to find it in older versions."""
        base, key = self._base(chunk), chunk.key
        if base is None or key is None or self.ancestors is None or len(chunk.data) < OLDER_MIN:
            return base, None
        return base, lambda: self._older(key)

    def _older(self, key: str) -> list[str]:
        """The chunks of tensor piece `key` in the older versions, newest first."""
        with self.older_lock:
            if self.older is None:
                assert self.ancestors is not None
                self.older = [self.store.pieces(m) for m in self.ancestors()]
        return [pieces[key] for pieces in self.older if key in pieces]

    def _base(self, chunk: Chunk) -> str | None:
        """The parent's chunk for the same tensor piece, if any (parent read once, lazily)."""
        if chunk.key is None or self.parent is None:
            return None
        if self.bases is None:
            parent = self.parent() if callable(self.parent) else self.parent
            self.bases = {} if parent is None else self.store.pieces(parent)
        return self.bases.get(chunk.key)

    def _replay(self, count: int) -> hashlib._Hash:
        """Hash the first `count` chunks (known equal to the expected ones) from the cache."""
        sha = _sha256()
        for cid, size in self.chunks[:count]:
            sha.update(self.store.read_chunk(cid, size))
        return sha

