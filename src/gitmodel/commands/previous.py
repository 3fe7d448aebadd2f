"""Writing a model over its previous version: only the chunks that differ are written.

Git unlinks a working-tree file before it writes the next version (entry.c), so the old
bytes are gone by the time git-model writes the new ones. Each file git-model writes is
therefore also hard-linked under `<git dir>/model-links/` (the same inode: no space),
with the size, mtime and inode it had once settled. At the next write of that path, if
the link still has that stat data (nobody changed the file in place since), every chunk
that sits at the same offset in both versions is kept, only the others are written into
the linked inode, and the inode is linked into place over the pointer. A switch between
two versions that differ in one tensor then writes that tensor, not the model.

A link is patched only when it is the inode's last name (a hard link you made elsewhere
keeps its bytes). ctime is not part of the record: git's unlink of the working file changes the inode's
ctime. A write that keeps the mtime is not noticed; every write through git-model,
git or a normal program moves it. A command killed midway leaves the pointer in the
working tree (git status shows it clean, as after any interrupted smudge;
`git model checkout` writes it) and a link whose mtime no longer matches, never trusted.
Links whose path no longer holds their inode are dropped after each checkout, so a
model deleted from the working tree frees its space.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from gitmodel.filter.whole import Whole, same_inode
from gitmodel.git.repo import Repo
from gitmodel.store.atomic import replace, write_file
from gitmodel.store.objects import CorruptObject, FileChunks, Manifest, MissingObject, Store
from gitmodel.store.pointer import Pointer, is_oid

LINKS = "model-links"
PATCH_LIMIT = 0.5  # past half the file, a plain sequential write is as cheap


@dataclass(frozen=True)
class Record:
    path: str
    oid: str
    size: int
    mtime_ns: int
    ino: int
    dev: int


class Previous:
    """The versions git-model last wrote in this work tree, by path."""

    def __init__(self, repo: Repo, store: Store, whole: Whole | None = None) -> None:
        self.dir = repo.git_dir / LINKS
        self.store = store
        self.whole = whole

    def _link(self, path: str) -> Path:
        return self.dir / hashlib.sha256(path.encode(errors="surrogateescape")).hexdigest()[:32]

    def link(self, path: str, target: Path) -> None:
        """Hard-link TARGET, just written, under the links folder. Before the index records
        its stat data: a new link changes the inode's ctime, which git compares."""
        link = self._link(path)
        tmp = link.with_name(f"{link.name}.{os.urandom(8).hex()}.tmp")
        try:
            self.dir.mkdir(exist_ok=True)
            if not same_inode(link, os.stat(target)):  # rename() of one inode's two links is a no-op
                os.link(target, tmp)
                os.replace(tmp, link)
        except OSError:  # another filesystem, no hard links: the next write is a full one
            with contextlib.suppress(OSError):
                tmp.unlink()

    def record(self, path: str, target: Path, oid: str) -> None:
        """Remember TARGET's settled stat data, so that its next version can reuse it."""
        link = self._link(path)
        try:
            st = os.stat(target)
            if same_inode(link, st):
                record = {"path": path, "oid": oid, "size": st.st_size,
                          "mtime_ns": st.st_mtime_ns, "ino": st.st_ino, "dev": st.st_dev}
                write_file(link.with_suffix(".json"), json.dumps(record).encode())
        except OSError:
            pass

    def _trusted(self, path: str) -> Record | None:
        link = self._link(path)
        try:
            raw = json.loads(link.with_suffix(".json").read_bytes())
            record = Record(**raw)
            st = os.stat(link)
        except (OSError, ValueError, TypeError):
            return None
        same = (record.path == path and is_oid(record.oid) and
                (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
                == (record.size, record.mtime_ns, record.ino, record.dev))
        # Patched in place only when nothing but this link (and the version's whole copy,
        # given up for it) holds the inode any more (git unlinked the working file): a hard
        # link of your own elsewhere keeps its bytes.
        ours = 1 + (self.whole is not None and self.whole.holds(record.oid, st))
        return record if same and st.st_nlink == ours else None

    def patchable(self, path: str) -> bool:
        """Whether the previous version of `path` is linked and trusted (`write` may patch it)."""
        return self._trusted(path) is not None

    def write(self, path: str, target: Path, pointer: Pointer, mode: int) -> bool:
        """Put the new version at TARGET by patching the previous one; False when that is
        not possible or not worth it (the caller writes the whole file)."""
        record = self._trusted(path)
        if record is None:
            return False
        try:
            new = self.store.read_manifest(pointer.oid)
            plan = _plan(self.store.read_manifest(record.oid), new)
        except (MissingObject, CorruptObject):
            return False
        if plan is None:
            return False
        link = self._link(path)
        self._forget(link)  # from here on the inode is changing: never trusted again
        if self.whole is not None:
            self.whole.release(record.oid, os.stat(link))
        with open(link, "r+b") as handle:
            for offset, cid, size in plan:
                handle.seek(offset)
                handle.write(self.store.read_chunk(cid, size))
            handle.truncate(new.size)
            if self.store.fsync:
                os.fsync(handle.fileno())
        os.chmod(link, mode)
        tmp = link.with_name(f"{link.name}.{os.urandom(8).hex()}.tmp")  # never in the work tree
        os.link(link, tmp)
        replace(tmp, target)
        return True

    def bases(self, path: str) -> FileChunks | None:
        """The version last written at `path`, read through its link, as the bases of the
        next version's deltas (store/objects.FileChunks: each read verified, so the record
        needs no trust); None when there is none. Opened before the link is discarded."""
        link = self._link(path)
        try:
            record = Record(**json.loads(link.with_suffix(".json").read_bytes()))
            if record.path != path or not is_oid(record.oid):
                return None
            return FileChunks(link, self.store.read_manifest(record.oid))
        except (OSError, ValueError, TypeError, MissingObject, CorruptObject):
            return None

    def discard(self, path: str) -> None:
        """Drop the link of `path`'s previous version: it is not being patched (its space
        is freed now, and the next `link` creates a name instead of replacing one)."""
        link = self._link(path)
        self._forget(link)
        with contextlib.suppress(FileNotFoundError):
            link.unlink()

    def _forget(self, link: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            link.with_suffix(".json").unlink()

    def prune(self, top: Path, keep: set[str]) -> None:
        """Drop links whose path holds another inode (or nothing): they would pin the space
        of a model the work tree no longer has."""
        try:
            names = [p for p in self.dir.iterdir() if p.suffix == ".json"]
        except OSError:
            return
        for meta in names:
            try:
                record = Record(**json.loads(meta.read_bytes()))
                here = os.stat(top / record.path)
                if record.path in keep or (here.st_ino, here.st_dev) == (record.ino, record.dev):
                    continue
            except (OSError, ValueError, TypeError):
                pass
            with contextlib.suppress(OSError):
                meta.unlink()
                meta.with_suffix("").unlink()


def _plan(old: Manifest, new: Manifest) -> list[tuple[int, str, int]] | None:
    """The chunks of NEW to write over OLD's bytes: those not at the same offset in OLD.
    None when that is more than PATCH_LIMIT of the file."""
    at = {offset: cid for cid, _, offset in old.placed()}
    plan, todo = [], 0
    for cid, size, offset in new.placed():
        if at.get(offset) != cid:
            plan.append((offset, cid, size))
            todo += size
    return None if todo > new.size * PATCH_LIMIT else plan
