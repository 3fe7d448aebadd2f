"""Moving objects between the local cache and a remote: only the chunks the other side lacks.

Push: drop the objects this clone already knows the remote has; ask the remote
which of the rest have a manifest (a manifest there means all of its chunks are
there, because manifests go up last); for the others find the missing chunks
(one listing per 2-hex prefix when many ids share it, parallel existence checks
when few), upload them in parallel, then the manifests. A push killed midway
leaves whole chunks and no manifest, so a re-run uploads only what is left.

Fetch: everything from a remote is untrusted. Ids are validated before they
become paths, every chunk is checked against its xxh3 id before it is stored
(`Store.put_encoded`), and every rebuilt file against the pointer's sha256
before its manifest enters the cache, so a wrong byte never reaches a working
tree. The remote is named in every error.

Small files travel in packs (store/packs.py): a push uploads their chunks and manifests
as packs of up to 64 MiB, each pack before its index, so that 10,000 small files are a
few requests, not 20,000; existence checks and downloads consult the remote's pack
indexes (listed and read once per transfer, validated like any remote input) before
the loose layout, and a packed object is downloaded with one ranged read.

A fetch can also write the files it brings (`Output`, what `git model pull` passes): in
the same pass, each chunk is written at its offset into a temporary file by the thread that
decoded it while one thread hashes them in order, and the file is renamed into place only
once the sha256 matched. A separate verify pass followed by
a decode-and-write pass cost 3.1 s of 7.3 s for a 1 GiB pull; in one pass, a 256 MiB
clone + pull took 1.66 s instead of 2.14 s (1.27 s of CPU instead of 1.54; medians of 5,
measured here on a loaded machine). A file of 64 MiB or more is written past the page
cache (store/direct.py): on this VM the page-cache copy was a third of the CPU of a 1 GiB
pull.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import os
import sqlite3
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Callable, ContextManager, Iterable, Iterator, Mapping, Protocol, TypeVar

from gitmodel.errors import UserError
from gitmodel.store import codec, layout
from gitmodel.store.atomic import write_file
from gitmodel.store.direct import DirectWrites
from gitmodel.store.objects import (
    MAX_MANIFEST,
    CorruptObject,
    Manifest,
    MissingObject,
    Store,
    Writable,
    read_ahead,
)
from gitmodel.store.packs import (
    MAGIC,
    MAX_ENTRY,
    PACK_LIMIT,
    PACK_NAME,
    PACKED_BELOW,
    BadIndex,
    Key,
    decode_index,
    encode_index,
)
from gitmodel.store.pointer import Pointer
from gitmodel.transfer.recent import up_to_date_line
from gitmodel.transfer.remotes import Backend, RemoteError, redact
from gitmodel.units import human, plural

NET_WORKERS = 8       # transfers wait on the network, not the CPU
# A directory remote's chunks are CPU work (read, decode, verify, write): 3 threads keep 2
# cores busy beside the hashing one; 8 took more memory (peak RSS of a 256 MiB pull 94 MB
# against 58 MB) and more CPU (0.69 s against 0.65 s) for no gain in time (measured here).
LOCAL_WORKERS = 3
LOCAL_AHEAD = 6  # chunks decoded ahead of the hashing thread (3: a 512 MiB pull 0.1 s slower)
OBJECT_WORKERS = 4    # files fetched at once (many small files must not go one by one)
LIST_THRESHOLD = 8    # ids sharing a prefix above which one listing beats that many checks
MAX_INDEX = 16 << 20  # a remote pack index read at most this long (370k objects)
SPAN = 4 << 20        # wanted neighbours in a remote pack read in one request, up to this long
SPAN_GAP = 64 << 10   # unwanted bytes a span reads through rather than split in two
STASH = 32 << 20      # neighbours read ahead and kept until asked for, at most this many bytes
_PACKS_LOCK = threading.Lock()
T = TypeVar("T")
_PWRITE = hasattr(os, "pwrite")  # not on Windows: there the hashing thread writes, in order


class FileOut(Writable, Protocol):
    """An empty file opened for writing (`atomic_output`'s): a fetch writes each chunk at
    its offset, through the descriptor, from the thread that decoded it."""

    def fileno(self) -> int: ...


Output = Callable[[Manifest], "ContextManager[FileOut] | None"]
"""Where the verified content of a fetched file also goes, or None: a context whose file
is kept only when the block ends without an exception (`atomic_output`)."""


class _Mismatch(Exception):
    """The content fetched for a file does not match its sha256 (its output is dropped)."""


@dataclass
class Stats:
    """What a transfer did, for the summary line and the benchmarks."""

    objects: int = 0       # file versions moved
    logical: int = 0       # their total size
    moved: int = 0         # encoded bytes actually sent or received
    chunks: int = 0        # chunks moved
    deduped: int = 0       # raw bytes of needed chunks the other side already had
    up_to_date: int = 0    # file versions the other side already had whole

    def summary(self, verb: str, remote: str) -> str:
        if not self.objects:
            return up_to_date_line(verb, remote, self.up_to_date)
        saved = f", dedup saved {human(self.deduped)}" if self.deduped else ""
        return (f"{verb} {plural(self.objects, 'object')}, {human(self.logical)} of model files: "
                f"moved {human(self.moved)}"
                + (f" in {plural(self.chunks, 'chunk')}" if self.chunks else " (whole files)")
                + f"{saved}; "
                f"{self.up_to_date} already up to date")

    def as_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


_FORGETS = "CREATE TABLE IF NOT EXISTS forgets (url TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID"


class Known:
    """Manifests a remote is known to hold, so repeat pushes and `status` ask nothing.

    Kept in SQLite under the model dir, keyed by the remote's URL (a changed URL
    starts afresh). Only confirmed facts go in: a manifest we uploaded or saw. One
    connection serves a push's transfer threads: a lock keeps their transactions apart
    (two threads' BEGINs on one connection fail: "cannot start a transaction within a
    transaction").
    """

    def __init__(self, model_dir: Path, url: str, read_only: bool = False) -> None:
        self.url = redact(url)  # no password in the database
        self._writing = threading.Lock()
        if read_only:  # status: a reader never checkpoints the WAL into the file, whose stat
            # data key status's cache (commands/statuscache.py); sqlite3.Error if none yet
            uri = f"{(model_dir / 'remotes.sqlite').absolute().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            return
        model_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(model_dir / "remotes.sqlite", timeout=30,
                                   isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")  # a lost fact only costs one more check:
        self._db.execute("PRAGMA synchronous=NORMAL")  # no fsync per push
        self._db.execute("CREATE TABLE IF NOT EXISTS known (url TEXT, oid TEXT, "
                         "PRIMARY KEY (url, oid)) WITHOUT ROWID")
        self._db.execute(_FORGETS)

    def has(self, oid: str) -> bool:
        return self._db.execute("SELECT 1 FROM known WHERE url = ? AND oid = ?",
                                (self.url, oid)).fetchone() is not None

    def having(self, oids: Iterable[str]) -> set[str]:
        """Those of `oids` the remote is known to hold: one query per 500, not one per
        object (10,000 lookups one by one were 0.17 s of a status)."""
        wanted, known = set(oids), set[str]()
        if len(wanted) >= 256:  # many: one scan of this remote's rows, if not 4x more (6 ms, not 20)
            table = self._db.execute("SELECT oid FROM known WHERE url = ? LIMIT ?",
                                    (self.url, 4 * len(wanted) + 1)).fetchall()
            if len(table) <= 4 * len(wanted):
                return wanted.intersection(map(itemgetter(0), table))
        todo = sorted(wanted)
        for start in range(0, len(todo), 500):
            part = todo[start:start + 500]
            rows = self._db.execute("SELECT oid FROM known WHERE url = ? AND oid IN "
                                    f"({','.join('?' * len(part))})", [self.url, *part])
            known.update(row[0] for row in rows)
        return known

    def add(self, oids: Iterable[str]) -> None:
        """One transaction (autocommit made each row one: 10,000 known manifests re-added by
        a push with nothing new took ~90 ms)."""
        with self._writing, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO known VALUES (?, ?)",
                                 [(self.url, oid) for oid in oids])

    def forget(self, oids: Iterable[str]) -> None:
        """The remote was found without these (it lost them): `status` must say so. Each
        forgetting is counted (`forgets`), in the same transaction."""
        with self._writing, self._db:
            self._db.execute("BEGIN")
            gone = self._db.executemany("DELETE FROM known WHERE url = ? AND oid = ?",
                                        [(self.url, oid) for oid in oids]).rowcount
            if gone > 0:
                self._db.execute("INSERT INTO forgets VALUES (?, 1) "
                                 "ON CONFLICT (url) DO UPDATE SET n = n + 1", (self.url,))

    def forgets(self) -> int:
        """How many times this remote was found to have lost objects: what status's record
        of settled blobs (commands/settled.py) is valid for."""
        try:
            row = self._db.execute("SELECT n FROM forgets WHERE url = ?", (self.url,)).fetchone()
        except sqlite3.OperationalError:  # read-only, written before the count was kept
            return 0
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._db.close()


class Progress:
    """A byte bar on stderr when it is a terminal: raw bytes done, bytes moved, dedup saved.

    Every size on the line comes from `units.human` (KiB/MiB/GiB), the rate too: tqdm's
    own scaling would print "533M" and "MB/s" beside our "MiB"."""

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]"

    def __init__(self, desc: str, total: int, deduped: int) -> None:
        self.bar = None
        self.total, self.done = total, 0
        self.moved, self.deduped = 0, deduped
        if sys.stderr.isatty() and not os.environ.get("GIT_MODEL_QUIET"):  # `git model -q`
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, bar_format=self.FORMAT, file=sys.stderr,
                            leave=False)

    def update(self, raw: int, encoded: int) -> None:
        self.moved += encoded
        self.done += raw
        if self.bar is not None:
            self.bar.update(raw)
            self.bar.set_postfix_str(self.text(self.bar.format_dict.get("elapsed", 0.0)),
                                     refresh=False)

    def text(self, elapsed: float) -> str:
        rate = f", {human(int(self.done / elapsed))}/s" if elapsed > 0 else ""
        saved = f", dedup saved {human(self.deduped)}" if self.deduped else ""
        return f"{human(self.done)} of {human(self.total)}{rate}, moved {human(self.moved)}{saved}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def parallel(func: Callable[[str], T], items: Iterable[str], workers: int = 0) -> dict[str, T]:
    """`func` over `items` in threads (in this one, in order, with `workers` 1); the first
    exception cancels the rest and is raised."""
    items = list(items)
    if len(items) <= 1 or workers == 1:
        return {item: func(item) for item in items}
    with concurrent.futures.ThreadPoolExecutor(workers or NET_WORKERS) as pool:
        futures = {pool.submit(func, item): item for item in items}
        try:
            return {futures[f]: f.result() for f in concurrent.futures.as_completed(futures)}
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _key(kind: str, name: str) -> str:
    return layout.key(kind, name)


def remote_packs(backend: Backend) -> dict[Key, tuple[str, int, int]]:
    """Where the remote's packs hold each packed object: packs/ listed once (one request)
    and every index read once per transfer, validated before any entry is used."""
    with _PACKS_LOCK:  # the fetch's threads all ask at once: one of them reads
        return _load_remote_packs(backend)


def _load_remote_packs(backend: Backend) -> dict[Key, tuple[str, int, int]]:
    if backend.pack_index is None:
        names = sorted(n[:-4] for n in backend.names("packs")
                       if n.endswith(".idx") and PACK_NAME.fullmatch(n[:-4]))
        kept = _kept_indexes(backend.index_cache, names)
        found = parallel(lambda n: backend.read(f"packs/{n}.idx", MAX_INDEX),
                         [n for n in names if n not in kept])
        where: dict[Key, tuple[str, int, int]] = {}
        for name in names:
            data = found.get(name)
            if data is None:
                if name in kept:
                    _add_entries(where, name, kept[name])
                continue
            try:
                _add_entries(where, name, decode_index(data, PACK_LIMIT + MAX_ENTRY))
            except BadIndex as exc:
                raise RemoteError(f"model remote {backend.name!r} holds a damaged pack index "
                                  f"{name}.idx ({exc}); nothing was read from it") from None
        _keep_indexes(backend.index_cache, names, found)
        backend.pack_index = where
    return backend.pack_index


def _add_entries(where: dict[Key, tuple[str, int, int]], name: str,
                 entries: dict[Key, tuple[int, int]]) -> None:
    for key, (offset, length) in entries.items():
        where.setdefault(key, (name, offset, length))


def _kept_indexes(cache: Path | None, names: list[str]) -> dict[str, dict[Key, tuple[int, int]]]:
    """The entries of those listed packs whose index an earlier transfer kept in `cache`.

    A remote pack is named by its content's hash and never changes, nor does its index, so
    a fetch reads from the remote only the indexes of packs published since the last one:
    a remote grows a pack per push of small files, and after 1,000 pushes every fetch read
    1,000 indexes (a request each on S3). A kept copy is checked as the remote's is; one
    that fails the check is read from the remote again."""
    kept: dict[str, dict[Key, tuple[int, int]]] = {}
    if cache is None:
        return kept
    for name in names:
        try:
            kept[name] = decode_index((cache / f"{name}.idx").read_bytes(), PACK_LIMIT + MAX_ENTRY)
        except (OSError, BadIndex):
            continue
    return kept


def _keep_indexes(cache: Path | None, names: list[str], found: Mapping[str, bytes | None]) -> None:
    """Keep the indexes just read, and drop those of packs the remote no longer lists
    (prune). Only saves requests: a failure to write is ignored."""
    if cache is None:
        return
    with contextlib.suppress(OSError):
        cache.mkdir(parents=True, exist_ok=True)
        for name, data in found.items():
            if data is not None:
                write_file(cache / f"{name}.idx", data, cache)
        listed = {f"{name}.idx" for name in names}
        for entry in os.scandir(cache):
            if entry.name not in listed:
                os.unlink(entry.path)


class Spans:
    """Packed objects that a transfer wants, read from the remote's packs a span at a
    time: one ranged read brings a run of neighbours (up to SPAN bytes, gaps under
    SPAN_GAP read through) and the ones not asked for yet wait in a stash of at most
    STASH bytes until their turn. 1,000 small files were 2,500 reads of a few KiB
    each (and as many S3 GETs); they are now a handful. Nothing is trusted here: the
    callers check each blob as before (sizes against limits, chunk ids, sha256)."""

    def __init__(self, backend: Backend, wanted: Iterable[Key]) -> None:
        where = remote_packs(backend)
        by_pack: dict[str, list[tuple[int, int, Key]]] = defaultdict(list)
        for key in wanted:
            if key in where:
                name, offset, length = where[key]
                by_pack[name].append((offset, length, key))
        self.backend = backend
        self.span: dict[Key, tuple[str, list[tuple[int, int, Key]]]] = {}
        for name, entries in by_pack.items():
            for run in _runs(sorted(entries)):
                for entry in run:
                    self.span[entry[2]] = (name, run)
        self.stash: dict[Key, bytes] = {}
        self.stashed = 0
        self.reading: dict[Key, threading.Event] = {}
        self.lock = threading.Lock()

    def read(self, key: Key) -> bytes | None:
        """The blob of `key` from the stash or a span read now; None when not wanted here."""
        with self.lock:
            event = self.reading.get(key)
        if event is not None:
            event.wait()  # another thread reads the span holding it
        with self.lock:
            blob = self.stash.pop(key, None)
            if blob is not None:
                self.stashed -= len(blob)
                return blob
            claimed = self.span.pop(key, None)
            if claimed is None:
                return None
            name, run = claimed
            run = [e for e in run if self.span.pop(e[2], None) is not None or e[2] == key]
            event = threading.Event()
            self.reading.update((e[2], event) for e in run)
        try:
            return self._read_run(name, run, key)
        finally:
            with self.lock:
                for entry in run:
                    self.reading.pop(entry[2], None)
            event.set()

    def _read_run(self, name: str, run: list[tuple[int, int, Key]], key: Key) -> bytes:
        start, end = run[0][0], run[-1][0] + run[-1][1]
        data = self.backend.read_range(f"packs/{name}.pack", start, end - start)
        if data is None:
            raise RemoteError(f"model remote {self.backend.name!r} lost pack {name} during "
                              "this transfer: try again")
        view = memoryview(data)
        found = b""
        with self.lock:
            for offset, length, other in run:
                blob = bytes(view[offset - start:offset - start + length])
                if other == key:
                    found = blob
                elif self.stashed + length <= STASH:  # else read again when asked
                    self.stash[other] = blob
                    self.stashed += length
        return found


def _runs(entries: list[tuple[int, int, Key]]) -> Iterator[list[tuple[int, int, Key]]]:
    """Sorted (offset, length, key) grouped into runs a single read may cover."""
    run: list[tuple[int, int, Key]] = []
    for entry in entries:
        if run and (entry[0] - (run[-1][0] + run[-1][1]) > SPAN_GAP
                    or entry[0] + entry[1] - run[0][0] > SPAN or entry[0] < run[-1][0] + run[-1][1]):
            yield run
            run = []
        run.append(entry)
    if run:
        yield run


def _read_packed(backend: Backend, key: Key, limit: int, spans: Spans | None = None) -> bytes | None:
    """A packed object's bytes from the remote (one ranged read, or part of a span's),
    None when not packed."""
    where = remote_packs(backend).get(key)
    if where is None:
        return None
    if where[2] > limit:
        raise RemoteError(f"model remote {backend.name!r} lists an oversized {key[1]} in pack "
                          f"{where[0]}: it was not read")
    blob = spans.read(key) if spans is not None else None
    if blob is not None:
        return blob
    return backend.read_range(f"packs/{where[0]}.pack", where[1], where[2])


def remote_has(backend: Backend, kind: str, ids: Iterable[str]) -> set[str]:
    """Which of `ids` (validated chunk ids or oids) exist on the remote under `kind`.

    Many ids: the packs first (one listing and their indexes answer for thousands),
    then the loose layout for the rest. A few: loose checks first, and the packs only
    for what they did not find, so a push of one large model asks one question."""
    ids = set(ids)
    few = len(ids) < LIST_THRESHOLD
    found = set() if few else {n for n in ids if (kind, n) in remote_packs(backend)}
    found |= _loose_has(backend, kind, ids - found)
    if few and ids - found:
        found |= {n for n in ids - found if (kind, n) in remote_packs(backend)}
    return found


def _loose_has(backend: Backend, kind: str, ids: set[str]) -> set[str]:
    """The loose layout: one listing of KIND's prefixes first when many ids are asked
    (a remote of packs has none: 1,000 small files were 3,700 S3 requests without it,
    as an absent key costs S3 two), then per prefix a listing or existence checks."""
    if len(ids) >= LIST_THRESHOLD:
        prefixes = backend.names(kind)
        ids = {name for name in ids if name[:2] in prefixes}
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for name in ids:
        by_prefix[name[:2]].append(name)
    listed = [p for p, names in by_prefix.items() if len(names) >= LIST_THRESHOLD]
    single = [n for p, names in by_prefix.items() if len(names) < LIST_THRESHOLD for n in names]
    found: set[str] = set()
    for prefix, names in parallel(lambda p: backend.names(f"{kind}/{p}"), listed).items():
        found.update(set(by_prefix[prefix]) & names)
    found.update(n for n, ok in parallel(lambda n: backend.exists(_key(kind, n)), single).items()
                 if ok)
    return found


# -- push -------------------------------------------------------------------------------
def push(store: Store, backend: Backend, known: Known, pointers: Mapping[Pointer, str],
         verify: bool = False, dry_run: bool = False) -> Stats:
    """Upload the objects of `pointers` (pointer -> a path, for messages) the remote lacks.

    What this clone remembers pushing is not trusted: a remote can lose objects
    (wiped, restored from a backup, expired by lifecycle rules), so the manifests
    of the objects being pushed are always asked for (one listing per 2-hex
    prefix, or a few existence checks). `verify` also checks every chunk of
    the manifests found, and uploads again what is missing. `dry_run` asks the same
    questions and counts what would go up (encoded bytes as cached), uploading nothing.
    """
    stats = Stats()
    todo = [p for p in pointers if p.size]
    stats.up_to_date = len(pointers) - len(todo)
    there = remote_has(backend, "manifests", [p.oid for p in todo])
    if verify:
        there -= _incomplete(store, backend, [p for p in todo if p.oid in there], pointers)
    known.forget(p.oid for p in todo if p.oid not in there)
    known.add(there)
    stats.up_to_date += len(there)
    manifests = [_local_manifest(store, p, pointers[p], backend.name)
                 for p in todo if p.oid not in there]
    if not manifests:
        return stats
    sizes = {cid: size for m in manifests for cid, size in m.chunks}
    stats.deduped = sum(sizes.values())
    bases = _bases(store, sizes)
    present = remote_has(backend, "chunks", sizes)
    needed = [cid for cid in sizes if cid not in present]
    stats.deduped -= sum(sizes[c] for c in needed if c not in bases)
    if dry_run:
        stats.objects, stats.logical = len(manifests), sum(m.size for m in manifests)
        stats.moved = sum(store.stored_size(c) for c in needed)
        stats.chunks = len(needed)
        return stats
    backend.remove_stale_tmp()
    progress = Progress(f"push {backend.name}", sum(sizes[c] for c in needed), stats.deduped)
    small, packed = _small(manifests)
    packed -= bases.keys()  # delta chains stay loose: a base is always up before its delta
    try:
        def upload(cid: str) -> None:
            blob = store.read_encoded(cid, sizes[cid])
            backend.write(_key("chunks", cid), blob)
            progress.update(sizes[cid], len(blob))
        for depth in range(codec.MAX_DEPTH + 1):  # a base is on the remote before its deltas
            parallel(upload, [cid for cid in needed if bases.get(cid, 0) == depth
                              and cid not in packed])
        _upload_packs(store, backend, [(layout.CHUNKS, c) for c in needed if c in packed]
                      + [(layout.MANIFESTS, m.oid) for m in manifests if m.oid in small],
                      sizes, progress)
        parallel(lambda oid: backend.write(_key("manifests", oid), store.read_manifest(oid).encode()),
                 [m.oid for m in manifests if m.oid not in small])
    finally:
        progress.close()
    known.add(m.oid for m in manifests)
    stats.objects, stats.logical = len(manifests), sum(m.size for m in manifests)
    stats.moved, stats.chunks = progress.moved, len(needed)
    return stats


def _small(manifests: list[Manifest]) -> tuple[set[str], set[str]]:
    """(oids of the small files, the chunks only small files use): what travels and is
    kept in packs. A chunk a large file shares stays loose, so that no loose manifest
    names a chunk that only a pack not yet complete holds."""
    small = {m.oid for m in manifests if m.size < PACKED_BELOW}
    return small, ({c for m in manifests if m.oid in small for c, _ in m.chunks}
                   - {c for m in manifests if m.oid not in small for c, _ in m.chunks})


def _upload_packs(store: Store, backend: Backend, keys: list[Key], sizes: dict[str, int],
                  progress: Progress) -> None:
    """Upload these objects as packs of up to PACK_LIMIT bytes, each pack before its index
    (the index makes them visible), one pack in memory at a time: the buffer it is built in
    is what is sent. The buffer is allocated once at the pack's size, known beforehand from
    the cache: grown object by object, its reallocations could leave old copies in the heap
    (which keeps blocks up to 64 MiB, store/alloc.py), and the first push of 10,000 files
    of 64 KiB peaked at 169 MB in the bench's order of steps (118 MB now; 1,000 files: 98)."""
    import xxhash

    manifests = {name: store.read_manifest(name).encode() for kind, name in keys
                 if kind == layout.MANIFESTS}
    for group in _pack_groups(keys, [len(manifests[name]) if kind == layout.MANIFESTS
                                     else store.stored_size(name) for kind, name in keys]):
        buf = bytearray(len(MAGIC) + sum(length for _, length in group))
        buf[:len(MAGIC)] = MAGIC
        entries, at = dict[Key, tuple[int, int]](), len(MAGIC)
        for (kind, name), length in group:
            blob = manifests[name] if kind == layout.MANIFESTS else store.read_encoded(name, sizes[name])
            if len(blob) != length:
                raise CorruptObject(f"chunk {name} changed while being pushed: push again")
            if kind == layout.CHUNKS:
                progress.update(sizes[name], length)
            buf[at:at + length] = blob
            entries[(kind, name)] = (at, length)
            at += length
        pack = f"pack-{xxhash.xxh3_128_hexdigest(buf)}"
        backend.write(f"packs/{pack}.pack", buf)
        backend.write(f"packs/{pack}.idx", encode_index(entries))
        del buf  # before the next one is allocated
    backend.pack_index = None  # read again when next needed: it holds these packs now


