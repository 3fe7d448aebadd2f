"""Turning pointers left in the working tree into the real files (`git model checkout`).

A pointer stays in the working tree when its object was not in the cache at
checkout time. Once the object arrives, `materialize` writes the file and
records its stat data in the index, so `git status` stays clean without a
re-clean.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import os
import stat
import sys
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Collection, ContextManager, Iterator, Sequence

from gitmodel.commands.previous import Previous
from gitmodel.errors import UserError
from gitmodel.filter.whole import KEEP_FROM, Whole
from gitmodel.git import index
from gitmodel.git.cache import open_store
from gitmodel.git.repo import Entry, Repo
from gitmodel.store.atomic import atomic_output, pause_point, replace
from gitmodel.store.objects import CorruptObject, Manifest, MissingObject, Store
from gitmodel.store.pointer import MAX_POINTER_SIZE


def pointer_files(repo: Repo, paths: Sequence[str] = (),
                  only: Collection[str] | None = None,
                  listed: Sequence[Entry] | None = None) -> list[Entry]:
    """Index entries (filter=model) whose working-tree file is still the pointer text
    (of the exact paths `only`, when given; of `listed`, index entries the caller has
    read already, when given: a pull listed them, and listing again cost 0.12 s at 3,000
    files)."""
    if listed is not None:
        entries = list(listed)
    else:
        entries = repo.index_entries(paths, only) if only is None or only else []
    tracked = repo.filtered_paths(e.path for e in entries)
    return still_pointers(repo, [e for e in entries if e.path in tracked])


def still_pointers(repo: Repo, entries: Sequence[Entry]) -> list[Entry]:
    """Those of `entries` (model files) whose working-tree file is the pointer text."""
    top = os.fspath(repo.top)
    result = []
    for entry in entries:
        if entry.pointer.size == 0:
            continue
        full = f"{top}/{entry.path}"  # no pathlib: status stats every model file
        try:
            if os.path.getsize(full) >= MAX_POINTER_SIZE:
                continue
            with open(full, "rb") as handle:
                if handle.read(MAX_POINTER_SIZE) == entry.pointer.encode():
                    result.append(entry)
        except OSError:
            continue
    return result


def written_by_git(repo: Repo) -> set[str] | None:
    """After a git command, the paths it can have left as pointers (`Repo.recorded_small`)."""
    return repo.recorded_small()


def materialize(repo: Repo, paths: Sequence[str] = (), strict_paths: bool = False,
                only: Collection[str] | None = None) -> tuple[list[str], list[str]]:
    """Write real files for pointers whose objects are cached; return (done, not done).

    Files are written here, streamed from the cache into a temporary file that
    replaces the pointer, rather than through `git checkout-index`: git would
    hold each whole model in memory and pipe it through the filter. Where the
    previous version of a file is still linked (commands/previous.py), only the
    chunks that differ are written. The index entries already name this content
    (the pointer); `settle_index` records the new files' stat data so git does
    not re-clean them. With `strict_paths`, a path that matches no model file in
    the index is an error, as a pathspec is for git. With `only` (exact paths, e.g. what a
    files the filter left to us), nothing else is looked at.
    """
    return Materializer(repo, paths, strict_paths, only).finish()


class Materializer:
    """One `materialize`: the pointer files found first (among `listed`, index entries the
    caller read, when given), written (some by a fetch, through `output`, as their objects
    arrive), then settled in the index together."""

    def __init__(self, repo: Repo, paths: Sequence[str] = (), strict_paths: bool = False,
                 only: Collection[str] | None = None,
                 listed: Sequence[Entry] | None = None) -> None:
        for path in paths if strict_paths else ():
            if not repo.index_entries([path]):
                raise UserError(f"pathspec {path!r} did not match any model file known to git")
        self.repo = repo
        self.store = open_store(repo)
        self.whole = Whole.of(repo)
        self.previous = Previous(repo, self.store, self.whole)
        self.entries = pointer_files(repo, paths, only, listed)
        self.tmp_dir = _tmp_dir(repo, repo.top) if self.entries else None
        if self.entries:
            self.store.remove_stale_tmp()  # left by a command killed midway
        self._unclaimed: dict[str, list[Entry]] = {}
        for entry in self.entries:
            self._unclaimed.setdefault(entry.pointer.oid, []).append(entry)
        self._lock = threading.Lock()
        self.written: dict[str, str] = {}  # path -> oid, files a fetch wrote through `output`
        # The pointer files `output` replaced, deleted once every new file is created: each
        # deletion right after its replacement waited for the disk (a discard, ~70 us here)
        # and left a freed inode that ext4 without a journal skips, scanning past every one
        # freed before it, in each later file creation: 10,000 files of 64 KiB pulled in
        # 4.8-5.3 s so, 5.8-6.6 s that way (medians of 3).
        self.replaced: list[str] = []

    def output(self, manifest: Manifest) -> ContextManager[BinaryIO] | None:
        """For a fetch (transfer.engine.Output): where the file of `manifest` goes as its
        verified chunks arrive, one pass instead of a verify pass and a write pass. One
        pointer file per object; not one whose previous version is linked (patching that
        writes less; `finish` does it from the cache), unless the file is small: a small
        one is cheaper written than patched, and looking for its link (a hash and a failed
        open) was ~9% of the time a pull of 3,000 files of 64 KiB spent on each."""
        small = manifest.size < KEEP_FROM
        with self._lock:
            waiting = self._unclaimed.get(manifest.oid, [])
            entry = next((e for e in waiting if small or not self.previous.patchable(e.path)), None)
            if entry is None:
                return None
            waiting.remove(entry)
        target = self.repo.top / entry.path
        try:
            mode = target.stat().st_mode & 0o777
        except OSError:
            return None  # gone meanwhile: nothing to replace
        return self._into(entry, target, mode)

    @contextlib.contextmanager
    def _into(self, entry: Entry, target: Path, mode: int) -> Iterator[BinaryIO]:
        with atomic_output(target, tmp_dir=self.tmp_dir, mode=mode,
                           fsync=self.store.fsync, dispose=self.replaced.append) as out:
            yield out
        with self._lock:
            self.written[entry.path] = entry.pointer.oid

    def finish(self, write: bool = True) -> tuple[list[str], list[str]]:
        """Write the files not written yet from the cache (unless not `write`), then record
        every written file's stat data; return (done, not done)."""
        repo, store, previous = self.repo, self.store, self.previous
        done, missing, oids = [], [], dict(self.written)
        links = _any_file(previous.dir)  # none in a fresh clone: no link to look for per file
        with concurrent.futures.ThreadPoolExecutor(1) as cleaner:
            # Links nothing will patch go first, beside the writes: dropping the last name of
            # a 256 MiB file took 0.09 s here, and replacing it by the new link 0.13-0.16 s
            # (that rename also flushed the new file: ext4's auto_da_alloc).
            cleaner.submit(previous.prune, repo.top, {e.path for e in self.entries})
            for entry in self.entries:
                if entry.path in oids:
                    done.append(entry.path)
                    if links:
                        cleaner.submit(previous.discard, entry.path)
                elif write and store.has_object(entry.pointer) \
                        and _write(repo, store, previous, self.whole, entry, self.tmp_dir, cleaner):
                    done.append(entry.path)
                    oids[entry.path] = entry.pointer.oid
                else:
                    missing.append(entry.path)
        large = [e.path for e in self.entries if e.path in oids and e.pointer.size >= KEEP_FROM]
        for path in large:  # links first: each moves the file's ctime, which the index records
            previous.link(path, repo.top / path)
            self.whole.keep(repo.top / path, oids[path])
        with concurrent.futures.ThreadPoolExecutor(4) as deleter:  # each waits for the disk
            deleter.map(_remove, [self.replaced[start::4] for start in range(4)])
            settle_index(repo, frozenset(done))  # also git's own racy entries, after a checkout
        for path in large:
            previous.record(path, repo.top / path, oids[path])
            self.whole.record(oids[path])
        previous.prune(repo.top, set(done))
        if self.entries:
            self.whole.evict()  # also after `keepWhole` was lowered
        return done, missing


