"""Recent versions kept whole: a checkout of a version seen lately links it into place.

Decoding a version from the cache is CPU work (a 1 GiB model took ~1.2 s on 2 cores); a
version this work tree held lately is often still on disk. So each model file the clean
filter hashes and each one a checkout writes is also hard-linked under
`<git dir>/model-whole/<oid>` (the same inode: no space while the work tree still has
it), and a checkout of that oid links it back into place instead of decoding it. Links
are dropped, oldest use first, while they hold more than `model.checkout.keepWhole`
bytes (default 10 GiB; 0 keeps none; git-lfs keeps every version whole, forever).

A kept copy is the file itself, so anything done to the work-tree file is done to it.
It is used only while its size, mtime and inode are what they were when recorded, and
when its ctime moved too (git unlinking the work-tree name moves it, but so does any
write, chmod or `touch`), only after its bytes are checked chunk by chunk against the
version's manifest (xxh3, ~0.26 s per GiB read from the page cache, against ~1.2 s to
decode): a file changed in place is never linked back as the version it was. A copy the
clean filter made is trusted only once git's index shows that git read that very file
(filter/process.py), and a copy is linked back only while nothing else names it (two
work-tree paths sharing an inode would change together).
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from gitmodel.git.repo import Repo
from gitmodel.store.atomic import pause_point
from gitmodel.store.objects import Manifest, chunk_id
from gitmodel.store.pointer import is_oid

WHOLE = "model-whole"
BUDGET = 10 << 30
# Smaller files are neither kept whole nor linked for patching (commands/previous.py):
# writing one again costs less than its link and record (a pull of 1,000 files of 64 KiB
# spent 0.39 s of 2 s writing those records).
KEEP_FROM = 1 << 20
_SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class Whole:
    """The versions kept whole for one work tree, by oid."""

    def __init__(self, git_dir: Path, budget: int) -> None:
        self.dir = git_dir / WHOLE
        self.budget = budget

    @classmethod
    def of(cls, repo: Repo) -> Whole:
        """The copies of `repo`'s work tree, bounded by `model.checkout.keepWhole` (an
        unreadable value keeps none)."""
        raw = (repo.config("model.checkout.keepWhole") or str(BUDGET)).strip().lower()
        scale = _SUFFIXES.get(raw[-1:], 1)
        try:
            budget = max(0, int(raw[:-1] if scale > 1 else raw) * scale)
        except ValueError:
            budget = 0
        return cls(repo.git_dir, budget)

    def _link(self, oid: str) -> Path:
        return self.dir / oid

    def keep(self, source: Path, oid: str) -> os.stat_result | None:
        """Hard-link SOURCE, whose bytes are `oid`'s, as that version's copy; its stat data
        after the link (the link moves its ctime), or None when it is not kept."""
        link = self._link(oid)
        tmp = self.dir / f".{oid}.{os.urandom(8).hex()}.tmp"
        try:
            st = os.stat(source)
            if not is_oid(oid) or st.st_size > self.budget:
                return None
            self.dir.mkdir(exist_ok=True)
            if self.unchanged(oid) is not None:
                # One copy a version is enough; replacing it would free the old inode's
                # blocks on the checkout's path (0.09 s per 256 MiB, measured).
                return st if same_inode(link, st) else None
            if not same_inode(link, st):
                self.forget(oid)
                self._drop_inode(st)
                os.link(source, tmp)
                pause_point("keep-whole")
                os.replace(tmp, link)
            return os.stat(source)
        except OSError:  # another file system, no hard links: nothing kept
            with contextlib.suppress(OSError):
                tmp.unlink()
            return None

    def _drop_inode(self, st: os.stat_result) -> None:
        """Drop the copies of older versions that share `st`'s inode (a file rewritten in
        place, as a checkpoint saved over the last one is): stale, and `evict` would unlink
        them after the link is recorded, moving the file's ctime again. That made the stat
        data the filter recorded (and the index entry) out of date at once, so git's re-clean
        at the next commit cut and hashed the whole file again: 4 MiB, ~60 ms of 0.09 s."""
        with contextlib.suppress(OSError):
            for path in self.dir.iterdir():
                if path.suffix != ".json" and not path.name.startswith(".") and same_inode(path, st):
                    self.drop(path.name)

    def record(self, oid: str) -> None:
        """Remember the copy's stat data as it is now (after every change we made to it)."""
        try:
            st = os.stat(self._link(oid))
            write_note(self._link(oid).with_suffix(".json"), json.dumps(
                [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]).encode())
        except OSError:
            return
        self.evict()

    def take(self, oid: str, manifest: Manifest) -> Path | None:
        """The kept copy of `oid` when its bytes are that version's (see the module's doc)."""
        link = self._link(oid)
        if not self.budget:
            return None
        ctime = self.unchanged(oid)
        try:
            st = os.stat(link)
        except OSError:
            return None
        if ctime is None or st.st_size != manifest.size \
                or (st.st_ctime_ns != ctime and not _verified(link, manifest)):
            self.drop(oid)
            return None
        # Only a copy nothing else names: linking one that is also a file of yours (the same
        # model at another path) would make a write to either change both.
        return link if st.st_nlink == 1 else None

    def unchanged(self, oid: str) -> int | None:
        """The recorded ctime of `oid`'s copy while its size, mtime and inode are as recorded."""
        link = self._link(oid)
        try:
            size, mtime, ctime, ino, dev = json.loads(link.with_suffix(".json").read_bytes())
            st = os.stat(link)
        except (OSError, ValueError, TypeError):
            return None
        same = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev) == (size, mtime, ino, dev)
        return ctime if same and isinstance(ctime, int) else None

    def holds(self, oid: str, st: os.stat_result) -> bool:
        """Whether `oid`'s copy is the inode of `st`."""
        return same_inode(self._link(oid), st)

    def release(self, oid: str, st: os.stat_result) -> None:
        """Drop `oid`'s copy if it is the inode of `st` (about to be patched into another
        version)."""
        if same_inode(self._link(oid), st):
            self.drop(oid)

    def forget(self, oid: str) -> None:
        """Untrust the copy of `oid` (it is about to change)."""
        with contextlib.suppress(FileNotFoundError):
            self._link(oid).with_suffix(".json").unlink()

    def drop(self, oid: str) -> None:
        self.forget(oid)
        with contextlib.suppress(FileNotFoundError):
            self._link(oid).unlink()

    def evict(self) -> None:
        """Drop the least recently recorded copies while they hold more than the budget; links
        left without a record by a killed command go too, and so do all but the last recorded
        copy of an inode: a file rewritten in place (a checkpoint saved over the last one)
        holds one version at a time, so the older copies of its inode are stale, and they
        were 2 files more per commit, scanned by every add (10 ms after 500 commits)."""
        try:
            names = list(self.dir.iterdir())
        except OSError:
            return
        total = 0
        last: dict[tuple[int, int], tuple[int, str, int]] = {}  # inode -> (recorded, oid, size)
        for path in names:
            if path.suffix == ".json":
                continue
            try:
                meta, st = os.stat(path.with_suffix(".json")), os.stat(path)
            except OSError:
                with contextlib.suppress(OSError):
                    if not path.name.startswith(".") or _stale(path):  # not one being made now
                        path.unlink()
                continue
            entry = (meta.st_mtime_ns, path.name, st.st_size)
            inode = (st.st_ino, st.st_dev)
            if inode in last:
                older, entry = sorted((last[inode], entry))
                self.drop(older[1])
                total -= older[2]
            last[inode] = entry
            total += st.st_size
        for _, oid, size in sorted(last.values()):
            if total <= self.budget:
                break
            self.drop(oid)
            total -= size


def write_note(path: Path, data: bytes) -> None:
    """Write a few bytes atomically (a temporary name beside, renamed over). Not
    store.atomic.write_file: its "write" fault point would stop a checkout at this note
    instead of at the model file test_faults.py means to catch half-written."""
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _stale(path: Path) -> bool:
    """A temporary link older than an hour (its inode's ctime moved when it was made)."""
    return os.stat(path).st_ctime < time.time() - 3600


def _verified(path: Path, manifest: Manifest) -> bool:
    """Whether the file holds exactly the manifest's chunks, at their offsets."""
    try:
        with open(path, "rb") as handle:
            for cid, size in manifest.chunks:
                if chunk_id(handle.read(size)) != cid:
                    return False
            return handle.read(1) == b""
    except OSError:
        return False


def same_inode(path: Path, st: os.stat_result) -> bool:
    """PATH names the inode of `st`."""
    try:
        here = os.stat(path)
    except OSError:
        return False
    return (here.st_ino, here.st_dev) == (st.st_ino, st.st_dev)