def _pack_groups(keys: list[Key], lengths: list[int]) -> Iterator[list[tuple[Key, int]]]:
    """`keys` cut into packs, MAGIC included: each closed once it holds PACK_LIMIT bytes or
    more, so none is longer than PACK_LIMIT + MAX_ENTRY (what a fetch accepts)."""
    group: list[tuple[Key, int]] = []
    total = len(MAGIC)
    for key, length in zip(keys, lengths):
        group.append((key, length))
        total += length
        if total >= PACK_LIMIT:
            yield group
            group, total = [], len(MAGIC)
    if group:
        yield group


def _bases(store: Store, sizes: dict[str, int]) -> dict[str, int]:
    """Add to `sizes` the delta bases its chunks need (a base has its delta's length);
    return the depth of every chunk that is a delta or a base (absent: 0)."""
    depths: dict[str, int] = {}
    for cid in list(sizes):
        at = cid
        while (head := store.chunk_head(at)) is not None and at not in depths:
            depths[at] = head[1]
            sizes.setdefault(head[0], sizes[at])
            at = head[0]
    return depths


def _incomplete(store: Store, backend: Backend, present: list[Pointer],
                paths: Mapping[Pointer, str]) -> set[str]:
    """Oids among `present` (their manifest is on the remote) with a chunk the remote lacks
    (or a delta base a local chunk needs).

    The chunks are those of the local manifest when the cache has the object
    whole (it is what a re-upload sends), else those of the remote's manifest;
    an object incomplete there and not in this cache cannot be repaired here.
    """
    lists: dict[str, list[str]] = {}
    for pointer in present:
        try:
            manifest = store.read_manifest(pointer.oid)
            if store.missing_chunks(manifest):
                raise MissingObject(pointer.oid)
        except (MissingObject, CorruptObject):
            manifest = _remote_manifest(backend, pointer, paths[pointer])
        lists[pointer.oid] = list(store.with_bases(c for c, _ in manifest.chunks))
    found = remote_has(backend, "chunks", {c for ids in lists.values() for c in ids})
    broken = {oid for oid, ids in lists.items() if not found.issuperset(ids)}
    for pointer in present:
        if pointer.oid in broken and not store.has_object(pointer):
            raise RemoteError(f"model remote {backend.name!r} has an incomplete copy of "
                              f"{paths[pointer]} (object {pointer.short}) and this cache "
                              "does not hold it whole: push it from a clone that does")
    return broken


