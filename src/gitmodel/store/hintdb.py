"""SQLite for caches that are only hints (the stat cache, remembered pointer blobs).

WAL and NORMAL sync: a row lost in a crash is found again the slow way, so no fsync per
write. A database that cannot be opened (a read-only or shared cache, a full disk) gives
None, and the caller runs without it: that costs speed, never a result.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path


def open_hint_db(path: Path, schema: str) -> sqlite3.Connection | None:
    """The database at PATH with SCHEMA in place, or None when it cannot be had."""
    db = None
    try:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(schema)
        return db
    except (sqlite3.Error, OSError):
        if db is not None:
            db.close()
        return None
