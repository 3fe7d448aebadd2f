"""`git model gc`: delete cached objects nothing in the repository refers to.

An object is kept when any ref, reflog entry, stash or index points at it, or
when it was written within the grace period: a concurrent `git add` writes
its chunks and manifest before git records the pointer anywhere, and the
chunks and manifest it reuses are freshened (mtime) for the same reason, under
a lock that deletion takes (`Store.gc_lock`). A kept chunk stored as a delta
keeps its base, and that base's base (`Store.with_bases`).

Packed objects (store/packs.py) are dated by their pack, which an add that reuses
one of them freshens. A pack whose objects are all garbage is deleted; one with more
than half of its bytes garbage is rewritten with the live objects, and the old one
deleted only if it is still old once the new one is in place.

If git cannot list everything reachable (a ref to a missing commit, a damaged
object), nothing is deleted: an empty "referenced" set would mean deleting
every model, which is what happened before the walk was checked.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.git.cache import open_store
from gitmodel.git.repo import GitError, Repo
from gitmodel.store import layout
from gitmodel.store.atomic import pause_point
from gitmodel.store.objects import CorruptObject, MissingObject, Store, is_chunk_id
from gitmodel.store.packs import Key
from gitmodel.store.pointer import is_oid

DEFAULT_GRACE = 3600.0


@dataclass
class Garbage:
    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    repack: dict[str, set[Key]] = field(default_factory=dict)  # pack -> its live objects

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
    store.recover()  # what a killed add left in its open pack is kept, not swept
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
    young = _young_packs(store, cutoff)
    packed = store.packs.names(layout.MANIFESTS)
    keep_manifests = {n for n, pack in packed.items() if n in referenced or pack in young}
    for name in keep_manifests:
        _keep_chunks_of(store, name, keep_chunks)
    for name, path in store.files(layout.MANIFESTS):
        stat = path.stat()
        if name in referenced or not is_oid(name) or not _old(stat, cutoff):
            kept += 1
            keep_manifests.add(name)
            _keep_chunks_of(store, name, keep_chunks)
        else:
            garbage.add(path, stat.st_size)
    chunks = [(name, path, path.stat()) for name, path in store.files(layout.CHUNKS)]
    keep_chunks.update(name for name, _, stat in chunks
                       if is_chunk_id(name) and not _old(stat, cutoff))
    keep_chunks.update(n for n, pack in store.packs.names(layout.CHUNKS).items() if pack in young)
    keep_chunks = store.with_bases(c for c in keep_chunks if is_chunk_id(c))
    kept += _sort_packs(store, young, {layout.MANIFESTS: keep_manifests,
                                       layout.CHUNKS: keep_chunks}, cutoff, garbage)
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


def _keep_chunks_of(store: Store, oid: str, keep: set[str]) -> None:
    try:
        keep.update(c for c, _ in store.read_manifest(oid).chunks)
    except (CorruptObject, MissingObject):
        pass  # fsck reports it; its chunks are judged by age alone


def _young_packs(store: Store, cutoff: float) -> set[str]:
    young = set()
    for pack in store.packs.pack_names():
        try:
            if not _old(store.packs.path(pack).stat(), cutoff):
                young.add(pack)
        except FileNotFoundError:
            continue
    return young


def _sort_packs(store: Store, young: set[str], keep: dict[str, set[str]], cutoff: float,
                garbage: Garbage) -> int:
    """Mark old packs with no live object for deletion and those more than half garbage
    (by bytes) for a rewrite; also files in packs/ that are no whole pack (a pack left
    without its index by a kill, once `recover` copied its objects; open packs are a live
    writer's, or `recover`'s). Return how many packed objects are kept."""
    kept, whole = 0, set()
    for pack in store.packs.pack_names():
        whole.add(pack)
        entries = store.packs.entries(pack)
        live = {k for k in entries if pack in young or k[1] in keep[k[0]]}
        kept += len(live)
        dead = sum(length for k, (_, length) in entries.items() if k not in live)
        if not live:
            for ext in ("idx", "pack"):  # the index first: a pack without one is invisible
                with contextlib.suppress(FileNotFoundError):
                    garbage.add(store.packs.path(pack, ext), store.packs.path(pack, ext).stat().st_size)
        elif 2 * dead > sum(length for _, length in entries.values()):
            garbage.repack[pack] = live
            garbage.bytes += dead
    for _, path in store.files("packs"):
        stat = path.stat()
        if path.stem not in whole and not path.name.startswith("open-") and _old(stat, cutoff):
            garbage.add(path, stat.st_size)
    return kept


def _age_of(path: Path) -> os.stat_result:
    """A pack's index is as old as its pack (an add dates the pack it reuses)."""
    pack = path.with_suffix(".pack")
    if path.suffix == ".idx" and pack.exists():
        return pack.stat()
    return path.stat()


def collect(repo: Repo, garbage: Garbage, grace: float) -> int:
    """Delete the garbage, re-checking each file's age just before, under the lock an
    add's freshening waits for; return bytes freed. A pack to rewrite is copied first
    (its live objects to a new pack), then deleted like any old file."""
    store = open_store(repo)
    for pack, live in garbage.repack.items():
        with contextlib.suppress(FileNotFoundError):
            store.rewrite_pack(pack, live)
            garbage.files += [store.packs.path(pack, "idx"), store.packs.path(pack)]
    cutoff = time.time() - grace
    freed = 0
    with store.gc_lock(shared=False):
        for path in garbage.files:
            try:
                stat = _age_of(path)
                if _old(stat, cutoff):
                    size = path.stat().st_size
                    path.unlink()
                    pause_point("delete")
                    freed += size
            except FileNotFoundError:
                continue
    return freed
