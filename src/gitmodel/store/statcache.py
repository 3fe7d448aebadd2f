"""The stat cache: which object a working-tree file held when we last saw it.

Git re-runs the clean filter whenever its index stat data is stale (after a
checkout, a touch, a racily clean entry). Git pipes the whole file to us every
time, so reading it is unavoidable; hashing it with sha256 and compressing it
again is not. When a path's stat matches what we recorded when we cleaned it or
smudged it, its manifest is handed to `Store.add_stream` as the expected
content, and the stream is only compared chunk id by chunk id (xxh3, 10 GB/s).

An entry is a hint, never trusted blindly: a file rewritten within one
timestamp tick keeps its size and mtime ("racy git"), and the comparison of
chunk ids is what catches it. So the cache cannot make us commit a wrong model.
"""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from gitmodel.store.hintdb import open_hint_db

_SCHEMA = """CREATE TABLE IF NOT EXISTS stat (
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,
    mtime_ns INTEGER, ctime_ns INTEGER, oid TEXT NOT NULL)"""


def _key(st: os.stat_result | None) -> tuple:
    if st is None:
        return (None,) * 5
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class StatCache:
    """path -> (stat, oid), in SQLite so concurrent git processes can share it.

    Only a hint: when the database cannot be opened or written (a read-only
    cache, a shared one without write access, a full disk), it is switched off
    for this process and every lookup misses, which costs speed, never a result.
    """

    FLUSH_EVERY = 500  # records, or FLUSH_AFTER seconds, whichever comes first
    FLUSH_AFTER = 0.5
    # A query per file was ~25 us, reading a row of the whole table ~1.4 us: after 64
    # lookups, and again each time they double, the table is read whole if it has at most
    # ROWS_PER_LOOKUP rows per lookup so far and READ_WHOLE rows in all (~30 MB in memory).
    # A change of 100 files of 10,000 keeps querying (2.5 ms, where the table took 14 ms);
    # an add of them all reads it at the 1,024th lookup.
    LOOKUPS_BEFORE_WHOLE = 64
    ROWS_PER_LOOKUP = 16
    READ_WHOLE = 100_000

    def __init__(self, path: Path) -> None:
        self._db: sqlite3.Connection | None = None
        self._pending: dict[str, tuple] = {}  # path -> row, not yet written
        self._read: dict[str, tuple] = {}  # path -> row as `expected_oid` found it in the database
        self._since = 0.0
        self._lookups = 0
        self._rows: dict[str, tuple] | None = None  # path -> row without the path, when read whole
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        self._db = open_hint_db(path, _SCHEMA)

    def _off(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db = None

    def expected_oid(self, path: str, st: os.stat_result | None) -> str | None:
        """The oid recorded for `path`, if its stat still matches (or was unknown).

        An entry recorded at smudge time has no stat (git writes the file after
        we return), and is used as long as no later stat replaces it.
        """
        found = self.lookup(path, st)
        return None if found is None else found[0]

    def lookup(self, path: str, st: os.stat_result | None) -> tuple[str, bool] | None:
        """`expected_oid`'s oid, and whether the whole stat data matched (False for an
        entry recorded at smudge time, whose file may have been changed since)."""
        if self._db is None:
            return None
        pending = self._pending.get(path)
        try:
            row = pending[1:] if pending else self._row(path)
        except sqlite3.Error:
            self._off()
            return None
        if row is None:
            return None
        if not pending:
            self._read[path] = tuple(row)
        if row[0] is None:
            return row[5], False
        if tuple(row[:5]) == _key(st):
            return row[5], True
        return None

    def _row(self, path: str) -> tuple | None:
        """The stored row of `path` (without the path), from the table read whole once
        this process has looked up more than LOOKUPS_BEFORE_WHOLE paths."""
        assert self._db is not None
        if self._rows is None:
            self._lookups += 1
            if self._lookups <= self.LOOKUPS_BEFORE_WHOLE or not self._read_whole():
                return self._db.execute(
                    "SELECT dev, ino, size, mtime_ns, ctime_ns, oid FROM stat WHERE path = ?",
                    (path,)).fetchone()
        assert self._rows is not None
        return self._rows.get(path)

    def _read_whole(self) -> bool:
        assert self._db is not None
        asked = self._lookups - 1
        if asked & (asked - 1):
            return False  # counted again only when the lookups have doubled
        (count,) = self._db.execute("SELECT COUNT(*) FROM stat").fetchone()
        if count > min(self.READ_WHOLE, self.ROWS_PER_LOOKUP * asked):
            return False
        self._rows = {row[0]: row[1:] for row in self._db.execute(
            "SELECT path, dev, ino, size, mtime_ns, ctime_ns, oid FROM stat")}
        return True

    def last_oid(self, path: str) -> str | None:
        """The oid last recorded for `path`, whatever its stat: the version a changed
        file replaces, whose tensor pieces are delta bases for the new one."""
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT oid FROM stat WHERE path = ?", (path,)).fetchone()
        except sqlite3.Error:
            self._off()
            return None
        return None if row is None else row[0]

    def record(self, path: str, st: os.stat_result | None, oid: str) -> None:
        """Remember `path`; written in batches (one transaction per FLUSH_EVERY records or
        FLUSH_AFTER seconds, and at close): a transaction per file was 2,000 commits for a
        `git add` of 1,000 files. The write lock is held only while a batch is written, so
        concurrent git processes never wait on an idle filter."""
        if self._db is None:
            return
        row = (path, *_key(st), oid)
        if self._read.pop(path, None) == row[1:] and path not in self._pending:
            return  # as stored (a re-clean of an unchanged file): no write, no transaction
        if not self._pending:
            self._since = time.monotonic()
        self._pending[path] = row
        if len(self._pending) >= self.FLUSH_EVERY or time.monotonic() - self._since > self.FLUSH_AFTER:
            self.flush()

    def flush(self) -> None:
        rows, self._pending = list(self._pending.values()), {}
        if self._db is None or not rows:
            return
        if self._rows is not None:
            self._rows.update((row[0], row[1:]) for row in rows)
        try:
            with self._db:  # one transaction
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     rows)
        except sqlite3.Error:
            self._off()

    def close(self) -> None:
        self.flush()
        self._off()
