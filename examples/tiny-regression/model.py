"""The network, the data loader and a minimal safetensors reader/writer shared by train and evaluate.

The writer follows the safetensors format (u64 little-endian header length,
JSON header with dtype/shape/data_offsets padded to 8 bytes, then raw
little-endian tensor bytes), so `safetensors.torch.load_file` reads its files;
keeping it here means the demo needs nothing beyond torch.
"""
import json
import struct
from pathlib import Path

import torch

DTYPES = {torch.float32: "F32"}


def network(features: int, hidden: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(features, hidden), torch.nn.Tanh(),
        torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
        torch.nn.Linear(hidden, 1))


def load_csv(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    lines = Path(path).read_text().split()[1:]
    table = torch.tensor([[float(v) for v in line.split(",")] for line in lines])
    return table[:, :-1], table[:, -1:]


def save_safetensors(tensors: dict[str, torch.Tensor], path: str, metadata: dict[str, str]) -> None:
    """Write tensors in name order, so the same weights always give the same bytes."""
    header: dict = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().clone()
        data = bytes(t.untyped_storage())
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    raw = Path(path).read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    metadata = header.pop("__metadata__", {})
    body = bytearray(raw[8 + size:])
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = torch.frombuffer(body[begin:end], dtype=torch.float32).reshape(info["shape"])
    return tensors, metadata
