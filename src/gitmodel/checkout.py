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

from . import index
from .atomic import write_file
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
    """Write real files for pointers whose objects are cached; return (done, still missing).

    git skips an entry whose stat data still matches the index, so each pointer
    file is removed first (its text is in the index) and put back if git fails.
    """
    store = open_store(repo)
    ready, missing = [], []
    for entry in pointer_files(repo, paths):
        (ready if store.has_object(entry.pointer) else missing).append(entry)
    for entry in ready:
        (repo.top / entry.path).unlink()
    try:
        if ready:
            repo.git("checkout-index", "-f", "-u", "-z", "--stdin",
                     input="\0".join(e.path for e in ready).encode() + b"\0")
    finally:
        for entry in ready:
            target = repo.top / entry.path
            if not target.exists():
                write_file(target, entry.pointer.encode())
    return [e.path for e in ready], [e.path for e in missing]


def settle_index(repo: Repo) -> int:
    """Make freshly written model files clean in git's index (see `index`)."""
    index_path = Path(repo.git("rev-parse", "--git-path", "index").strip())
    hash_len = 32 if repo.git("rev-parse", "--show-object-format").strip() == "sha256" else 20
    store = open_store(repo)

    def confirm(paths: list[str]) -> set[str]:
        entries = [e for e in repo.index_entries(paths) if e.pointer.size]
        tracked = repo.filtered_paths(e.path for e in entries)
        verified = set()
        for entry in entries:
            if entry.path in tracked and store.has_manifest(entry.pointer.oid):
                manifest = store.read_manifest(entry.pointer.oid)
                if store.matches(repo.top / entry.path, manifest):
                    verified.add(entry.path)
        return verified

    try:
        return index.settle(repo.top / index_path, repo.top, hash_len, confirm)
    except index.Unsupported:
        return 0  # git re-checks racy entries itself; only slower