def _local_manifest(store: Store, pointer: Pointer, path: str, remote: str) -> Manifest:
    try:
        manifest = store.read_manifest(pointer.oid)
    except (MissingObject, CorruptObject):
        manifest = None
    if manifest is None or store.missing_chunks(manifest):
        raise UserError(f"cannot push {path} (object {pointer.short}) to {remote!r}: it is not "
                        "whole in the local cache (git model fetch it from where it is, or "
                        "git model fsck)")
    return manifest


# -- fetch ------------------------------------------------------------------------------
def fetch(store: Store, backend: Backend, pointers: Mapping[Pointer, str],
          output: Output | None = None) -> Stats:
    """Download, verify and cache the objects of `pointers` missing from the local cache.

    A few files at a time, each one's chunks downloaded in parallel and hashed in
    order as they arrive: memory stays at OBJECT_WORKERS x NET_WORKERS chunks.
    With `output`, each file's chunks are also written where it says as they are
    hashed; a file is kept there (renamed into place) before its manifest enters the
    cache, and only when its sha256 matched: a wrong object leaves neither.
    """
    stats = Stats()
    sized = [p for p in pointers if p.size]
    # one look at the packs for all (a miss alone re-lists them: 0.45 s of 1,000 files)
    absent = store.missing_manifests(p.oid for p in sized)
    todo = [p for p in sized if p.oid in absent or not store.has_object(p)]
    stats.up_to_date = len(pointers) - len(todo)
    if not todo:
        return stats
    manifests = _remote_manifests(store, backend, todo, pointers, absent)
    sizes = {cid: size for m in manifests for cid, size in m.chunks}
    needed = {cid for cid in sizes if not store.has_chunk(cid)}
    stats.deduped = sum(sizes.values()) - sum(sizes[c] for c in needed)
    progress = Progress(f"fetch {backend.name}", sum(sizes[c] for c in needed), stats.deduped)
    # Small files' objects go to one local pack, as an add's do.
    small, packed = _small(manifests)
    spans = Spans(backend, [(layout.CHUNKS, c) for c in needed & packed]) if packed else None

    got: set[str] = set()  # needed chunks downloaded already (has_chunk: two stats each)

    def chunk(cid: str, size: int) -> bytes | bytearray:
        if cid in needed and cid not in got:
            data = _download_chunk(store, backend, cid, size, progress, cid in packed, spans)
            got.add(cid)
            return data
        return store.read_chunk(cid, size)

    by_oid = {m.oid: m for m in (_pack_order(backend, manifests) if packed else manifests)}
    workers, depth = (LOCAL_WORKERS, LOCAL_AHEAD) if backend.local else (NET_WORKERS, NET_WORKERS)
    try:
        # a fetch records no pointer: objects buffered when it is killed are only fetched again
        with store.batch(), store.deferred_writes(), \
                concurrent.futures.ThreadPoolExecutor(workers) as pool:
            def verify_and_keep(oid: str) -> bool:
                target = output(by_oid[oid]) if output is not None else None
                try:
                    with target or contextlib.nullcontext() as out:
                        # a small file's chunks come from the spans inline: handing them
                        # to the pool cost more thread switches than their reads (154k
                        # futex calls for 1,000 files)
                        ahead = pool if by_oid[oid].size >= PACKED_BELOW else None
                        if _sha256(by_oid[oid], chunk, ahead, depth, out) != oid:
                            raise _Mismatch(oid)
                except _Mismatch:
                    return False
                store.put_manifest(by_oid[oid], oid in small)
                return True
            sound = parallel(verify_and_keep, by_oid, _object_workers(backend))
    finally:
        progress.close()
    bad = [m for m in manifests if not sound[m.oid]]
    if bad:
        good_chunks = {c for m in manifests if sound[m.oid] for c, _ in m.chunks}
        _reject(store, backend, bad, needed - store.with_bases(good_chunks), pointers)
    stats.objects, stats.logical = len(manifests), sum(m.size for m in manifests)
    stats.moved, stats.chunks = progress.moved, len(needed)
    return stats


