"""Settling git's index after a checkout, so `git status` never re-cleans a model.

Git writes a checked-out file and then the index in the same second, and an
entry whose mtime is not older than the index file is "racily clean"
(Documentation/technical/racy-git.txt): git cannot trust its stat data and
re-runs the clean filter on it at the next `git status` and before the next
checkout overwrites it. For a 1 GiB model that is a full pass through the
filter pipe each time; git-lfs pays a full re-hash (13 s here).

After a checkout we check each racily clean model file ourselves, reading it
straight from disk and comparing its chunk ids with the manifest git just
smudged from (xxh3, no pipe, no sha256). A file that matches gets its mtime
set one second before the index and its index entry the new stat data; every
other racy entry gets its size zeroed, which is exactly what git does to such
entries so that it compares their content next time. The index is rewritten
through `index.lock` like git does it (taken before the index is read), byte
for byte the same but for those fields and the checksum. Split indexes are left alone.
"""
from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

R = TypeVar("R")

_STAT = struct.Struct(">10I")  # ctime s, ns, mtime s, ns, dev, ino, mode, uid, gid, size
_FLAGS = struct.Struct(">H")
_WORD = struct.Struct(">I")
_EXTENDED = 0x4000
_NAME_MASK = 0xFFF


class Unsupported(Exception):
    """An index this module does not rewrite (unknown version, split index)."""


@dataclass
class RawEntry:
    offset: int
    path: str
    stat: tuple[int, ...]
    oid: bytes  # the blob's id (for a model file: its pointer's)

    @property
    def mtime_sec(self) -> int:
        return self.stat[2]


def parse(data: bytes, hash_len: int,
          keep: Callable[[bytes, int, int], bool] | None = None) -> list[RawEntry]:
    """The entries of an index file (versions 2 to 4), with their offsets; with `keep`, only
    those for which `keep(path as bytes, mtime's seconds, size)` holds. A settle after a
    checkout wants the few racy entries of 10,000: 3 ms, where making every entry took 12."""
    if data[:4] != b"DIRC":
        raise Unsupported("not an index file")
    version, count = struct.unpack_from(">II", data, 4)
    if version not in (2, 3, 4):
        raise Unsupported(f"index version {version}")
    entries, pos, previous = [], 12, b""
    fixed = _STAT.size + hash_len + 2
    find = data.index
    for _ in range(count):
        (flags,) = _FLAGS.unpack_from(data, pos + fixed - 2)
        name_at = pos + fixed + (2 if version >= 3 and flags & _EXTENDED else 0)
        if version == 4:
            strip, name_at = _varint(data, name_at)
            end = find(b"\0", name_at)
            name = previous[:len(previous) - strip] + data[name_at:end]
            next_pos = end + 1
        else:
            length = flags & _NAME_MASK  # the name's length, unless it is that long or longer
            end = name_at + length if length < _NAME_MASK else find(b"\0", name_at)
            name = data[name_at:end]
            next_pos = pos + ((end - pos + 8) & ~7)
        if keep is None or keep(name, _WORD.unpack_from(data, pos + 8)[0],
                                _WORD.unpack_from(data, pos + 36)[0]):
            entries.append(RawEntry(pos, name.decode("utf-8", "surrogateescape"),
                                    _STAT.unpack_from(data, pos),
                                    data[pos + _STAT.size:pos + _STAT.size + hash_len]))
        previous, pos = name, next_pos
    _check_extensions(data, pos, hash_len)
    return entries


def recorded_below(index_path: Path, hash_len: int, limit: int) -> set[str]:
    """Paths whose index stat data give a size under `limit` (0, git's mark of a racy
    entry, included): the only entries whose working file can be a pointer git wrote.
    Parsing with that filter costs ~4 ms at 10,000 entries (git processes that read every
    blob far more)."""
    data = index_path.read_bytes()
    if data[:4] != b"DIRC" or struct.unpack_from(">I", data, 4)[0] not in (2, 3):
        return {e.path for e in parse(data, hash_len, lambda _, __, size: size < limit)}
    return _below_v2(data, hash_len, limit)


