"""The benchmark harness keeps working: a tiny git-model-only run completes and writes its table.

No timing is asserted: CI machines are shared and noisy; the figures that
matter come from the full run (see the README's Benchmarks section).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git

ROOT = Path(__file__).resolve().parents[1]


def test_bench_smoke(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--size-mib", "8", "--reps", "1",
         "--tools", "git-model", "--files", "20,40", "--file-kib", "4", "--changed", "3",
         "--commits", "3", "--out", str(out), "--work", str(work)],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    table = (out / "BENCHMARKS.md").read_text()
    assert "| step | git-model | target | met |" in table
    for row in ("add + commit, v0..v6 total", "store after v0..v6", "checkout switch",
                "first status after checkout", "push v7: bytes written", "clone + pull HEAD",
                "peak RSS: checkout", "start-up", "checkout switch between v0 and v1",
                "peak RSS: checkout of the 4× file", "Git LFS server: push v7: bytes sent",
                "peak RSS: git reset --hard", "peak RSS: clone, smudging",
                "peak RSS: git reset --hard to the 4× file", "peak RSS: clone smudging the 4× file",
                "store growth from v2_full",
                "push of v2_full after v0, v1: bytes written", "checkout of v2_full",
                "migrate import: store after",
                "40 × 4 KiB files: push with nothing new", "growth exponent over 20/40 files: status",
                "40 × 4 KiB files: peak RSS of any step above",
                "growth exponent over 20/40 files: peak RSS of any step",
                "3 commits of a 4 MiB file: store"):
        assert f"| {row}" in table, row

    results = json.loads((out / "BENCHMARKS.json").read_text())["results"]["git-model"]
    assert len(results) == 1
    assert results[0]["store_bytes"] > 0 and results[0]["rss_checkout"] > 0
    assert results[0]["rss_clone_smudge_big"] > 0 and results[0]["rss_reset"] > 0
    assert results[0]["lfs_push_one_bytes"] > 0  # giftless on 127.0.0.1 took v7 whole
    assert results[0]["migrate_store_bytes"] > 0  # the migrated history checked out right
    assert results[0]["files40_store_files"] > 0 and results[0]["history_store_bytes"] > 0
    assert isinstance(results[0]["files_exp_add"], float) and results[0]["files40_rss"] > 0
    assert not (work / "runs").exists(), "throwaway repositories must be deleted"


def test_the_s3_request_count_starts_from_an_empty_bucket_each_time(repo: Path, tmp_path: Path) -> None:
    """moto keeps its buckets in the process across servers: each count resets them, so a
    second count of the same push (as the next repetition makes) counts it whole again."""
    pytest.importorskip("moto.server")
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import manyfiles
        from measure import Runner
    finally:
        sys.path.remove(str(ROOT / "bench"))
    for i in range(3):
        (repo / f"f{i}.bin").write_bytes(os.urandom(50_000))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "three")
    runner = Runner(dict(os.environ), tmp_path / "log")
    counts = [manyfiles._s3_push_requests(runner, repo) for _ in range(2)]
    assert isinstance(counts[0], int) and counts[0] > 0 and counts[1] == counts[0], counts