def _pack_order(backend: Backend, manifests: list[Manifest]) -> list[Manifest]:
    """`manifests` in the order the remote's packs hold their first chunks (files whose
    first chunk is loose last), so the spans read each pack front to back. A push packs
    chunks in the order it found them, not by path: fetched in the index's order, 10,000
    files of 64 KiB overflowed the spans' stash and were 9,356 reads of one chunk each."""
    where = remote_packs(backend)

    def place(manifest: Manifest) -> tuple[str, int]:
        found = where.get((layout.CHUNKS, manifest.chunks[0][0])) if manifest.chunks else None
        return (found[0], found[1]) if found else ("~", 0)  # after every pack-… name
    return sorted(manifests, key=place)


def _object_workers(backend: Backend) -> int:
    """Files fetched at once: from a directory remote nothing waits on a network, and a
    second thread only contends for the GIL, so files go one after the other in the calling
    thread (a large one's chunks still in LOCAL_WORKERS threads). A pull of 10,000 files of
    64 KiB on 2 cores: 4.7-5.1 s and 3.8-4.2 s of CPU so, 5.2-5.5 s and 4.4-4.6 s with 2
    threads (and 2.0-2.3 s of CPU against 2.7-3.0 s with 4 for 3,000 files)."""
    return 1 if backend.local else OBJECT_WORKERS