def _below_v2(data: bytes, hash_len: int, limit: int) -> set[str]:
    """`recorded_below` of a version 2 or 3 index: each entry's size and flags in one unpack,
    its name sliced only when kept (10,000 entries: ~4 ms, where `parse` with a filter took
    10-13 of a 70 ms status)."""
    count = struct.unpack_from(">I", data, 8)[0]
    fields = struct.Struct(f">36xI{hash_len}xH").unpack_from
    fixed = _STAT.size + hash_len + 2
    found, pos = set(), 12
    for _ in range(count):
        size, flags = fields(data, pos)
        name_at = pos + fixed + (2 if flags & _EXTENDED else 0)
        length = flags & _NAME_MASK
        end = name_at + length if length < _NAME_MASK else data.index(b"\0", name_at)
        if size < limit:
            found.add(data[name_at:end].decode("utf-8", "surrogateescape"))
        pos += (end - pos + 8) & ~7
    _check_extensions(data, pos, hash_len)
    return found


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """git's offset varint (varint.c)."""
    byte = data[pos]
    value, pos = byte & 127, pos + 1
    while byte & 128:
        byte = data[pos]
        value, pos = ((value + 1) << 7) + (byte & 127), pos + 1
    return value, pos


def _check_extensions(data: bytes, pos: int, hash_len: int) -> None:
    while pos + 8 <= len(data) - hash_len:
        signature, size = data[pos:pos + 4], struct.unpack_from(">I", data, pos + 4)[0]
        if signature == b"link":
            raise Unsupported("split index")
        pos += 8 + size


def _same_file(entry: RawEntry, st: os.stat_result) -> bool:
    """The index's recorded stat (32-bit fields, as git stores them) matches `st`."""
    mask = 0xFFFFFFFF
    now = (st.st_ctime_ns // 10**9, st.st_ctime_ns % 10**9, st.st_mtime_ns // 10**9,
           st.st_mtime_ns % 10**9, st.st_dev & mask, st.st_ino & mask, st.st_size & mask)
    recorded = entry.stat[:6] + (entry.stat[9],)
    return all((a & mask) == (b & mask) for a, b in zip(recorded, now))


def settle(index_path: Path, top: Path, hash_len: int,
           confirm: Callable[[list[RawEntry]], set[str]], written: frozenset[str] = frozenset()) -> int:
    """Rewrite racy entries, and those of files we just `written`; return how many were settled.

    `confirm(entries)` gets the racy entries whose stat still matches the file and
    returns the paths of those it verified, by content, to be the model the index records.
    Files in `written` were just written by us from verified objects in place
    of their pointer files: the index entry already names their content, only
    its stat data is the pointer file's.

    `index.lock` is taken before the index is read and held until the new index
    replaces it, as git does: a git command that wrote the index between our read
    and our write would otherwise lose its change (issue 10). A git command that
    starts meanwhile finds the lock and says so, as with any other git process.
    """
    def busy() -> int:
        raise Unsupported("the index is locked by another git process")
    return _rewrite(index_path, hash_len, busy,
                    lambda: _settled(index_path, top, hash_len, confirm, written))


def _rewrite(index_path: Path, hash_len: int, busy: Callable[[], R],
             build: Callable[[], tuple[R, bytearray | None]]) -> R:
    """`build()`'s result, run under `index.lock`; the new index it returns (None: no
    change) replaces the old one. `busy()` answers when another process holds the lock."""
    lock = index_path.with_name(index_path.name + ".lock")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return busy()
    try:
        with os.fdopen(fd, "wb") as handle:
            result, data = build()
            if data is None:
                lock.unlink()
                return result
            handle.write(_with_checksum(data, hash_len))
        os.replace(lock, index_path)
        return result
    except BaseException:
        lock.unlink(missing_ok=True)
        raise