def _any_file(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is not None
    except OSError:
        return False


def _remove(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _write(repo: Repo, store: Store, previous: Previous, whole: Whole, entry: Entry,
           tmp_dir: Path | None, cleaner: concurrent.futures.Executor) -> bool:
    target = repo.top / entry.path
    mode = target.stat().st_mode & 0o777
    try:
        if previous.write(entry.path, target, entry.pointer, mode):
            return True
        bases = previous.bases(entry.path)
        cleaner.submit(previous.discard, entry.path)
        try:
            if _relink(store, whole, entry, target, mode):
                return True
            with atomic_output(target, tmp_dir=tmp_dir, mode=mode, fsync=store.fsync) as out:
                store.write_to(entry.pointer, out, bases)
        finally:
            if bases is not None:
                bases.close()
    except (CorruptObject, MissingObject) as exc:
        print(f"git-model: {entry.path}: the cached object is damaged ({exc}); "
              "run `git model fsck --repair`", file=sys.stderr)
        return False
    return True


def _relink(store: Store, whole: Whole, entry: Entry, target: Path, mode: int) -> bool:
    """Put the kept whole copy of the version in place (filter/whole.py): a hard link,
    renamed over the pointer; False when there is none to trust."""
    kept = whole.take(entry.pointer.oid, store.read_manifest(entry.pointer.oid))
    if kept is None:
        return False
    tmp = kept.with_name(f".{kept.name}.{os.urandom(8).hex()}.tmp")  # never in the work tree
    try:
        os.link(kept, tmp)
        if stat.S_IMODE(os.stat(tmp).st_mode) != mode:
            os.chmod(tmp, mode)
        pause_point("relink")
        replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True


def _tmp_dir(repo: Repo, top: Path) -> Path | None:
    """Where a file being written waits: the cache's tmp/ when it is on the work tree's file
    system (a killed write then leaves nothing `git add -A` could pick up; gc clears it),
    else beside the target."""
    tmp = repo.model_dir / "tmp"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=tmp):  # a read-only cache still serves checkouts
            pass
        return tmp if os.stat(tmp).st_dev == os.stat(top).st_dev else None
    except OSError:
        return None


def _index_file(repo: Repo) -> tuple[Path, int]:
    """Where this work tree's index is, and the length of its object ids."""
    return repo.index_file


def settle_index(repo: Repo, written: frozenset[str] = frozenset()) -> int:
    """Make freshly written model files clean in git's index (see `index`)."""
    index_path, hash_len = _index_file(repo)
    store = open_store(repo)

    def confirm(racy: list[index.RawEntry]) -> set[str]:
        entries = [e for e in repo.index_entries_at([r.path for r in racy]) if e.pointer.size]
        tracked = repo.filtered_paths(e.path for e in entries)
        verified = set()
        for entry in entries:
            if entry.path not in tracked:
                continue
            try:
                manifest = store.read_manifest(entry.pointer.oid)
            except (MissingObject, CorruptObject):
                continue  # git re-cleans it; fsck names a damaged manifest
            if store.matches(repo.top / entry.path, manifest):
                verified.add(entry.path)
        return verified

    try:
        return index.settle(index_path, repo.top, hash_len, confirm, written)
    except index.Unsupported:
        return 0  # git re-checks racy entries itself; only slower
