"""`git model gc`: delete cached objects nothing in the repository refers to.

An object is kept when any ref, reflog entry, stash or index points at it, or
when it was written within the grace period: a concurrent `git add` writes
its chunks and manifest before git records the pointer anywhere, and chunks it
reuses are freshened (mtime) for the same reason.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitmodel.git.cache import open_store
from gitmodel.git.repo import Repo
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


def find_garbage(repo: Repo, grace: float) -> tuple[Garbage, int]:
    """(what can go, how many objects are kept)."""
    store = open_store(repo)
    keep_chunks: set[str] = set()
    kept = 0
    cutoff = time.time() - grace
    garbage = Garbage()
    referenced = {p.oid for p in repo.reachable_pointers()}
    for path in store.manifest_dir.glob("*/*"):
        stat = path.stat()
        if path.name in referenced or not is_oid(path.name) or not _old(stat, cutoff):
            kept += 1
            try:
                keep_chunks.update(c for c, _ in store.read_manifest(path.name).chunks)
            except (CorruptObject, MissingObject):
                pass  # fsck reports it; its chunks are judged by age alone
        else:
            garbage.add(path, stat.st_size)
    for path in store.chunk_dir.glob("*/*"):
        stat = path.stat()
        if path.name in keep_chunks or not is_chunk_id(path.name) or not _old(stat, cutoff):
            kept += 1
        else:
            garbage.add(path, stat.st_size)
    for path in store.tmp_dir.glob("*"):
        stat = path.stat()
        if _old(stat, cutoff):
            garbage.add(path, stat.st_size)
    return garbage, kept


def collect(garbage: Garbage, grace: float) -> int:
    """Delete the garbage, re-checking each file's age just before; return bytes freed."""
    cutoff = time.time() - grace
    freed = 0
    for path in garbage.files:
        try:
            stat = path.stat()
            if _old(stat, cutoff):
                path.unlink()
                freed += stat.st_size
        except FileNotFoundError:
            continue
    return freed
