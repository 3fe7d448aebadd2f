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

The record also names the index listing (statuscache.listing_digest) it found settled
whole, when it did: every model file of that listing was a settled pointer. A status
whose listing has that digest then parses neither the listing nor the record's blobs: at
10,000 files, the first status after a push took 25.6 ms in its own process, now 18.2
(the listing's parse was 2.5, the record's 1.6, the set operations 0.7); by the clock,
with Python's start, ~40 -> ~32 ms at 1,000 files, ~65 -> ~48 ms at 10,000. A push pays
~10 ms for it (one ls-files and its parse).

One text file per remote URL in the model dir, written whole and renamed into place (a
lost update costs speed only):

    gitmodel-settled 2
    <the remote's URL, redacted as the remote's record keeps it>
    <forgets>
    <pack names, space separated>
    <the listing digest found settled whole, or ->
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

MAGIC = "gitmodel-settled 2"
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
        self.listing = "-"  # the listing digest found settled whole
        self.loose: dict[str, str] = {}  # blob -> oid, of those whose manifest was loose
        self._packed: set[str] | None = set()  # blobs whose manifest was packed; None: unread
        self._rest = ""  # their lines, read when first asked for
        self._load()

    def _load(self) -> None:
        """The header and loose lines of a record made under the same facts; its packed
        lines are split only when asked for (`packed`). Nothing from any other record, or
        from one that does not parse (it is only a hint)."""
        try:
            text = self.path.read_text(encoding="ascii")
            head = text.split("\n", 6)
            if head[:3] != [MAGIC, self.url, str(self.forgets)] or not text.endswith("\n"):
                return
            if not set(head[3].split()) <= self.packs:
                return  # a pack it counted on is gone (gc, fsck, by hand)
            count = int(head[5])
            if not 0 <= count < len(text):
                return
            *lines, rest = head[6].split("\n", count) if count else [head[6]]
            loose = [line.split(" ") for line in lines]
        except (OSError, ValueError, IndexError):
            return
        if (len(loose) == count and all(len(pair) == 2 and is_oid(pair[1]) for pair in loose)
                and (head[4] == "-" or (len(head[4]) == 32 and is_lower_hex(head[4])))):
            self.listing, self.loose = head[4], {pair[0]: pair[1] for pair in loose}
            self._packed, self._rest = None, rest

    @property
    def packed(self) -> set[str]:
        """The blobs recorded with a packed manifest (none when those lines do not parse)."""
        if self._packed is None:
            lines = self._rest.split("\n")[:-1]
            valid = set(map(len, lines)) <= {40, 64} and is_lower_hex("".join(lines))
            self._packed = set(lines) if valid else set()
        return self._packed

    def whole(self, listing: str) -> bool:
        """Whether the index listing with digest `listing` is known settled whole: recorded
        so, and every loose manifest the record counts on still there."""
        return (self.listing == listing
                and all(self.store.manifest_path(oid).exists() for oid in self.loose.values()))

    def among(self, blobs: set[str]) -> set[str]:
        """Those of `blobs` settled: recorded, and a loose manifest still there."""
        loose = {blob for blob in blobs & self.loose.keys()
                 if self.store.manifest_path(self.loose[blob]).exists()}
        return (blobs & self.packed) | loose

    def save(self, new: dict[str, str], listed: set[str], whole: str = "") -> None:
        """Record `new` (blob -> oid when its manifest is loose, else "") besides what was
        recorded (only the `listed` blobs of it when it grew past KEEP_RATIO times them),
        and `whole`, the digest of an index listing now settled whole (its blobs among
        `listed`); without it the one recorded stays while no blob is dropped."""
        packed, loose, listing = self.packed, self.loose, whole or self.listing
        if len(packed) + len(loose) > KEEP_RATIO * max(len(listed), 1):
            packed, loose = packed & listed, {b: oid for b, oid in loose.items() if b in listed}
            listing = whole or "-"
        loose = {**loose, **{blob: oid for blob, oid in new.items() if oid}}
        packed = (packed | {blob for blob, oid in new.items() if not oid}) - loose.keys()
        text = "".join([f"{MAGIC}\n{self.url}\n{self.forgets}\n{' '.join(sorted(self.packs))}\n"
                        f"{listing}\n{len(loose)}\n", *(f"{b} {oid}\n" for b, oid in loose.items()),
                        *(f"{b}\n" for b in packed)])
        with contextlib.suppress(OSError):
            write_file(self.path, text.encode("ascii"), tmp_dir=self.store.tmp_dir)
