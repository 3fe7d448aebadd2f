"""Which objects a push may take as on the remote without asking again (issues 10 and 17).

A push asked the remote for the manifest of every object it pushes, every time, since a
remote can lose objects (issue 10, item 10): `git model push` of 10,000 files with nothing
new listed 256 folders (S3: 256 requests). Here the remote carries a generation token, the
file `generation` at its root (32 hex digits), which every push that uploads rewrites, and
this clone remembers the token it last wrote or found and when it last saw each manifest
there (uploaded or found). A manifest seen less than RECENT seconds ago, on a remote whose
token is still the one remembered, is not asked for again: one read instead of the listings.

What still gets asked for: everything on a wiped remote (no token), on one restored from a
backup or written by another clone since (another token: all remembered times are dropped),
every object whose last check is older than RECENT (lifecycle rules expire by the day), and
everything with `push --verify`. A commit whose every object was seen there is remembered
too, as of its oldest object's check (`commit_seen`): `git model push` of it again answers
from that one row, without listing the commit's 10,000 pointers (0.08 s of a 0.25 s no-op
push). Not caught: objects deleted by hand from a remote, leaving its token, within RECENT
of a check (`push --verify` finds them).
"""
from __future__ import annotations

import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Iterable

from gitmodel.store.hintdb import open_hint_db
from gitmodel.transfer.remotes import Backend, redact
from gitmodel.units import plural

RECENT = 3600.0  # seconds a seen manifest is taken as still there (on an unchanged remote)
TOKEN_KEY = "generation"
_TOKEN_RE = re.compile(r"[0-9a-f]{32}")
_SCHEMA = ("CREATE TABLE IF NOT EXISTS seen (url TEXT, oid TEXT, at REAL, "
           "PRIMARY KEY (url, oid)) WITHOUT ROWID")


def up_to_date_line(verb: str, remote: str, count: int) -> str:
    """What a push or fetch that moved nothing prints (also answered from `Recent` alone)."""
    return f"{verb}: nothing to transfer ({plural(count, 'object')} up to date on {remote!r})"


class Recent:
    """The remote's token as read now, and this clone's record of what it saw there."""

    def __init__(self, model_dir: Path, backend: Backend) -> None:
        self.backend = backend
        self.url = redact(backend.remote.url)
        raw = backend.read(TOKEN_KEY, 64)
        text = raw.decode("ascii", "replace").strip() if raw is not None else ""
        self.token = text if _TOKEN_RE.fullmatch(text) else None  # anything else: none there
        self._db = open_hint_db(model_dir / "remotes.sqlite", _SCHEMA)  # beside `Known`
        if self._db is not None:
            self._try("CREATE TABLE IF NOT EXISTS token (url TEXT PRIMARY KEY, token TEXT)")
            self._try("CREATE TABLE IF NOT EXISTS pushed (url TEXT, rev TEXT, objects INTEGER, "
                      "at REAL, PRIMARY KEY (url, rev)) WITHOUT ROWID")
        self._times: dict[str, float] = {}  # oid -> when `seen` last found it there

    def _try(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Run SQL; a database that fails is switched off (every object is asked for)."""
        if self._db is None:
            return []
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error:
            self.close()
            return []

    def _remembered(self) -> str | None:
        rows = self._try("SELECT token FROM token WHERE url = ?", (self.url,))
        return rows[0][0] if rows else None

    def seen(self, oids: Iterable[str]) -> set[str]:
        """Those of `oids` seen on this remote less than RECENT ago, its token unchanged."""
        if self.token is None or self._remembered() != self.token:
            return set()
        wanted = set(oids)
        rows = self._try("SELECT oid, at FROM seen WHERE url = ? AND at > ?",
                         (self.url, time.time() - RECENT))
        self._times = {oid: at for oid, at in rows if oid in wanted}
        return set(self._times)

    def commit_seen(self, commit: str) -> int | None:
        """The number of objects of `commit` when every one of them was seen on this remote
        less than RECENT ago, its token unchanged (`commit_checked`); else None."""
        if self.token is None or self._remembered() != self.token:
            return None
        rows = self._try("SELECT objects FROM pushed WHERE url = ? AND rev = ? AND at > ?",
                         (self.url, commit, time.time() - RECENT))
        return int(rows[0][0]) if rows else None

    def commit_checked(self, commits: Iterable[str], oids: Iterable[str]) -> None:
        """After `checked`: `commits` reference exactly `oids`, each now on the remote, as of
        the oldest time one of them was seen there (a commit expires with its oldest object)."""
        wanted = set(oids)
        at = min((self._times.get(oid, time.time()) for oid in wanted), default=time.time())
        rows = [(self.url, commit, len(wanted), at) for commit in commits]
        if self._db is None:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                # the expired rows go: one row per commit pushed, not kept forever
                self._db.execute("DELETE FROM pushed WHERE url = ? AND at <= ?",
                                 (self.url, time.time() - RECENT))
                self._db.executemany("INSERT OR REPLACE INTO pushed VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error:
            self.close()

    def checked(self, oids: Iterable[str], uploaded: bool) -> None:
        """After a push that made sure every one of `oids` is on the remote: remember that,
        under a new token when this push uploaded (or found none), else the one it read.
        A token other than the remembered one drops every time remembered before it."""
        token = self.token
        if uploaded or token is None:
            token = uuid.uuid4().hex
            self.backend.write(TOKEN_KEY, token.encode())
        same = self._remembered() == self.token is not None
        if self._db is None:
            return
        now = time.time()
        try:
            with self._db:
                self._db.execute("BEGIN")
                if not same:
                    self._db.execute("DELETE FROM seen WHERE url = ?", (self.url,))
                    self._db.execute("DELETE FROM pushed WHERE url = ?", (self.url,))
                self._db.executemany("INSERT OR REPLACE INTO seen VALUES (?, ?, ?)",
                                     [(self.url, oid, now) for oid in oids])
                self._db.execute("INSERT OR REPLACE INTO token VALUES (?, ?)", (self.url, token))
        except sqlite3.Error:
            self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db = None
