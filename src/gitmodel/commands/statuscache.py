"""What `git model status` found for the index's model files, kept for the next status.

Most of a status of 10,000 files is spent on work whose inputs rarely change between two
runs: the pointers of the index's blobs, which objects the cache holds, which ones the
remote is known to have. Its result for those (raw blobs, objects missing, objects not
pushed) is kept here with a digest of every input, and reused while the digest matches:

- the index's model files as `git ls-files -s` lists them (paths, modes, blob ids, stages:
  the pointers follow from the blob ids) and the default remote's name and URL;
- the stat data of what records the cache's objects (objects/packs, objects/manifests and
  each of its folders: every object written or removed renames or unlinks in one of them)
  and of the record of what the remote has (remotes.sqlite and its WAL).

Like git's racy-clean rule: a stat whose mtime is less than RACY_NS old could still change
within the same timestamp tick without a new mtime, so nothing is kept then (the next
status computes again). What git status reports (staged, modified, unmerged) is always
asked anew, and the cache is not used while anything is staged or while the index records
a pointer-sized file (status/checkout read those). Damaged or foreign content is a miss.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Iterator

from gitmodel.git.repo import Entry, Repo
from gitmodel.store.pointer import Pointer

FORMAT = 1
RACY_NS = 2 * 10**9
NAME = "model-status.json"  # in the worktree's git dir: each worktree has its own index


def listing_digest(listing: str) -> str:
    """32 hex digits that name an index listing (`Repo.model_listing`): what this cache and
    the settled record (commands/settled.py) key on."""
    return hashlib.blake2b(listing.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def key(repo: Repo, listed: str, remote: tuple[str, str] | None) -> str | None:
    """The digest of status's inputs but git status's own (`listed`: the listing's digest);
    None when one is too recent."""
    digest = hashlib.blake2b(f"{FORMAT}\0{remote}\0{listed}\0".encode(), digest_size=16)
    newest = time.time_ns() - RACY_NS
    for path in _stamped(repo.model_dir):
        try:
            st = os.stat(path)
        except OSError:
            digest.update(f"{path}\0-\0".encode())
            continue
        if st.st_mtime_ns > newest:
            return None
        digest.update(f"{path}\0{st.st_mtime_ns}\0{st.st_size}\0{st.st_ino}\0".encode())
    return digest.hexdigest()


def _stamped(model_dir: Path) -> Iterator[str]:
    objects = os.path.join(model_dir, "objects")
    yield os.path.join(objects, "packs")
    manifests = os.path.join(objects, "manifests")
    yield manifests
    try:
        with os.scandir(manifests) as folders:
            yield from sorted(f.path for f in folders if f.is_dir(follow_symlinks=False))
    except OSError:
        pass
    yield os.path.join(model_dir, "remotes.sqlite")
    yield os.path.join(model_dir, "remotes.sqlite-wal")


def load(repo: Repo, digest: str) -> tuple[set[str], list[Entry], list[Entry]] | None:
    """(raw paths, entries not cached, entries not pushed) kept under `digest`, or None."""
    try:
        data = json.loads((repo.git_dir / NAME).read_bytes())
        if data.get("key") != digest:
            return None
        return set(data["raw"]), _entries(data["not_cached"]), _entries(data["unpushed"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def save(repo: Repo, digest: str, raw: set[str], not_cached: list[Entry], unpushed: list[Entry]) -> None:
    """Keep a result (written whole, then renamed over the last one; a failure is a miss)."""
    data = {"key": digest, "raw": sorted(raw), "not_cached": _rows(not_cached), "unpushed": _rows(unpushed)}
    target = repo.git_dir / NAME
    temp = target.with_name(f"{NAME}.{os.getpid()}.tmp")
    try:
        temp.write_text(json.dumps(data))
        os.replace(temp, target)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()


def _rows(entries: list[Entry]) -> list[list]:
    return [[e.path, e.blob, e.pointer.oid, e.pointer.size] for e in entries]


def _entries(rows: list[list]) -> list[Entry]:
    """Entries back from rows, each pointer checked as any (a bad one: ValueError)."""
    return [Entry(str(path), str(blob), Pointer(oid, size)) for path, blob, oid, size in rows]
