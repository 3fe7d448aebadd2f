"""Blobs whose objects are settled for a remote: in the cache here, known to be there.

`git model status` checks every model file of the index: that its pointer's object is
cached and that the default remote is known to hold it. At 10,000 files those look-ups
(each blob's pointer, the packs' indexes, the remote's record) were ~60 ms of a 0.11 s
status, paid again by the first status after any change. A blob, once settled, stays so
until an object leaves the cache or the remote is found without one, and neither goes
unseen:

- objects leave the cache only through gc, prune and fsck's quarantine (or by hand): a
  pack is then removed or rewritten under a new name, or a loose manifest is gone. The
  record names the packs there when it was made (each must still be there) and, for a
  blob whose manifest was loose, its oid (that file is looked for at every read);
- what this clone knows the remote holds only grows, but when a push finds objects
  missing (`Known.forget`, counted): the count must not have moved.

Both are read before the facts the record is made of, so a change in between makes the
record invalid, never wrong. `status` then compares the index's blob ids with the
record's (set operations in C, ~2 ms at 10,000) and looks up only the others; a push
records the blobs it settled (it just read their objects from the cache and put or found
them on the remote), so the status after it looks nothing up.

One text file per remote URL in the model dir, written whole and renamed into place (a
lost update costs speed only):

    gitmodel-settled 1
    <the remote's URL, redacted as the remote's record keeps it>
    <forgets>
    <pack names, space separated>
    <count of loose lines>
    <blob> <oid>          a blob whose manifest was loose, with its object id
    <blob>                one line per blob whose manifest was packed
"""
from __future__ import annotations

import contextlib
import sqlite3

from gitmodel.git.repo import Repo
from gitmodel.store.atomic import write_file
from gitmodel.store.objects import Store
from gitmodel.store.packs import listing
from gitmodel.store.pointer import is_lower_hex, is_oid
from gitmodel.transfer.remotes import redact, url_digest

MAGIC = "gitmodel-settled 1"
KEEP_RATIO = 4  # a record larger than this times the index's model files keeps only those


class Settled:
    """The record of one remote, read with the facts it must agree with (taken now)."""

    def __init__(self, repo: Repo, store: Store, url: str) -> None:
        from gitmodel.transfer.engine import Known
        self.store = store
        self.path = repo.model_dir / f"settled-{url_digest(url)}"
        try:
            known = Known(repo.model_dir, url, read_only=True)
        except sqlite3.Error:
            self.forgets = 0
        else:
            try:
                self.forgets = known.forgets()
            finally:
                known.close()
        self.url = redact(url)  # as the remote's record keys it
        names = [e.name for e in listing(store.packs.dir)]  # a pack counts with its index
        self.packs = {n[:-4] for n in names if n.endswith(".idx")} & {n[:-5] for n in names if n.endswith(".pack")}
        self.packed: set[str] = set()  # blobs whose manifest was packed
        self.loose: dict[str, str] = {}  # blob -> oid, of those whose manifest was loose
        self._load()

    def _load(self) -> None:
        """What a record made under the same facts holds; nothing from any other, or from
        one that does not parse (it is only a hint)."""
        try:
            lines = self.path.read_text(encoding="ascii").split("\n")
            if lines[:3] != [MAGIC, self.url, str(self.forgets)] or lines[-1] != "":
                return
            if not set(lines[3].split()) <= self.packs:
                return  # a pack it counted on is gone (gc, fsck, by hand)
            count = int(lines[4])
            loose = [line.split(" ") for line in lines[5:5 + count]]
            packed = lines[5 + count:-1]
        except (OSError, ValueError, IndexError):
            return
        if (all(len(pair) == 2 and is_oid(pair[1]) for pair in loose)
                and set(map(len, packed)) <= {40, 64} and is_lower_hex("".join(packed))):
            self.packed, self.loose = set(packed), {pair[0]: pair[1] for pair in loose}

    def among(self, blobs: set[str]) -> set[str]:
        """Those of `blobs` settled: recorded, and a loose manifest still there."""
        loose = {blob for blob in blobs & self.loose.keys()
                 if self.store.manifest_path(self.loose[blob]).exists()}
        return (blobs & self.packed) | loose

    def save(self, new: dict[str, str], listed: set[str]) -> None:
        """Record `new` (blob -> oid when its manifest is loose, else "") besides what was
        recorded (only the `listed` blobs of it when it grew past KEEP_RATIO times them)."""
        packed, loose = self.packed, self.loose
        if len(packed) + len(loose) > KEEP_RATIO * max(len(listed), 1):
            packed, loose = packed & listed, {b: oid for b, oid in loose.items() if b in listed}
        loose = {**loose, **{blob: oid for blob, oid in new.items() if oid}}
        packed = (packed | {blob for blob, oid in new.items() if not oid}) - loose.keys()
        text = "".join([f"{MAGIC}\n{self.url}\n{self.forgets}\n{' '.join(sorted(self.packs))}\n"
                        f"{len(loose)}\n", *(f"{b} {oid}\n" for b, oid in loose.items()),
                        *(f"{b}\n" for b in packed)])
        with contextlib.suppress(OSError):
            write_file(self.path, text.encode("ascii"), tmp_dir=self.store.tmp_dir)