def _sha256(manifest: Manifest, chunk: Callable[[str, int], bytes | bytearray],
            pool: concurrent.futures.Executor | None, depth: int,
            out: FileOut | None = None) -> str:
    """The sha256 of the file a manifest describes, its chunks fetched up to `depth` ahead
    in `pool` or one by one without, and written to `out` when given.

    Each chunk is written at its offset by the thread that fetched it, so that this
    thread, the one that must go through the file in order, only hashes (sha256: ~0.6 s
    per GiB here): hashing and writing in turn here made it the bottleneck, the decoder
    threads idle ahead of it (the fetch of a 256 MiB clone + pull took 0.68-0.73 s that
    way, 0.42-0.44 s so, and 0.66 s of CPU instead of 0.77; measured here, loaded)."""
    sha = hashlib.sha256()
    work: Callable[..., bytes | bytearray] = chunk
    items: Iterable[tuple] = manifest.chunks
    direct = None
    if out is not None and _PWRITE:
        direct = DirectWrites.open(out.fileno(), manifest.size)  # large files (store/direct.py)
        work = functools.partial(_fetch_into, chunk, out.fileno(), direct)
        items = manifest.placed()
    try:
        with contextlib.closing(read_ahead(pool, work, items, depth)) as chunks:
            for data in chunks:
                sha.update(data)
                if out is not None and not _PWRITE:
                    out.write(data)
    finally:
        if direct is not None:  # every write has returned: read_ahead waits for them
            direct.close()
    return sha.hexdigest()


