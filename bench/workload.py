"""The benchmark workload: seven versions committed in turn, plus one more fine-tune to push.

All eight come from `bench/models.py`, the generator the tests use too, so every
tool and every test sees the same bytes. v7 (a further head fine-tune of v1,
with known novel bytes) is committed and pushed after the first push.
"""
from __future__ import annotations

import shutil
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
    big: Path | None = None  # one file BIG_FACTOR times the model size (checkout memory row)

    @property
    def model_bytes(self) -> int:
        return self.versions[0].source.stat().st_size


BIG_FACTOR = 4
BIG_PARTS = ("v0", "v2", "v6", "v1")  # real model bytes, not one version repeated


def prepare(folder: Path, size_mib: int, big: bool = True) -> Workload:
    """Build the workload in `folder`, or reuse it when it is already there whole."""
    info = models.ensure(folder, size_mib)

    def version(i: int, name: str) -> Version:
        return Version(f"v{i}", folder / name, "model" + Path(name).suffix,
                       models.novel_bytes(info, name))

    series = [version(i, name) for i, name in enumerate(models.SERIES)]
    work = Workload(size_mib, series, version(len(series), models.EXTRA))
    if not big:
        return work
    return Workload(size_mib, series, work.extra, _big_file(folder, work))


def _big_file(folder: Path, work: Workload) -> Path:
    """BIG_FACTOR versions end to end in one opaque file, written once per workload folder."""
    path = folder / f"big-{BIG_FACTOR}x.bin"
    by_tag = {v.tag: v for v in work.versions}
    parts = [by_tag[tag].source for tag in BIG_PARTS]
    if path.is_file() and path.stat().st_size == sum(p.stat().st_size for p in parts):
        return path
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 24)
    tmp.replace(path)
    return path
