"""What changed inside a model between two versions, tensor by tensor.

Tensors are matched by name. Equal dtype, shape and fingerprint means
unchanged, decided from chunk ids when both versions are cached: nothing is
decompressed for them. Only tensors whose bytes differ are read, piece by
piece, for their element statistics.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from gitmodel.model.modelfile import ModelFile, TensorInfo
from gitmodel.model.tensorstats import Change, compare
from gitmodel.units import human, plural

STATUSES = ("changed", "reshaped", "added", "removed", "unchanged")


@dataclass(frozen=True)
class TensorDiff:
    """One tensor's fate: status, its shape on each side, and statistics if changed."""

    name: str
    status: str
    old: TensorInfo | None
    new: TensorInfo | None
    change: Change | None = None

    @property
    def now(self) -> TensorInfo:
        """The tensor as it is now, or as it was when removed (a diff has at least one side)."""
        info = self.new or self.old
        assert info is not None, "a tensor diff has at least one side"
        return info

    def as_json(self) -> dict:
        now = self.now
        out: dict = {"name": self.name, "status": self.status, "dtype": now.dtype,
                     "shape": list(now.shape), "bytes": now.nbytes}
        if self.status == "reshaped" and self.old is not None:
            out.update(from_dtype=self.old.dtype, from_shape=list(self.old.shape))
        if self.change is not None:
            out.update(elements=self.change.total, changed_elements=self.change.changed,
                       fraction_changed=self.change.fraction,
                       max_abs_change=_finite(self.change.max_abs),
                       rel_l2_change=_finite(self.change.rel_l2))
        return out

    def kind(self) -> str:
        """dtype and shape, `old -> new` for a reshaped tensor."""
        now = self.now
        text = f"{now.dtype} {list(now.shape)}"
        if self.status == "reshaped" and self.old is not None:
            text = f"{self.old.dtype} {list(self.old.shape)} -> {text}"
        return text

    def line(self, name_width: int = 0, kind_width: int = 0) -> str:
        """One row; the widths align the columns of a file's rows (as `show` does)."""
        text = f"  {self.status:<9} {self.name:<{name_width}}  {self.kind():<{kind_width}}"
        if self.change is not None:
            text += f"  {self.change.fraction:.1%} of elements differ"
            if self.change.max_abs is not None:
                text += f", max |change| {self.change.max_abs:.4g}, rel L2 {self.change.rel_l2:.4g}"
        return text.rstrip()


@dataclass
class FileDiff:
    """The tensor-level difference of one path between two sides."""

    path: str
    source: str
    target: str
    old_format: str | None
    new_format: str | None
    tensors: list[TensorDiff] = field(default_factory=list)
    metadata: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    sizes: tuple[int | None, int | None] = (None, None)

    def counts(self) -> dict[str, int]:
        return {s: sum(t.status == s for t in self.tensors) for s in STATUSES}

    def as_json(self) -> dict:
        return {"path": self.path, "from": self.source, "to": self.target,
                "format": {"from": self.old_format, "to": self.new_format},
                "metadata": {k: {"from": a, "to": b} for k, (a, b) in self.metadata.items()},
                "summary": self.counts(),
                "tensors": [t.as_json() for t in self.tensors]}

    def lines(self) -> list[str]:
        formats = " -> ".join(dict.fromkeys(f for f in (self.old_format, self.new_format) if f))
        out = [f"{self.path}: {self.source} -> {self.target} ({formats})"]
        out += [f"  metadata  {k}: {_show(a)} -> {_show(b)}" for k, (a, b) in self.metadata.items()]
        shown = [t for t in self.tensors if t.status != "unchanged"]
        name_width = max((len(t.name) for t in shown), default=0)
        kind_width = max((len(t.kind()) for t in shown), default=0)
        out += [t.line(name_width, kind_width) for t in shown]
        out.append("  " + self.summary())
        return out

    def summary(self) -> str:
        counts = self.counts()
        if not self.tensors:
            old, new = self.sizes
            return f"no tensors to compare; size {_size(old)} -> {_size(new)}"
        parts = ", ".join(f"{n} {s}" for s, n in counts.items())
        return f"{parts} (of {plural(len(self.tensors), 'tensor')})"


def diff_files(path: str, source: str, target: str, old: ModelFile | None,
               new: ModelFile | None) -> FileDiff:
    """Compare two versions (None: the path does not exist on that side)."""
    result = FileDiff(path, source, target, old.format if old else None, new.format if new else None,
                      sizes=(old.size if old else None, new.size if new else None))
    old_tensors = old.tensors if old else {}
    new_tensors = new.tensors if new else {}
    for name in sorted(old_tensors.keys() | new_tensors.keys()):
        result.tensors.append(_diff_tensor(name, old, new))
    old_meta = old.metadata if old else {}
    new_meta = new.metadata if new else {}
    for key in sorted(old_meta.keys() | new_meta.keys()):
        if old_meta.get(key) != new_meta.get(key):
            result.metadata[key] = (old_meta.get(key), new_meta.get(key))
    return result


def _diff_tensor(name: str, old: ModelFile | None, new: ModelFile | None) -> TensorDiff:
    a = old.tensors.get(name) if old else None
    b = new.tensors.get(name) if new else None
    if a is None:
        return TensorDiff(name, "added", None, b)
    if b is None:
        return TensorDiff(name, "removed", a, None)
    assert old is not None and new is not None  # a and b came from them
    if (a.dtype, a.shape, a.nbytes) != (b.dtype, b.shape, b.nbytes):
        return TensorDiff(name, "reshaped", a, b)
    if old.fingerprint(name) == new.fingerprint(name):
        return TensorDiff(name, "unchanged", a, b)
    return TensorDiff(name, "changed", a, b, compare(a.dtype, old.pieces(name), new.pieces(name)))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _show(value: str | None) -> str:
    return "(none)" if value is None else value


def _size(size: int | None) -> str:
    return "absent" if size is None else human(size)