def _fetch_into(chunk: Callable[[str, int], bytes | bytearray], fd: int,
                direct: DirectWrites | None, cid: str, size: int, offset: int) -> bytes | bytearray:
    """`chunk(cid, size)`, also written to `fd` at `offset` (through `direct` when given)."""
    data = chunk(cid, size)
    if direct is not None:
        direct.pwrite(data, offset)
        return data
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done
    return data


def _remote_manifests(store: Store, backend: Backend, todo: list[Pointer],
                      paths: Mapping[Pointer, str], absent: set[str]) -> list[Manifest]:
    """Manifests for `todo`: the local one when whole and sound, else (and for the oids
    `absent` from the cache) the remote's, validated."""
    wanted = [(layout.MANIFESTS, p.oid) for p in todo if p.size < PACKED_BELOW and p.oid in absent]
    spans = Spans(backend, wanted) if wanted else None
    if spans is not None:  # read in pack order (see `_pack_order`)
        where = remote_packs(backend)
        todo = sorted(todo, key=lambda p: where.get((layout.MANIFESTS, p.oid), ("~", 0))[:2])
    by_oid = {p.oid: p for p in todo}

    def get(oid: str) -> Manifest:
        pointer = by_oid[oid]
        if oid not in absent:
            with contextlib.suppress(MissingObject, CorruptObject):
                return store.read_manifest(oid)
        return _remote_manifest(backend, pointer, paths[pointer], spans)
    found = parallel(get, by_oid, 1 if backend.local else 0)  # local: threads only contend
    return [found[p.oid] for p in todo]


