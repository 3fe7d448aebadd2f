"""Opening one version of a model file, wherever it is: on disk, or in the cache by pointer.

Apart from `modelfile` (the safetensors reader and the byte sources) because it
dispatches on the first bytes to the safetensors or the torch reader; `torchfile`
builds on `modelfile`, so the dispatch sits above both and no import cycle is left.
"""
from __future__ import annotations

import os
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.model.modelfile import ByteSource, CachedSource, DiskSource, ModelFile, safetensors
from gitmodel.model.torchfile import load_checkpoint
from gitmodel.store.chunking import ZIP_MAGIC
from gitmodel.store.objects import CorruptObject, MissingObject, Store
from gitmodel.store.pointer import MAX_POINTER_SIZE, Pointer, parse


def from_source(source: ByteSource, store: Store, label: str) -> ModelFile:
    """Parse a version by its first bytes: safetensors header, torch zip, or opaque."""
    head = source.read(0, 9)
    if len(head) == 9 and head[8:9] == b"{":
        parsed = safetensors(source)
        if parsed is not None:
            return parsed
    if head[:4] == ZIP_MAGIC:
        return load_checkpoint(source, store, label)
    return ModelFile("opaque", source.size, source=source)


def from_pointer(store: Store, pointer: Pointer, label: str) -> ModelFile:
    """A cached version; UserError when the cache does not hold it."""
    if pointer.size == 0:
        return ModelFile("opaque", 0, oid=pointer.oid)
    try:
        manifest = store.read_manifest(pointer.oid)
    except MissingObject:
        raise UserError(f"{label}: object {pointer.short} is not in the cache: "
                        "run `git model pull`") from None
    except CorruptObject as exc:
        raise UserError(f"{label}: {exc}: run `git model fsck --repair`") from None
    model = from_source(CachedSource(store, manifest), store, label)
    model.manifest, model.oid = manifest, pointer.oid
    return model


def from_path(store: Store, path: Path, label: str) -> ModelFile:
    """A file on disk; a pointer left in its place is read from the cache instead."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (the ModelFile owns it; closed by ModelFile.close)
    except OSError as exc:
        raise UserError(f"{label}: cannot read {path} ({exc.strerror})") from None
    try:
        size = os.fstat(handle.fileno()).st_size
        if size < MAX_POINTER_SIZE and (pointer := parse(handle.read())) is not None:
            handle.close()
            return from_pointer(store, pointer, label)
        return from_source(DiskSource(handle, size), store, label)
    except BaseException:
        handle.close()
        raise
