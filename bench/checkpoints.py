"""Delta codec on a real training run: a small byte-level transformer trained on CPU,
checkpointed as safetensors every few steps, each checkpoint stored through
`Store.add_stream` against the previous one (as `git add` of the next version does)
and, for comparison, with no parent (every chunk encoded whole).

    python bench/checkpoints.py [--steps 300] [--every 25] [--lr 1e-3] [--dtype bf16]

Prints one line per checkpoint: its size, bytes stored plain, bytes stored with
deltas, and, for the changed pieces, XOR vs per-element subtraction (both byte
grouped + zstd) as shares of the raw size. Needs torch (a test extra). Trains on
the text of this checkout (README and sources), so it reads nothing outside it.
"""
from __future__ import annotations

import argparse
import io
import json
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gitmodel.store import codec  # noqa: E402
from gitmodel.store.objects import Manifest, Store  # noqa: E402

_NP = {"bf16": np.uint16, "fp32": np.uint32}


class TinyGPT(torch.nn.Module):
    """~1.2M parameters: 3 layers, width 192, byte vocabulary."""

    def __init__(self, width: int = 192, layers: int = 3, context: int = 128) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(256, width)
        self.pos = torch.nn.Parameter(torch.zeros(context, width))
        layer = torch.nn.TransformerEncoderLayer(width, 4, 4 * width, 0.0, batch_first=True)
        self.body = torch.nn.TransformerEncoder(layer, layers)
        self.head = torch.nn.Linear(width, 256)
        self.mask = torch.nn.Transformer.generate_square_subsequent_mask(context)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.pos[: x.shape[1]]
        return self.head(self.body(h, mask=self.mask[: x.shape[1], : x.shape[1]], is_causal=True))


def corpus() -> torch.Tensor:
    text = b"".join(p.read_bytes() for p in sorted((ROOT / "src").rglob("*.py")))
    return torch.frombuffer(bytearray((ROOT / "README.md").read_bytes() + text), dtype=torch.uint8)


def safetensors(model: torch.nn.Module, dtype: str) -> bytes:
    """The model's state as a safetensors file (written by hand: no extra dependency)."""
    meta, blobs, pos = {}, [], 0
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to(torch.bfloat16 if dtype == "bf16" else torch.float32).contiguous()
        data = t.view(torch.int16 if dtype == "bf16" else torch.int32).numpy().tobytes()
        meta[name] = {"dtype": dtype.upper().replace("FP32", "F32"), "shape": list(t.shape),
                      "data_offsets": [pos, pos + len(data)]}
        blobs.append(data)
        pos += len(data)
    header = json.dumps(meta).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"".join(blobs)


def subtract_share(new: bytes, old: bytes, dtype: str) -> float:
    """Per-element integer difference (wrapping), byte grouped + zstd, as a share."""
    kind = _NP[dtype]
    diff = (np.frombuffer(new, kind) - np.frombuffer(old, kind)).astype(kind).tobytes()
    return len(codec.encode(diff, np.dtype(kind).itemsize)) / len(new)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dtype", choices=sorted(_NP), default="bf16")
    ap.add_argument("--pretrain", type=int, default=0,
                    help="steps at lr 1e-3 before the first checkpoint (then --lr: a fine-tune)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data, model = corpus(), TinyGPT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(args.pretrain):
        train_step(model, opt, data)
    for group in opt.param_groups:
        group["lr"] = args.lr
    width = 2 if args.dtype == "bf16" else 4
    with tempfile.TemporaryDirectory() as tmp:
        plain, delta = Store(Path(tmp) / "plain"), Store(Path(tmp) / "delta")
        parent: Manifest | None = None
        previous: bytes | None = None
        totals = [0, 0, 0]
        for step in range(args.steps + 1):
            if step % args.every == 0:
                blob = safetensors(model, args.dtype)
                plain.add_stream(io.BytesIO(blob), name="m.safetensors")
                known = set(dict(parent.chunks)) if parent else set()
                m_delta = delta.add_stream(io.BytesIO(blob), name="m.safetensors", parent=parent)
                new = [c for c in dict(m_delta.chunks) if c not in known]
                totals[0] += len(blob)
                totals[1] += sum(plain.stored_size(c) for c in new)
                totals[2] += sum(delta.stored_size(c) for c in new)
                line = (f"step {step:4d}: {len(blob) / 1e6:.2f} MB; stored so far: plain "
                        f"{totals[1] / 1e6:6.2f} MB, with deltas {totals[2] / 1e6:6.2f} MB")
                if previous is not None:
                    body = 8 + struct.unpack("<Q", blob[:8])[0]
                    xor = len(codec.encode(_xor(blob[body:], previous[body:]), width))
                    sub = subtract_share(blob[body:], previous[body:], args.dtype)
                    line += f"; this step: xor {xor / (len(blob) - body):.1%}, subtract {sub:.1%}"
                print(line, flush=True)
                parent, previous = m_delta, blob
            loss = train_step(model, opt, data)
        print(f"{args.dtype}, lr {args.lr}, every {args.every} steps: stored with deltas "
              f"{totals[2] / totals[1]:.1%} of plain, {totals[2] / totals[0]:.1%} of raw; "
              f"final loss {loss.item():.2f}")
    return 0


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, data: torch.Tensor) -> torch.Tensor:
    x = torch.stack([data[i:i + 129].long() for i in torch.randint(0, len(data) - 130, (16,)).tolist()])
    loss = torch.nn.functional.cross_entropy(model(x[:, :-1]).reshape(-1, 256), x[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def _xor(a: bytes, b: bytes) -> bytes:
    return (np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).tobytes()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
