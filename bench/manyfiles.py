"""Many small files and a long history (issue 17): costs that should follow the change.

For each file count N (`--files`, default 1000,3000,10000): N files of `--file-kib` KiB
of float16 noise in 100 folders, `*.bin` tracked, a fresh repository and remote per N. Timed:
add + commit of all, a change of `--changed` files (default 100, 1% of 10,000: add +
commit), `git checkout HEAD~1` (those files differ), the first push (`git push`, whose
hook uploads), the tool's own status (all pushed and clean, as issue 17 defines the row:
the first status in that repository), a push with nothing new, clone + pull; measured:
the largest peak RSS of those steps (issue 17: flat in the number of files), the store's
bytes and file count, and
(git-model) the HTTP requests of a first push of all N files to S3 (moto's server on
127.0.0.1, counted at the server; the target is at most 1,000 for 10,000 files). Over
the file counts, the exponent b of t = a·N^b is fitted for each timed step (1.0: linear;
the change, checkout, status and no-op push should stay near 0: the change is fixed).

`--commits` (default 1000): a 4 MiB `model.bin` committed that many times, each commit
rewriting one 256 KiB region: the median commit time and the store at the end.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import statistics
import subprocess
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure import BenchError, Runner, Sample, tree_bytes
from tools import COMMIT, Layout, Tool

STEPS = ("add", "change", "checkout", "status", "push", "push_noop", "clone_pull")
GROWING = (*STEPS, "rss")  # what an exponent is fitted for: the steps and the peak RSS
HISTORY_MODEL = 4 << 20
HISTORY_EDIT = 256 << 10


@dataclass
class Settings:
    files: tuple[int, ...] = (1000, 3000, 10000)
    file_kib: int = 64
    changed: int = 100
    commits: int = 1000


SETTINGS = Settings()


def keys() -> list[str]:
    """Every result key this module writes, in table order."""
    out = []
    for n in SETTINGS.files:
        out += [f"files{n}_{step}" for step in STEPS]
        out += [f"files{n}_rss", f"files{n}_store_bytes", f"files{n}_store_files",
                f"files{n}_s3_requests"]
    if len(SETTINGS.files) > 1:
        out += [f"files_exp_{step}" for step in GROWING]
    if SETTINGS.commits:
        out += ["history_commit", "history_store_bytes"]
    return out


def many_files_steps(tool: Tool, runner: Runner, root: Path, result: dict[str, float | str]) -> None:
    """The file-count rows for every N, then the fitted exponents, then the history rows."""
    if tool.name == "dvc":
        result.update(dict.fromkeys(keys(), "n/a (git-model and git-lfs only)"))
        return
    for n in SETTINGS.files:
        _files_run(tool, runner, Layout(root / f"files{n}"), n, result)
    if len(SETTINGS.files) > 1:
        for step in GROWING:
            points = [(n, result[f"files{n}_{step}"]) for n in SETTINGS.files]
            result[f"files_exp_{step}"] = _exponent([(n, t) for n, t in points
                                                     if isinstance(t, float)])
    if SETTINGS.commits:
        _history(tool, runner, root / "history", result)


def _exponent(points: list[tuple[int, float]]) -> float | str:
    """Least-squares slope of log t over log N."""
    if len(points) < 2:
        return "n/a (fewer than two sizes measured)"
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(max(t, 1e-6)) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def _write(repo: Path, index: int, seed: int) -> None:
    folder = repo / f"d{index % 100:02d}"
    folder.mkdir(exist_ok=True)
    (folder / f"f{index:05d}.bin").write_bytes(_noise(seed * 1_000_003 + index))


def _noise(seed: int) -> bytes:
    """A file of float16 Gaussian noise, as a shard of weights or activations would be
    (compresses to ~86% with byte grouping; random bytes would not compress at all)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    return rng.standard_normal((SETTINGS.file_kib << 10) // 2, dtype=np.float32).astype(np.float16).tobytes()


def _files_run(tool: Tool, runner: Runner, lay: Layout, n: int, result: dict[str, float | str]) -> None:
    try:
        tool.setup(runner, lay)
        for i in range(n):
            _write(lay.repo, i, 0)
        out = {"add": tool.add_commit(runner, lay.repo, ".", "all")}
        step = max(1, n // SETTINGS.changed)
        for i in range(0, n, step)[:SETTINGS.changed]:
            _write(lay.repo, i, 1)
        out["change"] = tool.add_commit(runner, lay.repo, ".", "a few changed")
        out["checkout"] = tool.checkout(runner, lay.repo, "HEAD~1")
        probe = lay.repo / "d00" / "f00000.bin"
        expected = _noise(0)
        if probe.read_bytes() != expected:
            raise BenchError(f"{tool.name}: checkout HEAD~1 left a wrong {probe.name}")
        runner.output(["git", "checkout", "-q", "main"], lay.repo)
        out["push"] = tool.push(runner, lay.repo, first=True)
        out["status"] = _status(tool, runner, lay.repo)  # all pushed and clean
        out["push_noop"] = runner.run(_noop_push(tool), lay.repo)
        out["clone_pull"] = tool.clone_pull(runner, lay)
        for step, sample in out.items():
            result[f"files{n}_{step}"] = sample.seconds
        result[f"files{n}_rss"] = float(max(sample.peak_rss for sample in out.values()))
        store = lay.repo / tool.store
        result[f"files{n}_store_bytes"] = tree_bytes(store)
        result[f"files{n}_store_files"] = sum(len(f) for _, _, f in os.walk(store))
        result[f"files{n}_s3_requests"] = (_s3_push_requests(runner, lay.repo)
                                           if tool.name == "git-model" else "n/a (git-model only)")
    finally:
        shutil.rmtree(lay.root, ignore_errors=True)


def _s3_push_requests(runner: Runner, repo: Path) -> int | str:
    """Requests that `git model push` of every object makes to a fresh S3 bucket, counted
    by a WSGI wrapper around moto's server (the one tests/ start). moto keeps its buckets
    in the process, across servers: it is reset before the push (a later repetition found
    the earlier one's packs there and counted 11 requests for 10,000 files, not ~25) and
    after it (they hold every file's bytes)."""
    try:
        import boto3
        from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server
    except ImportError:
        return "n/a (moto not installed: pip install -e '.[test]')"
    app = DomainDispatcherApplication(create_backend_app)
    count = [0]

    def counting(environ: dict, start_response: Any) -> Any:
        count[0] += 1
        return app(environ, start_response)

    class Quiet(MotoRequestHandler):
        def log_request(self, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, counting, True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    keys = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1"}
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    try:
        urllib.request.urlopen(reset).close()
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(Bucket="bench")
        runner.output(["git", "config", "model.remote.s3.url", "s3://bench/models"], repo)
        env = {**(runner.env or os.environ), **keys, "AWS_ENDPOINT_URL": endpoint}
        count[0] = 0
        subprocess.run(["git", "model", "push", "--all", "s3"], cwd=repo, env=env, check=True,
                       capture_output=True)
        return count[0]
    finally:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(reset).close()
        server.shutdown()


def _status(tool: Tool, runner: Runner, repo: Path) -> Sample:
    """The tool's own status command (what `git model status` / `git lfs status` cost)."""
    cmd = ["git", "model", "status"] if tool.name == "git-model" else ["git", "lfs", "status"]
    return runner.run(cmd, repo)


def _noop_push(tool: Tool) -> list[str]:
    if tool.name == "git-model":
        return ["git", "model", "push"]
    return ["git", "lfs", "push", "origin", "main"]


def _history(tool: Tool, runner: Runner, lay_root: Path, result: dict[str, float | str]) -> None:
    """`--commits` commits of one 4 MiB opaque file, each rewriting a 256 KiB region."""
    lay = Layout(lay_root)
    try:
        tool.setup(runner, lay)
        rng = random.Random(7)
        model = bytearray(rng.randbytes(HISTORY_MODEL))
        target = lay.repo / "model.bin"
        times = []
        for i in range(SETTINGS.commits):
            at = rng.randrange(0, HISTORY_MODEL - HISTORY_EDIT)
            model[at:at + HISTORY_EDIT] = rng.randbytes(HISTORY_EDIT)
            target.write_bytes(model)
            times.append(runner.steps([["git", "add", "model.bin"], [*COMMIT, f"edit {i}"]],
                                      lay.repo).seconds)
        result["history_commit"] = statistics.median(times)
        result["history_store_bytes"] = tree_bytes(lay.repo / tool.store)
    finally:
        shutil.rmtree(lay.root, ignore_errors=True)
