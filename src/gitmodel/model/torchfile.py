"""Torch checkpoints (`torch.save` zip format), read safely and only when asked.

A checkpoint's pickle can run any code when unpickled, so it is loaded with
`weights_only=True` alone: torch's restricted unpickler accepts tensors and
plain containers and raises before calling anything else. Such a refusal
becomes a one-line error. torch is imported here, only when a checkpoint is
inspected: start-up and the filters never pay its seconds of import time.
"""
from __future__ import annotations

import bisect
import os
import pickle
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

from gitmodel.errors import UserError
from gitmodel.model.modelfile import ByteSource, CachedSource, DiskSource, ModelFile, TensorInfo
from gitmodel.store.objects import CorruptObject, MissingObject, Store

_DTYPES = {"bfloat16": "BF16", "float16": "F16", "float32": "F32", "float64": "F64",
           "int8": "I8", "uint8": "U8", "int16": "I16", "int32": "I32", "int64": "I64",
           "uint16": "U16", "uint32": "U32", "uint64": "U64", "bool": "BOOL",
           "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2"}


class TorchSource:
    """The checkpoint's tensors laid end to end in a virtual byte space.

    This gives torch tensors the same piece-wise reads as a safetensors file,
    straight from the memory-mapped storages.
    """

    def __init__(self, arrays: list[Any], keep: Path | None) -> None:
        self.arrays = arrays  # flat uint8 numpy views, in TensorInfo order
        self.starts: list[int] = []
        position = 0
        for array in arrays:
            self.starts.append(position)
            position += array.size
        self.size = position
        self.keep = keep  # temporary copy of a cached checkpoint, removed on close

    def read(self, offset: int, length: int) -> bytes:
        index = bisect.bisect_right(self.starts, offset) - 1
        local = offset - self.starts[index]
        return self.arrays[index][local:local + length].tobytes()

    def piece_ids(self, begin: int, end: int) -> list[str] | None:
        return None

    def close(self) -> None:
        self.arrays = []
        if self.keep is not None:
            self.keep.unlink(missing_ok=True)


def load_checkpoint(source: ByteSource, store: Store, label: str) -> ModelFile:
    """Read a zip checkpoint's tensors; UserError if its pickle wants more than data.

    A zip that torch cannot read as a checkpoint is an opaque file, not an error.
    """
    if isinstance(source, DiskSource):
        path, keep = Path(source.handle.name), None
    else:
        assert isinstance(source, CachedSource), "a byte source is a file on disk or a cached version"
        path = keep = _materialize(source, store)
    try:
        state = _safe_load(path, label)
    except BaseException:
        if keep is not None:
            keep.unlink(missing_ok=True)
        raise
    if state is None:
        if keep is not None:
            keep.unlink()
        return ModelFile("opaque", source.size, source=source)
    tensors, arrays, metadata = {}, [], {}
    position = 0
    for name, value in _flatten(state, ""):
        flat = _raw_bytes(value)
        if flat is None:
            metadata[name] = _describe(value)
            continue
        dtype = _DTYPES.get(str(value.dtype).removeprefix("torch."), str(value.dtype))
        tensors[name] = TensorInfo(name, dtype, tuple(value.shape), position,
                                   position + flat.size)
        arrays.append(flat)
        position += flat.size
    return ModelFile("torch", source.size, tensors, metadata, TorchSource(arrays, keep))


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise UserError("inspecting a torch checkpoint needs torch: pip install torch") from None
    return torch


def _raw_bytes(value: object) -> Any | None:
    """A dense tensor's bytes as a flat uint8 array (a view of the mapped file), else None."""
    torch = _torch()
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.is_quantized:
        return None
    return value.detach().contiguous().reshape(-1).view(torch.uint8).numpy()


def _describe(value: object) -> str:
    """Metadata text for a non-tensor leaf (or a sparse/quantized tensor, not compared)."""
    if isinstance(value, _torch().Tensor):
        return f"{value.layout} tensor {value.dtype} {list(value.shape)} (not compared)"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _materialize(source: CachedSource, store: Store) -> Path:
    """Write a cached checkpoint to a temporary file: torch.load needs a seekable file."""
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=store.tmp_dir, suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as out:
            for data in store.iter_chunks(source.manifest):
                out.write(data)
    except (MissingObject, CorruptObject) as exc:
        os.unlink(name)
        raise UserError(f"object {source.manifest.oid[:12]} is missing or damaged in the "
                        f"cache ({exc}): run `git model fsck --repair`") from None
    return Path(name)


def _safe_load(path: Path, label: str) -> Any | None:
    """The unpickled checkpoint, or None for a zip that is not one."""
    torch = _torch()
    try:
        with warnings.catch_warnings():  # torch's deprecation notes are not the user's concern
            warnings.simplefilter("ignore")
            return torch.load(path, weights_only=True, map_location="cpu", mmap=True)
    except pickle.UnpicklingError as exc:
        wanted = re.search(r"Unsupported (?:global|operand)[^:]*: (?:GLOBAL )?(\S+)", str(exc))
        raise UserError(f"{label}: refused to load this torch checkpoint: its pickle asks for "
                        f"{wanted.group(1) if wanted else 'more'} beyond tensors and plain "
                        "containers; nothing was executed") from None
    except (RuntimeError, ValueError, EOFError, OSError):
        return None


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted name, leaf) for nested dicts, lists and tuples, as state_dict keys read."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}{key}.")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}{index}.")
    else:
        yield prefix[:-1] or "<root>", value
