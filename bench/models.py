#!/usr/bin/env python3
"""Realistic model versions for the tests and the benchmark, generated here from a seed.

A bf16 transformer-shaped safetensors base and the versions real training
produces between two commits:

    v0_base.safetensors     the base model
    v1_head.safetensors     frozen-backbone fine-tune: the last two blocks and lm_head retrained
    v2_full.safetensors     full fine-tune with small steps: every tensor touched, yet in
                            bf16 most elements keep their exact bits
    v3_reorder.safetensors  v1's tensors in another order, with new metadata (same bytes,
                            other offsets)
    v4_vocab.safetensors    v1 with 256 new vocabulary rows in embed and lm_head
    v5_adapter.safetensors  v1 plus small LoRA adapter tensors per block
    v6_insert.bin           v0's bytes with 4 KiB inserted in the middle: an opaque binary
                            edit that only content-defined chunking absorbs
    v7_more.safetensors     v1's head fine-tune trained further (the benchmark pushes it
                            after its first push)

and `workload.json`: per version its size and its novel tensor bytes (bytes of
tensors whose exact content is in no earlier version: the floor any
tensor-level dedup can reach).

Every tensor comes from its own random stream, keyed by (seed, version, name),
and derived versions read their unchanged tensors back from the file they
derive from, so the generator holds one tensor at a time: a 1 GiB workload
needs about 100 MB of memory, not the 6 GB that keeping versions as arrays
would. Same seed and size, same bytes. Needs only numpy.

    python bench/models.py OUTDIR [--size-mib 64] [--seed 0]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

GENERATOR = 1  # bump when the bytes change: a cached workload of another generator is rebuilt
VOCAB, EXTRA_VOCAB, LORA_RANK = 8192, 256, 16
INSERT_BYTES = 4096
SERIES = ("v0_base.safetensors", "v1_head.safetensors", "v2_full.safetensors",
          "v3_reorder.safetensors", "v4_vocab.safetensors", "v5_adapter.safetensors",
          "v6_insert.bin")
EXTRA = "v7_more.safetensors"

Shapes = dict[str, tuple[int, ...]]  # tensor name -> shape, in file order
Producer = Callable[[str], np.ndarray]  # tensor name -> its bf16 bits (uint16)


def bf16(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, rounding to nearest even (what torch's .to(bfloat16) does)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    lsb = (bits >> 16) & 1
    return ((bits + 0x7FFF + lsb) >> 16).astype(np.uint16)


def from_bf16(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bits -> float32, exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def noise(seed: int, version: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal float32 noise of one tensor in one version, independent of all others."""
    rng = np.random.default_rng([seed, version, zlib.crc32(name.encode())])
    return rng.standard_normal(shape, dtype=np.float32)


def architecture(size_mib: int) -> tuple[int, int]:
    """(hidden, layers): the widest power-of-two hidden size (256..4096) that still leaves
    12 or more blocks, with as many blocks as make the bf16 model about `size_mib`."""
    elements = size_mib * 2**20 // 2

    def blocks(hidden: int) -> int:
        return (elements - 2 * VOCAB * hidden) // (12 * hidden * hidden)

    hidden = 256
    while hidden < 4096 and blocks(hidden * 2) >= 12:
        hidden *= 2
    return hidden, max(2, blocks(hidden))


def base_shapes(hidden: int, layers: int) -> Shapes:
    shapes: Shapes = {"embed.weight": (VOCAB, hidden)}
    for i in range(layers):
        block = f"blocks.{i}."
        shapes[block + "attn.qkv.weight"] = (3 * hidden, hidden)
        shapes[block + "attn.out.weight"] = (hidden, hidden)
        shapes[block + "mlp.up.weight"] = (4 * hidden, hidden)
        shapes[block + "mlp.down.weight"] = (hidden, 4 * hidden)
        shapes[block + "norm1.weight"] = (hidden,)
        shapes[block + "norm2.weight"] = (hidden,)
    shapes["norm.weight"] = (hidden,)
    shapes["lm_head.weight"] = (VOCAB, hidden)
    return shapes