def restamp(index_path: Path, top: Path, hash_len: int,
            linked: dict[str, tuple[os.stat_result, os.stat_result]]) -> set[str]:
    """Record the new ctime of files hard-linked after git read them (filter/whole.py):
    `linked` maps a path to its stat data before the link and after it. An entry is
    changed only while it records the first (git's stat before it read the file) and
    the file still has the second, so nothing but our link happened since git read it;
    others are left for git to re-check. Returns the paths changed. Under `index.lock`,
    as `settle`."""
    def build() -> tuple[set[str], bytearray | None]:
        data = bytearray(index_path.read_bytes())
        done = set()
        wanted = {p.encode("utf-8", "surrogateescape") for p in linked}
        for entry in parse(bytes(data), hash_len, lambda name, _, __: name in wanted):
            before, after = linked.get(entry.path, (None, None))
            now = _stat(top / entry.path)
            if before and after and now and _same_file(entry, before) and _same_stat(now, after):
                struct.pack_into(">2I", data, entry.offset, now.st_ctime_ns // 10**9,
                                 now.st_ctime_ns % 10**9)
                done.add(entry.path)
        return done, (data if done else None)
    return _rewrite(index_path, hash_len, set, build)  # locked: git re-checks them itself


def _same_stat(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ctime_ns, a.st_ino, a.st_dev) \
        == (b.st_size, b.st_mtime_ns, b.st_ctime_ns, b.st_ino, b.st_dev)


def _settled(index_path: Path, top: Path, hash_len: int, confirm: Callable[[list[RawEntry]], set[str]],
             written: frozenset[str]) -> tuple[int, bytearray | None]:
    """(entries settled, the new index), read under the lock; None when nothing changes
    (and when there is no index: a clone of an empty repository has none)."""
    try:
        since = int(os.stat(index_path).st_mtime)
    except FileNotFoundError:
        return 0, None
    data = bytearray(index_path.read_bytes())
    ours = {p.encode("utf-8", "surrogateescape") for p in written}
    racy = parse(bytes(data), hash_len, lambda name, mtime, _: mtime >= since or name in ours)
    if not racy:
        return 0, None
    stats = {e.path: st for e in racy if (st := _stat(top / e.path))
             and (e.path in written or _same_file(e, st))}
    unsure = sorted({e.path: e for e in racy if e.path in stats and e.path not in written}.values(),
                    key=lambda e: e.path)
    settled = (confirm(unsure) if unsure else set()) | (written & stats.keys())
    before = int(time.time()) - 1
    for entry in racy:
        if entry.path in settled:
            _settle_file(top / entry.path, stats[entry.path], entry, data, before)
        else:
            struct.pack_into(">I", data, entry.offset + 36, 0)  # git's "smudge" of racy entries
    return len(settled), data


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _settle_file(path: Path, st: os.stat_result, entry: RawEntry, data: bytearray,
                 before: int) -> None:
    """Record the file's stat data, dated one second before the index we write when it is
    not older already (a file of an earlier second is not racy: a pull of 10,000 files,
    most written seconds before this, spent 0.4 s re-dating and re-reading them)."""
    if st.st_mtime_ns // 10**9 > before:
        os.utime(path, ns=(st.st_atime_ns, before * 10**9 + st.st_mtime_ns % 10**9))
        st = os.stat(path)
    mask = 0xFFFFFFFF
    struct.pack_into(">6I", data, entry.offset, st.st_ctime_ns // 10**9, st.st_ctime_ns % 10**9,
                     st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9, st.st_dev & mask,
                     st.st_ino & mask)
    struct.pack_into(">3I", data, entry.offset + 28, st.st_uid & mask, st.st_gid & mask,
                     st.st_size & mask)


def _with_checksum(data: bytearray, hash_len: int) -> bytearray:
    """DATA with its trailing checksum recomputed (an all-zero trailer means index.skipHash)."""
    if any(data[-hash_len:]):
        import hashlib  # only when an index is rewritten: not on every filter's start
        algorithm = hashlib.sha1 if hash_len == 20 else hashlib.sha256
        data[-hash_len:] = algorithm(bytes(data[:-hash_len])).digest()
    return data