def _remote_manifest(backend: Backend, pointer: Pointer, path: str,
                     spans: Spans | None = None) -> Manifest:
    """The remote's manifest for `pointer`, validated (its size against the pointer's)."""
    data = _read_packed(backend, (layout.MANIFESTS, pointer.oid), MAX_MANIFEST, spans)
    if data is None:
        data = backend.read(_key("manifests", pointer.oid), MAX_MANIFEST)
    if data is None:
        raise RemoteError(f"model remote {backend.name!r} does not have {path} "
                          f"(object {pointer.short}): was it pushed?")
    try:
        manifest = Manifest.decode(pointer.oid, data)
    except CorruptObject as exc:
        raise RemoteError(f"model remote {backend.name!r} sent a bad manifest for "
                          f"{path}: {exc}; nothing was kept") from None
    if manifest.size != pointer.size:
        raise RemoteError(f"model remote {backend.name!r} sent a manifest of the wrong size "
                          f"for {path}; nothing was kept")
    return manifest


def _download_chunk(store: Store, backend: Backend, cid: str, size: int, progress: Progress,
                    packed: bool, spans: Spans | None = None,
                    below: int = codec.MAX_DEPTH + 1) -> bytes | bytearray:
    """Download a chunk, and first the delta base it needs if the cache lacks it; a
    base must sit lower in its chain (`below`), so a hostile remote cannot loop us.
    A loose chunk of a directory remote is hard-linked into the cache when it can be
    (`Store.link_encoded`), verified the same way."""
    linked = None
    if not packed and (source := backend.local_file(_key("chunks", cid))) is not None:
        linked = store.link_encoded(source, codec.max_encoded(size))
    try:
        return _keep_chunk(store, backend, cid, size, progress, packed, spans, below, linked)
    finally:
        if linked is not None:
            linked[0].unlink(missing_ok=True)