# -- safetensors, one tensor at a time ---------------------------------------------
def read_header(path: Path) -> tuple[int, dict]:
    """(offset of the data, header) of a safetensors file."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        return 8 + length, json.loads(handle.read(length))


class TensorFile:
    """Reads single bf16 tensors from a safetensors file this module wrote."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start, self.header = read_header(path)
        self.shapes: Shapes = {k: tuple(v["shape"]) for k, v in self.header.items()
                               if k != "__metadata__"}

    def __call__(self, name: str) -> np.ndarray:
        begin, end = self.header[name]["data_offsets"]
        data = np.fromfile(self.path, dtype="<u2", count=(end - begin) // 2,
                           offset=self.start + begin)
        return data.reshape(self.shapes[name])


def write_safetensors(path: Path, shapes: Shapes, produce: Producer, metadata: dict[str, str],
                      seen: set[bytes]) -> int:
    """Write a bf16 safetensors file tensor by tensor; return its novel tensor bytes
    (tensors whose digest is not yet in `seen`, which it extends)."""
    header: dict = {"__metadata__": metadata}
    offset = 0
    for name, shape in shapes.items():
        size = 2 * int(np.prod(shape, dtype=np.int64))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    novel = 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text)
        for name, shape in shapes.items():
            bits = produce(name)
            if bits.shape != shape or bits.dtype != np.uint16:
                raise ValueError(f"{name}: produced {bits.dtype} {bits.shape}, expected {shape}")
            data = bits.astype("<u2", copy=False).tobytes()
            digest = hashlib.sha256(data).digest()
            if digest not in seen:
                seen.add(digest)
                novel += len(data)
            out.write(data)
    os.replace(tmp, path)
    return novel


def insert_bytes(src: Path, dst: Path, at: int, extra: bytes) -> None:
    """`src` with `extra` inserted at offset `at`, streamed."""
    tmp = dst.with_name(dst.name + ".tmp")
    with open(src, "rb") as inp, open(tmp, "wb") as out:
        out.write(inp.read(at))
        out.write(extra)
        while block := inp.read(16 << 20):
            out.write(block)
    os.replace(tmp, dst)


