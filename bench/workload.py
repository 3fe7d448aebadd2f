"""The benchmark workload: seven versions committed in turn, plus one more fine-tune to push.

All eight come from `bench/models.py`, the generator the tests use too, so every
tool and every test sees the same bytes. v7 (a further head fine-tune of v1,
with known novel bytes) is committed and pushed after the first push.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import models

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Version:
    """One model version: where the workload keeps it and the repository path it is committed as."""

    tag: str          # v0 .. v7
    source: Path      # the workload file
    path: str         # model.safetensors or model.bin in the repository
    novel_bytes: int  # bytes of tensors seen in no earlier version


@dataclass(frozen=True)
class Workload:
    size_mib: int
    versions: list[Version]  # v0..v6 in commit order
    extra: Version           # v7, committed and pushed after the first push

    @property
    def model_bytes(self) -> int:
        return self.versions[0].source.stat().st_size


def prepare(folder: Path, size_mib: int) -> Workload:
    """Build the workload in `folder`, or reuse it when it is already there whole."""
    info = models.ensure(folder, size_mib)

    def version(i: int, name: str) -> Version:
        return Version(f"v{i}", folder / name, "model" + Path(name).suffix,
                       models.novel_bytes(info, name))

    series = [version(i, name) for i, name in enumerate(models.SERIES)]
    return Workload(size_mib, series, version(len(series), models.EXTRA))
