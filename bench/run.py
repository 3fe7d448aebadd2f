#!/usr/bin/env python3
"""Benchmark git-model against git-lfs and DVC on the shared workload, in one run.

    pip install -e '.[bench]'
    python bench/run.py                      # 1 GiB, 3 repetitions, all tools -> ./BENCHMARKS.md
    python bench/run.py --size-mib 8 --reps 1 --tools git-model --out /tmp/x   # smoke

The tools run one after the other on the same machine, in an order rotated
every repetition so that drift (other load, page cache, thermal) hits each
alike. Exit status 1 when any tool's run failed; the table is written anyway.
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
import traceback
from pathlib import Path

import manyfiles
import scenario
from measure import BenchError, Runner
from report import Report
from scenario import run_tool
from tools import TOOLS, Layout, ensure_dvc, isolated_env
from workload import ROOT, Workload, prepare


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024, help="model size (default 1024)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help=f"comma-separated subset of {','.join(TOOLS)} (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT,
                    help="where BENCHMARKS.md/.json/.png go (default: the repository root)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out",
                    help="scratch folder: cached workload, throwaway repositories, logs "
                         "(default bench/out)")
    ap.add_argument("--files", default="1000,3000,10000",
                    help="file counts of the many-small-files rows, comma-separated "
                         "(default 1000,3000,10000; 0: none)")
    ap.add_argument("--file-kib", type=int, default=64, help="size of each small file (default 64)")
    ap.add_argument("--changed", type=int, default=100,
                    help="files changed between the two commits of those rows (default 100)")
    ap.add_argument("--commits", type=int, default=1000,
                    help="commits of the long-history row (default 1000; 0: none)")
    ap.add_argument("--skip", default="",
                    help="optional parts to leave out, comma-separated: lfs-server, migrate "
                         "(their rows then say 'not run')")
    args = ap.parse_args(argv)
    scenario.SKIP.update(part.strip() for part in args.skip.split(",") if part.strip())
    manyfiles.SETTINGS = manyfiles.Settings(
        tuple(n for n in (int(f) for f in args.files.split(",") if f.strip()) if n > 0),
        args.file_kib, args.changed, args.commits)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in args.tools if t not in TOOLS]
    if unknown or not args.tools or args.reps < 1 or args.size_mib < 1:
        ap.error(f"bad arguments: tools must be among {', '.join(TOOLS)}, reps and size >= 1")
    return args


def warm_up(work: Workload, tools: list[str], scratch: Path) -> dict[str, str]:
    """Read the workload into the page cache and start each tool once; return versions."""
    for version in [*work.versions, work.extra]:
        with open(version.source, "rb") as f:
            while f.read(1 << 24):
                pass
    versions = {}
    for name in tools:
        lay = Layout(scratch / f"warmup-{name}")
        runner = Runner(isolated_env(lay, TOOLS[name]), scratch / f"warmup-{name}.log")
        versions[name] = runner.output(TOOLS[name].version_cmd(), lay.root).strip()
    return versions


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    if "dvc" in args.tools:
        ensure_dvc()
    work = prepare(args.work / f"workload-{args.size_mib}mib", args.size_mib)
    runs, logs = args.work / "runs", args.work / "logs"
    shutil.rmtree(runs, ignore_errors=True)
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    versions = warm_up(work, args.tools, runs)
    results: dict[str, list[dict]] = {t: [] for t in args.tools}
    failures: dict[str, list[str]] = {}
    for rep in range(args.reps):
        order = args.tools[rep % len(args.tools):] + args.tools[:rep % len(args.tools)]
        for name in order:
            tag = f"rep{rep + 1}-{name}"
            t0 = time.monotonic()
            print(f"[{rep + 1}/{args.reps}] {name} ...", end=" ", flush=True)
            try:
                results[name].append(run_tool(TOOLS[name], work, runs / tag, logs / f"{tag}.log"))
                print(f"{time.monotonic() - t0:.1f} s", flush=True)
            except (BenchError, OSError) as exc:
                failures.setdefault(name, []).append(str(exc))
                print(f"FAILED (log: {logs / tag}.log)\n{traceback.format_exc()}", flush=True)
    command = "python bench/run.py " + shlex.join(
        ["--size-mib", str(args.size_mib), "--reps", str(args.reps),
         "--tools", ",".join(args.tools), "--files", args.files, "--file-kib", str(args.file_kib),
         "--changed", str(args.changed), "--commits", str(args.commits),
         *(["--skip", args.skip] if args.skip else [])])
    report = Report(work, args.tools, results, failures, versions, command, args.reps,
                    time.monotonic() - started)
    for path in report.write(args.out, args.work):
        print(f"wrote {path}")
    shutil.rmtree(runs, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
