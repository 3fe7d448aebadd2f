"""Turning pointers left in the working tree into the real files (`git model checkout`).

A pointer stays in the working tree when its object was not in the cache at
checkout time. Once the object arrives, git itself re-checks the file out
(`git checkout-index -f -u`): the smudge filter writes the content and git
records the new stat data, so `git status` stays clean without a re-clean.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .filter import open_store
from .git import Entry, Repo
from .pointer import MAX_POINTER_SIZE


def pointer_files(repo: Repo, paths: Sequence[str] = ()) -> list[Entry]:
    """Index entries (filter=model) whose working-tree file is still the pointer text."""
    entries = repo.index_entries(paths)
    tracked = repo.filtered_paths(e.path for e in entries)
    result = []
    for entry in entries:
        if entry.path not in tracked or entry.pointer.size == 0:
            continue
        full = repo.top / entry.path
        try:
            if os.path.getsize(full) >= MAX_POINTER_SIZE:
                continue
            if full.read_bytes() == entry.pointer.encode():
                result.append(entry)
        except OSError:
            continue
    return result


def materialize(repo: Repo, paths: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Write real files for pointers whose objects are cached; return (done, still missing)."""
    store = open_store(repo)
    ready, missing = [], []
    for entry in pointer_files(repo, paths):
        (ready if store.has_object(entry.pointer) else missing).append(entry.path)
    if ready:
        for path in ready:
            _make_stale(repo.top / path)
        repo.git("checkout-index", "-f", "-u", "-z", "--stdin",
                 input="\0".join(ready).encode() + b"\0")
    return ready, missing


def _make_stale(path: Path) -> None:
    """Make git see the pointer file as changed, so that checkout-index rewrites it.

    Even with -f, checkout-index skips an entry whose stat matches the index, and
    git recorded the pointer file's stat when it wrote it. Touching is not enough:
    git compares whole seconds, and a racily clean entry is compared by content
    (the pointer, unchanged). An mtime two seconds back always differs.
    """
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 2_000_000_000))
