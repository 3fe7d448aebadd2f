"""The benchmark workload: the shared seven versions, plus one more fine-tune to push.

v0..v6 come from the project's shared generator (`shared/workloads/make_models.py`
beside the repository) so every tool and every test sees the same bytes.
The "one more version" pushed after the first push needs to be a fine-tune
whose novel bytes are known: v7 continues v1's head fine-tune (last two blocks
and lm_head trained further), written by streaming v1 so the harness never
holds a whole model.
"""
from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
V7 = "v7_more.safetensors"
V7_SEED = 7


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


def generator_script() -> Path:
    """make_models.py: $GITMODEL_WORKLOADS, else shared/workloads beside the checkout."""
    for folder in (os.environ.get("GITMODEL_WORKLOADS", ""), str(ROOT.parent / "shared" / "workloads")):
        script = Path(folder) / "make_models.py"
        if folder and script.is_file():
            return script
    raise FileNotFoundError("shared/workloads/make_models.py not found beside the checkout "
                            "(set GITMODEL_WORKLOADS to its folder)")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_models", generator_script())
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare(folder: Path, size_mib: int) -> Workload:
    """Build the workload in `folder`, or reuse it when it is already there at this size."""
    info_path = folder / "workload.json"
    if not (info_path.is_file() and json.loads(info_path.read_text())["size_mib"] == size_mib
            and (folder / V7).is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(generator_script()), str(folder),
                        "--size-mib", str(size_mib)], check=True, stdout=subprocess.DEVNULL)
        _write_v7(folder)
    info = json.loads(info_path.read_text())
    versions = [Version(f"v{i}", folder / v["file"], "model" + Path(v["file"]).suffix,
                        v["novel_tensor_bytes"]) for i, v in enumerate(info["versions"])]
    extra = Version("v7", folder / V7, "model.safetensors", info["v7_novel_tensor_bytes"])
    return Workload(size_mib, versions, extra)


def _write_v7(folder: Path) -> None:
    """v1 with its last two blocks and lm_head fine-tuned further; records the novel bytes."""
    gen = _generator()
    import numpy as np

    rng = np.random.default_rng(V7_SEED)
    info_path = folder / "workload.json"
    info = json.loads(info_path.read_text())
    src = folder / info["versions"][1]["file"]
    layers = info["layers"]
    retrained = (f"blocks.{layers - 2}.", f"blocks.{layers - 1}.", "lm_head.weight")
    novel = 0
    with open(src, "rb") as f, open(folder / (V7 + ".tmp"), "wb") as out:
        raw_len = f.read(8)
        (header_len,) = struct.unpack("<Q", raw_len)
        raw_header = f.read(header_len)
        out.write(raw_len + raw_header)
        header = json.loads(raw_header)
        entries = sorted((v["data_offsets"], k, v["shape"]) for k, v in header.items()
                         if k != "__metadata__")
        for (begin, end), name, shape in entries:
            data = f.read(end - begin)
            if name.startswith(retrained):
                weights = gen.from_bf16(np.frombuffer(data, dtype=np.uint16).reshape(shape))
                noise = 0.01 * rng.standard_normal(shape, dtype=np.float32)
                data = gen.bf16(weights + noise).tobytes()
                novel += len(data)
            out.write(data)
    os.replace(folder / (V7 + ".tmp"), folder / V7)
    info["v7_novel_tensor_bytes"] = novel
    info_path.write_text(json.dumps(info, indent=1))
