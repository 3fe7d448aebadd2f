"""How much a tensor changed: differing elements, max absolute change, relative L2.

Computed piece by piece (both sides arrive as aligned pieces of raw bytes), so
memory stays bounded by a few pieces whatever the tensor's size. "Differs"
means the element's bits differ, the measure that matters for storage (a
bf16 fine-tune keeps most elements' exact bits). numpy is imported only here,
only when two tensors actually differ: start-up and the filters never load it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

_FLOATS = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}
_INTS = {"BOOL": "u1", "U8": "u1", "I8": "i1", "U16": "<u2", "I16": "<i2", "U32": "<u4",
         "I32": "<i4", "U64": "<u8", "I64": "<i8"}
_WIDTH = {"BF16": 2, "F8_E5M2": 1, "F8_E4M3": 1}


@dataclass(frozen=True)
class Change:
    """Element statistics of one changed tensor (None where the dtype has no numbers)."""

    changed: int
    total: int
    max_abs: float | None
    rel_l2: float | None

    @property
    def fraction(self) -> float:
        return self.changed / self.total if self.total else 0.0


def compare(dtype: str, old: Iterable[bytes], new: Iterable[bytes]) -> Change:
    """Statistics of new vs old, two equal-shaped tensors given as matching pieces."""
    import numpy as np
    changed = total = 0
    max_abs, diff_sq, base_sq = 0.0, 0.0, 0.0
    numeric = dtype in _FLOATS or dtype in _INTS or dtype == "BF16"
    for a_raw, b_raw in zip(old, new, strict=True):
        a_bits, b_bits = _bits(np, dtype, a_raw), _bits(np, dtype, b_raw)
        changed += int(np.count_nonzero(a_bits != b_bits))
        total += a_bits.size
        if numeric and a_bits.size:
            a, b = _values(np, dtype, a_bits), _values(np, dtype, b_bits)
            delta = b - a
            max_abs = max(max_abs, float(delta.max()), -float(delta.min()))
            diff_sq += float(np.dot(delta, delta))
            base_sq += float(np.dot(a, a))
    if not numeric:
        return Change(changed, total, None, None)
    rel = math.sqrt(diff_sq) / math.sqrt(base_sq) if base_sq else (0.0 if not diff_sq else math.inf)
    return Change(changed, total, max_abs, rel)


def _bits(np: Any, dtype: str, raw: bytes) -> Any:
    """Elements as unsigned integers of their own width: bit-exact comparison."""
    width = _WIDTH.get(dtype) or int((_FLOATS.get(dtype) or _INTS.get(dtype, "u1"))[-1])
    return np.frombuffer(raw, dtype=f"<u{width}")


def _values(np: Any, dtype: str, bits: Any) -> Any:
    """Elements as floats: float32 for 16/32-bit floats (exact, and twice as fast as
    float64; sums of a piece's squares stay well within its precision), float64 else.
    bf16's bits are the high half of a float32."""
    if dtype == "BF16":
        return (bits.astype(np.uint32) << 16).view(np.float32)
    if dtype in ("F16", "F32"):
        return bits.view(_FLOATS[dtype]).astype(np.float32)
    return bits.view(_FLOATS.get(dtype) or _INTS[dtype]).astype(np.float64)
