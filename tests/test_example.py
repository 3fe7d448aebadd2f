"""The real example (examples/tiny-regression, PyTorch) through a real commit, when torch is installed."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import struct

import pytest

from conftest import ROOT, git, gm

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                reason="torch is not installed (pip install torch==2.13.0)")


def test_tiny_regression_commit_trains_evaluates_and_is_deterministic(repo, monkeypatch):
    monkeypatch.setenv("PYTHONWARNINGS", "ignore:Failed to initialize NumPy")
    shutil.copytree(ROOT / "examples" / "tiny-regression", repo, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "data", "model.safetensors",
                                                  "metrics.json", ".gitmodel.lock"))
    params = json.loads((repo / "params.json").read_text())
    (repo / "params.json").write_text(json.dumps({**params, "epochs": 100}))  # keep it quick
    git(repo, "add", "-A")
    proc = git(repo, "commit", "-m", "tiny regression")
    for stage in ("prepare", "train", "evaluate"):
        assert f"git-model: stage {stage} (never run)".encode() in proc.stderr
    model = (repo / "model.safetensors").read_bytes()
    pointer = git(repo, "cat-file", "blob", "HEAD:model.safetensors").stdout.decode()
    assert f"oid sha256:{hashlib.sha256(model).hexdigest()}" in pointer
    (header_size,) = struct.unpack("<Q", model[:8])
    header = json.loads(model[8:8 + header_size])
    assert header["0.weight"] == {"dtype": "F32", "shape": [32, 8],
                                  "data_offsets": header["0.weight"]["data_offsets"]}
    metrics = json.loads(git(repo, "cat-file", "blob", "HEAD:metrics.json").stdout)
    assert metrics["test"]["r2"] > 0.9
    out = gm(repo, "run", "train", "--force").stdout.decode()
    assert out.endswith("ran train; outputs and .gitmodel.lock staged\n")  # evaluate: same model
    assert (repo / "model.safetensors").read_bytes() == model
    assert git(repo, "status", "--porcelain").stdout == b""
