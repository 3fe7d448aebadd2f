"""`git model gc`: delete cached objects nothing in the repository refers to.

An object is kept when any ref, reflog entry, stash or index points at it, or
when it was written within the grace period: a concurrent `git add` writes
its chunks and manifest before git records the pointer anywhere, and the
chunks and manifest it reuses are freshened (mtime) for the same reason, under
a lock that deletion takes (`Store.gc_lock`). A kept chunk stored as a delta
keeps its base, and that base's base (`Store.with_bases`).

If git cannot list everything reachable (a ref to a missing commit, a damaged
object), nothing is deleted: an empty "referenced" set would mean deleting
every model, which is what happened before the walk was checked.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.git.cache import open_store
from gitmodel.git.repo import GitError, Repo
from gitmodel.store import layout
from gitmodel.store.atomic import pause_point
from gitmodel.store.objects import CorruptObject, MissingObject, is_chunk_id
from gitmodel.store.pointer import is_oid

DEFAULT_GRACE = 3600.0


@dataclass
class Garbage:
    files: list[Path] = field(default_factory=list)
    bytes: int = 0

    def add(self, path: Path, size: int) -> None:
        self.files.append(path)
        self.bytes += size


def _old(stat: os.stat_result, cutoff: float) -> bool:
    return stat.st_mtime < cutoff


def find_garbage(repo: Repo, grace: float,
                 referenced: set[str] | None = None) -> tuple[Garbage, int]:
    """(what can go, how many objects are kept). `referenced`: the oids to keep (default:
    everything any ref, reflog, stash or index reaches; `prune` passes fewer)."""
    store = open_store(repo)
    keep_chunks: set[str] = set()
    kept = 0
    cutoff = time.time() - grace
    garbage = Garbage()
    if referenced is None:
        try:
            referenced = {p.oid for p in repo.reachable_pointers()}
        except GitError as exc:
            raise UserError(f"gc: git cannot list what the repository references ({exc}); "
                            "nothing was deleted: repair the repository (git fsck) first") from None
    for name, path in store.files(layout.MANIFESTS):
        stat = path.stat()
        if name in referenced or not is_oid(name) or not _old(stat, cutoff):
            kept += 1
            try:
                keep_chunks.update(c for c, _ in store.read_manifest(name).chunks)
            except (CorruptObject, MissingObject):
                pass  # fsck reports it; its chunks are judged by age alone
        else:
            garbage.add(path, stat.st_size)
    chunks = [(name, path, path.stat()) for name, path in store.files(layout.CHUNKS)]
    keep_chunks.update(name for name, _, stat in chunks
                       if is_chunk_id(name) and not _old(stat, cutoff))
    keep_chunks = store.with_bases(c for c in keep_chunks if is_chunk_id(c))
    for name, path, stat in chunks:
        if name in keep_chunks or not is_chunk_id(name):
            kept += 1
        else:
            garbage.add(path, stat.st_size)
    for _, path in store.files("tmp"):
        stat = path.stat()
        if _old(stat, cutoff):
            garbage.add(path, stat.st_size)
    return garbage, kept


def collect(repo: Repo, garbage: Garbage, grace: float) -> int:
    """Delete the garbage, re-checking each file's age just before, under the lock an
    add's freshening waits for; return bytes freed."""
    cutoff = time.time() - grace
    freed = 0
    with open_store(repo).gc_lock(shared=False):
        for path in garbage.files:
            try:
                stat = path.stat()
                if _old(stat, cutoff):
                    path.unlink()
                    pause_point("delete")
                    freed += stat.st_size
            except FileNotFoundError:
                continue
    return freed