# -- the versions ------------------------------------------------------------------
def _init(seed: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Base weights: norm gains near 1, matrices N(0, 0.02), as a freshly initialised transformer."""
    if name.endswith("norm.weight") or name.endswith(("norm1.weight", "norm2.weight")):
        return bf16(1.0 + 0.05 * noise(seed, 0, name, shape))
    return bf16(0.02 * noise(seed, 0, name, shape))


def _trained(src: Producer, seed: int, version: int, step: float,
             touched: Callable[[str], bool]) -> Producer:
    """`src` with the `touched` tensors moved by `step` x N(0, 1)."""
    def produce(name: str) -> np.ndarray:
        bits = src(name)
        if not touched(name):
            return bits
        return bf16(from_bf16(bits) + step * noise(seed, version, name, bits.shape))
    return produce


def _full_finetune(src: Producer, seed: int) -> Producer:
    """Every tensor moved by 0.2 % of its magnitude: bf16 keeps most elements' bits."""
    def produce(name: str) -> np.ndarray:
        weights = from_bf16(src(name))
        return bf16(weights + 0.002 * np.abs(weights) * noise(seed, 2, name, weights.shape))
    return produce


def _grown_vocab(src: Producer, seed: int) -> Producer:
    def produce(name: str) -> np.ndarray:
        bits = src(name)
        if name not in ("embed.weight", "lm_head.weight"):
            return bits
        rows = bf16(0.02 * noise(seed, 4, name, (EXTRA_VOCAB, bits.shape[1])))
        return np.concatenate([bits, rows])
    return produce


def _with_adapters(src: Producer, seed: int, hidden: int) -> Producer:
    def produce(name: str) -> np.ndarray:
        if name.endswith(".lora_A"):
            return bf16(0.02 * noise(seed, 5, name, (LORA_RANK, hidden)))
        if name.endswith(".lora_B"):
            return np.zeros((3 * hidden, LORA_RANK), dtype=np.uint16)  # LoRA's B starts at 0
        return src(name)
    return produce


def generate(folder: Path, size_mib: int = 64, seed: int = 0) -> dict:
    """Write every version and workload.json into `folder`; return what workload.json holds."""
    folder.mkdir(parents=True, exist_ok=True)
    hidden, layers = architecture(size_mib)
    shapes = base_shapes(hidden, layers)
    head = (f"blocks.{layers - 2}.", f"blocks.{layers - 1}.", "lm_head.weight")
    path = {name: folder / name for name in (*SERIES, EXTRA)}
    seen: set[bytes] = set()
    report = []

    def version(name: str, version_shapes: Shapes, produce: Producer, meta: dict[str, str]) -> None:
        novel = write_safetensors(path[name], version_shapes, produce, meta, seen)
        report.append({"file": name, "bytes": path[name].stat().st_size,
                       "novel_tensor_bytes": novel})

    version(SERIES[0], shapes, lambda n: _init(seed, n, shapes[n]), {"step": "0"})
    v0 = TensorFile(path[SERIES[0]])
    version(SERIES[1], shapes, _trained(v0, seed, 1, 0.01, lambda n: n.startswith(head)),
            {"step": "1000"})
    v1 = TensorFile(path[SERIES[1]])
    version(SERIES[2], shapes, _full_finetune(v0, seed), {"step": "1000"})
    order = np.random.default_rng([seed, 3]).permutation(len(shapes))
    names = list(shapes)
    version(SERIES[3], {names[i]: shapes[names[i]] for i in order}, v1,
            {"step": "1000", "note": "reordered"})
    grown = {n: (s[0] + EXTRA_VOCAB, *s[1:]) if n in ("embed.weight", "lm_head.weight") else s
             for n, s in shapes.items()}
    version(SERIES[4], grown, _grown_vocab(v1, seed), {"step": "1200"})
    adapters = dict(shapes)
    for i in range(layers):
        adapters[f"blocks.{i}.attn.qkv.lora_A"] = (LORA_RANK, hidden)
        adapters[f"blocks.{i}.attn.qkv.lora_B"] = (3 * hidden, LORA_RANK)
    version(SERIES[5], adapters, _with_adapters(v1, seed, hidden), {"step": "1300"})

    size = path[SERIES[0]].stat().st_size
    inserted = np.random.default_rng([seed, 6]).integers(0, 256, INSERT_BYTES, dtype=np.uint8)
    insert_bytes(path[SERIES[0]], path[SERIES[6]], size // 2 + 12345, inserted.tobytes())
    report.append({"file": SERIES[6], "bytes": path[SERIES[6]].stat().st_size,
                   "novel_tensor_bytes": INSERT_BYTES})

    version(EXTRA, shapes, _trained(v1, seed, 7, 0.01, lambda n: n.startswith(head)),
            {"step": "2000"})
    info = {"generator": GENERATOR, "size_mib": size_mib, "seed": seed, "layers": layers,
            "hidden": hidden, "versions": report}
    (folder / "workload.json").write_text(json.dumps(info, indent=1))
    return info


def ensure(folder: Path, size_mib: int = 64, seed: int = 0) -> dict:
    """The workload in `folder`, reused when it is already there whole (same generator, size,
    seed and file sizes), else generated: the 1 GiB benchmark workload takes minutes to write."""
    try:
        info = json.loads((folder / "workload.json").read_text())
        whole = ((info.get("generator"), info.get("size_mib"), info.get("seed"))
                 == (GENERATOR, size_mib, seed)
                 and [v["file"] for v in info["versions"]] == [*SERIES, EXTRA]
                 and all((folder / v["file"]).stat().st_size == v["bytes"]
                         for v in info["versions"]))
    except (OSError, ValueError, KeyError, TypeError):
        whole = False
    return info if whole else generate(folder, size_mib, seed)


def novel_bytes(info: dict, name: str) -> int:
    return next(v["novel_tensor_bytes"] for v in info["versions"] if v["file"] == name)


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(None if argv is None else list(argv))
    if args.size_mib < 1:
        ap.error("--size-mib must be 1 or more")
    print(json.dumps(ensure(args.outdir, args.size_mib, args.seed)["versions"], indent=1))


if __name__ == "__main__":
    main()
