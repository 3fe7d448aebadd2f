"""Pointer blobs already read, by blob id, so that status does not read them again.

A blob never changes, so once a blob has been read and found to be a pointer its text
is known for good. `git model status` looks at every model file's pointer; at 10,000
files the `cat-file` passes that read them took 0.4 s of a 1.2 s status, the lookup
here ~30 ms. Only pointers go in (a pointer is ~130 bytes: 10,000 of them are ~2 MB).
What comes out is parsed again before use like any blob, and a cache that cannot be
opened or written (read-only, full disk) is switched off: it costs speed, not results.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable

from gitmodel.store.hintdb import open_hint_db

_BATCH = 500  # below SQLite's limit on bound parameters
# Many ids and a table not much larger: one scan of the table (6 ms at 10,000 rows) beats
# looking each id up (26 ms); a table larger than _SCAN_RATIO times the ids is looked up.
_SCAN_FROM, _SCAN_RATIO = 256, 4
_SCHEMA = "CREATE TABLE IF NOT EXISTS blob (id TEXT PRIMARY KEY, text BLOB NOT NULL) WITHOUT ROWID"


class PointerBlobs:
    """blob id -> pointer text, in SQLite under the model dir."""

    def __init__(self, path: Path) -> None:
        self._db: sqlite3.Connection | None = None
        if path.parent.is_dir():  # no model dir yet (a bare or fresh repository): nothing to remember
            self._db = open_hint_db(path, _SCHEMA)

    def _off(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db = None

    def get(self, ids: Iterable[str]) -> dict[str, bytes]:
        ids = list(ids)
        found: dict[str, bytes] = {}
        if len(ids) >= _SCAN_FROM and self._db is not None:
            try:
                table = self._db.execute("SELECT id, text FROM blob LIMIT ?",
                                        (_SCAN_RATIO * len(ids) + 1,)).fetchall()
            except sqlite3.Error:
                self._off()
                return found
            if len(table) <= _SCAN_RATIO * len(ids):  # the whole table: no lookup left to do
                wanted = set(ids)
                return {row[0]: bytes(row[1]) for row in table if row[0] in wanted}
        try:
            for start in range(0, len(ids) if self._db else 0, _BATCH):
                part = ids[start:start + _BATCH]
                assert self._db is not None
                rows = self._db.execute("SELECT id, text FROM blob WHERE id IN "
                                        f"({','.join('?' * len(part))})", part)
                found.update((row[0], bytes(row[1])) for row in rows)
        except sqlite3.Error:
            self._off()
        return found

    def put(self, blobs: dict[str, bytes]) -> None:
        if self._db is None or not blobs:
            return
        try:
            with self._db:  # one transaction, not one per row (autocommit)
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR IGNORE INTO blob VALUES (?, ?)", blobs.items())
        except sqlite3.Error:
            self._off()

    def close(self) -> None:
        self._off()