def _keep_chunk(store: Store, backend: Backend, cid: str, size: int, progress: Progress,
                packed: bool, spans: Spans | None, below: int,
                linked: tuple[Path, bytes] | None) -> bytes | bytearray:
    blob = linked[1] if linked is not None else \
        _read_packed(backend, (layout.CHUNKS, cid), codec.max_encoded(size), spans)
    if blob is None:
        blob = backend.read(_key("chunks", cid), codec.max_encoded(size))
    if blob is None:
        raise RemoteError(f"model remote {backend.name!r} is missing chunk {cid} (an "
                          "interrupted push? push again from a clone that has the object)")
    try:
        head = codec.delta_base(blob)
        if head is not None and head[1] >= below:
            raise CorruptObject(f"chunk {cid} has a delta chain that does not descend")
        if head is not None and not store.has_chunk(head[0]):
            _download_chunk(store, backend, head[0], size, progress, packed, spans, head[1])
        data = store.put_encoded(cid, size, blob, packed,
                                 linked[0] if linked is not None else None)
    except codec.CorruptChunk as exc:
        raise RemoteError(f"model remote {backend.name!r} sent a damaged chunk {cid}: {exc}; "
                          "it was not kept") from None
    except CorruptObject as exc:
        raise RemoteError(f"model remote {backend.name!r} sent a damaged object: {exc}; "
                          "it was not kept") from None
    progress.update(size, len(blob))
    return data


def _reject(store: Store, backend: Backend, bad: list[Manifest], brought: set[str],
            paths: Mapping[Pointer, str]) -> None:
    """Files whose sha256 failed: their chunks match their ids but not the file. Delete
    the ones this fetch brought that no sound file uses, and say which remote lied."""
    for cid in {c for m in bad for c, _ in m.chunks} & brought:
        store.chunk_path(cid).unlink(missing_ok=True)
    first = bad[0].pointer
    raise RemoteError(f"model remote {backend.name!r} sent content for {paths[first]} that does "
                      f"not match its sha256 (object {first.short}"
                      + (f", and {len(bad) - 1} more" if len(bad) > 1 else "")
                      + "); it was not kept")
