"""`git model show [REV:]PATH`: what one model version holds and what it costs to store.

Storage is told in the cache's own terms: the version's chunks, the bytes they
take on disk once compressed, and how many it shares with the same path in the
parent commit, which is what a commit of this version really added.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from gitmodel.commands.versions import Side, load, parent_side, parse_spec, pointers
from gitmodel.errors import UserError
from gitmodel.git.cache import open_store
from gitmodel.git.repo import Repo
from gitmodel.model.modelfile import ModelFile
from gitmodel.store.chunking import chunk_stream
from gitmodel.store.objects import CorruptObject, MissingObject, Store, chunk_id
from gitmodel.units import human, plural


@dataclass
class Storage:
    """Chunk accounting of one version against the cache and its parent's version."""

    chunks: int
    logical: int
    stored: int
    cached_chunks: int
    parent: str | None
    shared_chunks: int | None
    shared_bytes: int | None
    same_as_parent: bool = False  # the parent's version is this very content
    delta: int = 0  # stored bytes of chunks delta-encoded against a parent's piece

    def as_json(self) -> dict:
        return {"chunks": self.chunks, "logical_bytes": self.logical, "stored_bytes": self.stored,
                "delta_bytes": self.delta, "cached_chunks": self.cached_chunks,
                "parent": None if self.parent is None else {
                    "rev": self.parent, "shared_chunks": self.shared_chunks,
                    "shared_bytes": self.shared_bytes, "same": self.same_as_parent}}

    def line(self) -> str:
        text = (f"{plural(self.chunks, 'chunk')}, {human(self.logical)} logical, "
                f"{human(self.stored)} stored")
        if self.delta:
            text += f" ({human(self.delta)} of it delta-encoded)"
        if self.cached_chunks != self.chunks:
            text += f" ({self.cached_chunks} of {self.chunks} chunks in the cache)"
        if self.parent is None:
            return text + "; no parent version"
        if self.same_as_parent:
            return text + f"; same as {self.parent}"
        if self.shared_chunks is None or self.shared_bytes is None:
            return text + f"; {self.parent}'s version is not in the cache"
        return text + (f"; shares {plural(self.shared_chunks, 'chunk')} "
                       f"({human(self.shared_bytes)}) with {self.parent}")


@dataclass
class Shown:
    """One version with its storage accounting, printable as text or JSON."""

    path: str
    side: Side
    model: ModelFile
    storage: Storage

    def as_json(self) -> dict:
        model = self.model
        return {"path": self.path, "rev": self.side.label, "oid": model.oid,
                "format": model.format, "size": model.size, "parameters": model.parameters,
                "metadata": model.metadata,
                "tensors": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape),
                             "bytes": t.nbytes} for t in model.tensors.values()],
                "storage": self.storage.as_json()}

    def lines(self) -> list[str]:
        model = self.model
        oid = f", object {model.oid[:12]}" if model.oid else ""
        out = [f"{self.path} ({self.side.label}{oid})",
               f"format      {model.format}, {human(model.size)}",
               f"tensors     {len(model.tensors)}, {model.parameters:,} parameters",
               f"storage     {self.storage.line()}"]
        out += [f"metadata    {key} = {value}" for key, value in model.metadata.items()]
        width = max((len(name) for name in model.tensors), default=0)
        out += [f"  {t.name:<{width}}  {t.dtype:<5} {str(list(t.shape)):<16} {human(t.nbytes)}"
                for t in model.tensors.values()]
        return out


def show(repo: Repo, spec: str) -> Shown:
    """The version `spec` names; the caller closes `.model` when done."""
    side, path = parse_spec(repo, spec)
    full = repo.top / path
    if side.worktree and (full.is_symlink() or (full.exists() and not full.is_file())):
        raise UserError(f"{path} is a symbolic link or a special file, not a model file: "
                        "git-model reads only regular files in the working tree")
    if side.worktree and (repo.top / path).is_file() and not repo.filtered_paths([path]):
        raise UserError(f"{path} is not a git-model file (no `git model track` pattern matches it)")
    store = open_store(repo)
    known = {} if side.worktree else pointers(repo, side, [path])
    model = load(repo, store, side, path, known)
    if model is None:
        raise UserError(f"{path}: no such model file in the {side.label}")
    return Shown(path, side, model, _storage(repo, store, side, path, model))


def _storage(repo: Repo, store: Store, side: Side, path: str, model: ModelFile) -> Storage:
    """Chunks from the manifest (or cut from the disk file), sized in the cache, vs the parent."""
    if model.manifest is not None:
        chunks = list(model.manifest.chunks)
    else:  # a file on disk: cut it as `git add` would, without storing anything
        with open(repo.top / path, "rb") as handle:
            chunks = [(chunk_id(c.data), len(c.data)) for c in
                      chunk_stream(handle, path, store.knows, os.fstat(handle.fileno()).st_size)]
    unique = dict(chunks)
    on_disk = {cid: _stored_size(store, cid) for cid in unique}
    delta = sum(size for cid, size in on_disk.items() if size and store.chunk_base(cid))
    parent = parent_side(repo, side)
    shared_chunks = shared_bytes = None
    same = False
    if parent is not None:
        pointer = pointers(repo, parent, [path]).get(path)
        same = pointer is not None and model.oid is not None and pointer.oid == model.oid
        try:
            their_list = list(store.read_manifest(pointer.oid).chunks) if pointer else []
            theirs: set[str] | None = {c for c, _ in their_list}
            same = same or (bool(their_list) and their_list == chunks)  # a disk file, unchanged
        except (MissingObject, CorruptObject):
            theirs = None
        if theirs is not None:
            shared = unique.keys() & theirs
            shared_chunks, shared_bytes = len(shared), sum(unique[c] for c in shared)
    return Storage(len(chunks), model.size, sum(s for s in on_disk.values() if s),
                   sum(1 for s in on_disk.values() if s is not None),
                   parent.label if parent else None, shared_chunks, shared_bytes, same, delta)


def _stored_size(store: Store, cid: str) -> int | None:
    size = store.stored_size(cid)  # loose or packed
    return size or None
