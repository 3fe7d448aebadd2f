"""BENCHMARKS.md, its chart and its raw numbers, from the repetitions' results.

Every figure is the median over repetitions of that repetition's value (a
step repeated inside one repetition, like the checkout switches, is first
reduced to its median for times and its maximum for peak RSS). Ratios are
git-model's median over the other tool's median; a target is checked only
where both sides were measured.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import manyfiles
from scenario import NEAR, SWITCHES
from workload import BIG_FACTOR, Workload

GM, LFS, DVC = "git-model", "git-lfs", "dvc"
MB = 1_000_000
Values = dict[str, float | str]  # tool -> median, or why there is none
Limit = Callable[[int], float]  # model bytes -> bound


@dataclass(frozen=True)
class Metric:
    """One row of the table; a target is a factor of git-lfs's figure or an absolute bound."""

    key: str
    label: str
    unit: str  # "s", "B" (bytes) or "x" (a plain ratio)
    target: str = ""
    lfs_factor: float | None = None
    limit: Limit | None = None
    of_row: tuple[str, float] | None = None  # (another row's key, factor): git-model's own

    def met(self, values: Values, model_bytes: int, table: dict[str, Values]) -> bool | None:
        """Whether git-model meets the target; None when not measured (or no target)."""
        ours = values.get(GM)
        if not isinstance(ours, float):
            return None
        if self.limit is not None:
            return ours <= self.limit(model_bytes)
        if self.of_row is not None:
            base = table.get(self.of_row[0], {}).get(GM)
            return ours <= self.of_row[1] * base if isinstance(base, float) else None
        theirs = values.get(LFS)
        if self.lfs_factor is not None and isinstance(theirs, float) and theirs > 0:
            return ours <= self.lfs_factor * theirs
        return None


def at_most(bound: float) -> Limit:
    return lambda _model: bound


def metrics(work: Workload) -> list[Metric]:
    """The table's rows, in the order of the scenario, with issue 6's targets."""
    rss = at_most(200 * MB)
    return [
        *(Metric(f"add_{v.tag}", f"add + commit {v.source.name}", "s") for v in work.versions),
        Metric("add_total", "add + commit, v0..v6 total", "s", "≤ 0.3× git-lfs", lfs_factor=0.3),
        Metric("store_bytes", "store after v0..v6", "B", "≤ 0.2× git-lfs", lfs_factor=0.2),
        Metric("store_kept", "beside it: versions kept whole (disk no work-tree file shares)", "B"),
        Metric("store_full", "store growth from v2_full (full fine-tune) alone", "B",
               "≤ 25% of its size", limit=lambda model: 0.25 * model),
        Metric("checkout", f"checkout switch (median of {len(SWITCHES)})", "s",
               "≤ 0.3× git-lfs", lfs_factor=0.3),
        Metric("checkout_near", f"checkout switch between {' and '.join(NEAR)} (a few tensors apart)",
               "s", "≤ 0.1× git-lfs", lfs_factor=0.1),
        Metric("status", "first status after checkout", "s", "≤ 0.1 s", limit=at_most(0.1)),
        Metric("reset", f"git reset --hard from {NEAR[-1]} to v2_full", "s"),
        Metric("push_all", "push v0..v6 (v1, v2, then main): time", "s"),
        Metric("push_all_bytes", "push v0..v6: bytes written", "B"),
        Metric("push_full_bytes", "push of v2_full after v0, v1: bytes written", "B",
               "≤ 25% of its size", limit=lambda model: 0.25 * model),
        Metric("push_one", "push one more fine-tune (v7): time", "s"),
        Metric("push_one_bytes", "push v7: bytes written", "B"),
        Metric("push_one_vs_novel", "push v7: bytes written / its novel bytes", "x",
               "≤ 1.2", limit=at_most(1.2)),
        Metric("push_linked_bytes", "push v0..v7: of which hardlinked, not copied", "B"),
        Metric("clone_pull", "clone + pull HEAD (v7)", "s", "≤ 0.3× git-lfs", lfs_factor=0.3),
        Metric("clone_smudge", "clone with the filter installed (its checkout smudges v7)", "s"),
        Metric("lfs_push_all", "Git LFS server (giftless): push v0..v6: time", "s"),
        Metric("lfs_push_all_bytes", "Git LFS server: push v0..v6: bytes sent", "B"),
        Metric("lfs_push_one", "Git LFS server: push v7: time", "s"),
        Metric("lfs_push_one_bytes", "Git LFS server: push v7: bytes sent", "B"),
        Metric("lfs_clone_pull", "Git LFS server: clone + pull HEAD (v7)", "s"),
        Metric("checkout_v0", "checkout of v0 (stored whole) from v2_full", "s"),
        Metric("checkout_full", "checkout of v2_full (deltas on v0) from v0", "s",
               "≤ 1.2× checkout of v0", of_row=("checkout_v0", 1.2)),
        Metric("rss_add", "peak RSS: add + commit", "B", "≤ 200 MB", limit=rss),
        Metric("rss_checkout", "peak RSS: checkout", "B", "≤ 200 MB", limit=rss),
        Metric("rss_reset", "peak RSS: git reset --hard", "B", "≤ 200 MB", limit=rss),
        Metric("checkout_big", f"checkout of one {BIG_FACTOR}× model-size file", "s"),
        Metric("rss_checkout_big", f"peak RSS: checkout of the {BIG_FACTOR}× file", "B",
               "≤ 200 MB", limit=rss),
        Metric("reset_big", f"git reset --hard to the {BIG_FACTOR}× file", "s"),
        Metric("rss_reset_big", f"peak RSS: git reset --hard to the {BIG_FACTOR}× file", "B",
               "≤ 200 MB", limit=rss),
        Metric("clone_smudge_big", f"clone smudging the {BIG_FACTOR}× file (and the model)", "s"),
        Metric("rss_clone_smudge_big", f"peak RSS: clone smudging the {BIG_FACTOR}× file", "B",
               "≤ 200 MB", limit=rss),
        Metric("rss_status", "peak RSS: status", "B", "≤ 200 MB", limit=rss),
        Metric("rss_push", "peak RSS: push", "B", "≤ 200 MB", limit=rss),
        Metric("rss_clone_pull", "peak RSS: clone + pull", "B", "≤ 200 MB", limit=rss),
        Metric("rss_clone_smudge", "peak RSS: clone, smudging", "B", "≤ 200 MB", limit=rss),
        Metric("migrate", "migrate import, raw 10-commit history: time", "s"),
        Metric("migrate_store_bytes", "migrate import: store after", "B", "≤ 0.35× git-lfs",
               lfs_factor=0.35),
        Metric("rss_migrate", "peak RSS: migrate import", "B", "≤ 200 MB", limit=rss),
        Metric("startup", "start-up (`--version`)", "s", "≤ 0.15 s", limit=at_most(0.15)),
        *many_files_metrics(),
    ]


def many_files_metrics() -> list[Metric]:
    """Rows of bench/manyfiles.py (issue 17's targets), for the file counts of this run."""
    kib, changed = manyfiles.SETTINGS.file_kib, manyfiles.SETTINGS.changed
    labels = {"add": ("add + commit all", "≤ 1.0× git-lfs", 1.0),
              "change": (f"change {changed} files: add + commit", "≤ 1.0× git-lfs", 1.0),
              "checkout": (f"checkout HEAD~1 ({changed} files differ)", "≤ 1.0× git-lfs", 1.0),
              "status": ("status (the tool's own)", "≤ 0.1 s", None),
              "push": ("first push", "", None),
              "push_noop": ("push with nothing new", "≤ 0.1 s", None),
              "clone_pull": ("clone + pull", "≤ 1.0× git-lfs", 1.0)}
    rows = []
    for n in manyfiles.SETTINGS.files:
        where = f"{n:,} × {kib} KiB files"
        for step, (label, target, factor) in labels.items():
            limit = at_most(0.1) if target == "≤ 0.1 s" else None
            rows.append(Metric(f"files{n}_{step}", f"{where}: {label}", "s", target, factor, limit))
        rows.append(Metric(f"files{n}_rss", f"{where}: peak RSS of any step above", "B",
                           "≤ 200 MB", limit=at_most(200 * MB)))
        rows.append(Metric(f"files{n}_store_bytes", f"{where}: store", "B", "≤ 0.95× git-lfs", 0.95))
        rows.append(Metric(f"files{n}_store_files", f"{where}: files in the store", "n",
                           "≤ 1.0× git-lfs", 1.0))
        rows.append(Metric(f"files{n}_s3_requests", f"{where}: requests of a first push to S3",
                           "n", f"≤ {max(1, n // 10):,}", limit=at_most(max(1, n // 10))))
    if len(manyfiles.SETTINGS.files) > 1:
        sizes = "/".join(f"{n:,}" for n in manyfiles.SETTINGS.files)
        growing = {**{step: label for step, (label, _t, _f) in labels.items()},
                   "rss": "peak RSS of any step"}
        for step, label in growing.items():
            flat = step in ("change", "checkout", "status", "push_noop", "rss")
            rows.append(Metric(f"files_exp_{step}", f"growth exponent over {sizes} files: {label}",
                               "x", "≤ 0.2" if flat else "≤ 1.0", limit=at_most(0.2 if flat else 1.0)))
    if manyfiles.SETTINGS.commits:
        commits = manyfiles.SETTINGS.commits
        rows.append(Metric("history_commit", f"{commits} commits of a 4 MiB file, 256 KiB edited "
                           "each: median commit", "s", "≤ 1.0× git-lfs", 1.0))
        rows.append(Metric("history_store_bytes", f"{commits} commits of a 4 MiB file: store", "B",
                           "≤ 0.1× git-lfs", 0.1))
    return rows


def medians(reps: list[dict], key: str) -> float | str:
    """Median over the repetitions that measured `key`; else the reason none did."""
    numbers = [r[key] for r in reps if isinstance(r.get(key), (int, float))]
    if numbers:
        return float(statistics.median(numbers))
    reasons = [r[key] for r in reps if isinstance(r.get(key), str)]
    if reasons:
        return reasons[0]
    return "not measured" if reps else "failed"


def fmt(value: float | str | None, unit: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if unit == "s":
        return f"{value:.3f} s" if value < 1 else f"{value:.2f} s"
    if unit == "B":
        return f"{value / MB:,.1f} MB"
    if unit == "n":
        return f"{value:,.0f}"
    return f"{value:.2f}"


def ratio(ours: float | str | None, theirs: float | str | None) -> float | None:
    if isinstance(ours, float) and isinstance(theirs, float) and theirs > 0:
        return ours / theirs
    return None


@dataclass
class Report:
    work: Workload
    tools: list[str]
    results: dict[str, list[dict]]  # tool -> one result per successful repetition
    failures: dict[str, list[str]]  # tool -> error messages
    versions: dict[str, str]        # tool -> its version string
    command: str
    reps: int
    seconds: float

    def rows(self) -> list[tuple[Metric, Values]]:
        return [(m, {t: medians(self.results.get(t, []), m.key) for t in self.tools})
                for m in metrics(self.work)]

    def write(self, out: Path, work_dir: Path) -> list[Path]:
        """Write BENCHMARKS.md, .json and (with matplotlib) .png into `out`."""
        out.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        written = [out / "BENCHMARKS.json"]
        written[0].write_text(json.dumps({
            "command": self.command, "size_mib": self.work.size_mib, "reps": self.reps,
            "versions": self.versions, "results": self.results, "failures": self.failures,
        }, indent=1))
        chart = chart_png(rows, out / "BENCHMARKS.png")
        if chart is not None:
            written.append(chart)
        md = out / "BENCHMARKS.md"
        md.write_text(self.markdown(rows, work_dir, chart))
        return [md, *written]

    def markdown(self, rows: list[tuple[Metric, Values]], work_dir: Path,
                 chart: Path | None) -> str:
        others = [t for t in (LFS, DVC) if t in self.tools and GM in self.tools]
        head = ["step", *self.tools, *(f"git-model / {t}" for t in others), "target", "met"]
        lines = [
            "# Benchmarks: git-model, git-lfs and DVC",
            "",
            "Generated by `bench/run.py`; do not edit by hand. Reproduce with:",
            "",
            "```",
            "pip install -e '.[bench]'",
            self.command,
            "```",
            "",
            f"Workload: `bench/models.py --size-mib {self.work.size_mib}` (seven versions, "
            f"{self.work.model_bytes / MB:,.1f} MB each) plus v7, a further head fine-tune "
            f"with {self.work.extra.novel_bytes / MB:,.1f} MB of novel tensor bytes. "
            f"{self.reps} repetition(s), tool order rotated each repetition, medians shown; "
            f"run took {self.seconds / 60:.1f} min. MB = 10^6 bytes.",
            "",
            "## Machine",
            "",
            *(f"- {line}" for line in machine(work_dir, self.versions)),
            "",
            "## Results",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        table = {metric.key: values for metric, values in rows}
        for metric, values in rows:
            ratios = [ratio(values.get(GM), values.get(t)) for t in others]
            met = metric.met(values, self.work.model_bytes, table)
            cells = [metric.label, *(fmt(values[t], metric.unit) for t in self.tools),
                     *(f"{r:.2f}×" if r is not None else "–" for r in ratios),
                     metric.target or "", {True: "yes", False: "**no**", None: ""}[met]]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", *notes(self.failures)]
        if chart is not None:
            lines += ["", f"![git-model / other tool, log scale]({chart.name})"]
        return "\n".join(lines) + "\n"


def notes(failures: dict[str, list[str]]) -> list[str]:
    lines = [
        "How each step is run (all in throwaway repositories with their own HOME and git "
        "config; no caches dropped):",
        "",
        "- add + commit: git-model and git-lfs `git add -A && git commit`; DVC `dvc add`, "
        "`git add -A`, `git commit`. v0..v5 are `model.safetensors`, v6 replaces it by "
        "`model.bin`.",
        "- store: git-model `.git/model`, git-lfs `.git/lfs/objects`, DVC `.dvc/cache` "
        "(DVC's default link type here is copy); beside it, git-model's versions kept whole "
        "(`.git/model-whole`, bounded by `model.checkout.keepWhole`, 10 GiB by default), "
        "counted where no work-tree file shares them.",
        f"- checkout: `git checkout` to {', '.join(SWITCHES)} in turn (DVC: then `dvc checkout`), "
        "the model verified byte for byte each time; status: the first `git status` right "
        "after (DVC: then `dvc status`), and the tree must be clean; then "
        f"{' and '.join(NEAR)} in turn, two versions a few tensors apart (same checks). "
        "git-model links a version it kept whole back into place; the delta rows (v0 and "
        "v2_full in turn), the reset rows and the large-file row run with "
        "`-c model.checkout.keepWhole=0`, so they time decoding. reset: `git reset --hard` "
        f"from {NEAR[-1]} (detached) to v2_full (DVC: then `dvc checkout`), same checks.",
        f"- {BIG_FACTOR}× file: v0, v2, v6 and v1 end to end as one opaque `big.bin`, committed on a "
        "branch; after a checkout without it, the timed checkout writes it back (verified, "
        "clean status after); then the same through `git reset --hard`, and the branch is pushed "
        "and cloned with smudging (below).",
        "- push: `git push` to a bare repository on this disk; git-model and git-lfs upload "
        "in the pre-push hook (git-lfs via `file://`), DVC adds `dvc push` (`--all-commits` "
        "the first time). Bytes written = growth of the remote folders (what a remote over "
        "the network would receive). A tool that hardlinks into a remote on the same file "
        "system (git-lfs's `file://` agent does) copies nothing: its push time is then not a "
        "transfer, and the \"hardlinked\" row shows how many bytes that covers.",
        "- clone + pull: `git clone`, then git-model `git model install --local && git model pull`, "
        "git-lfs `git lfs install --local && git lfs pull`, DVC `dvc pull`. Clone with the "
        "filter installed: `git clone -c filter.X.process=... -c filter.X.required=true` (what a "
        "global install sets), so git's checkout of the clone smudges the model from the remote "
        "the repository names (git-model `.gitmodel`, git-lfs `.lfsconfig`), verified and clean; "
        "DVC has no smudge filter.",
        "- Git LFS server rows: giftless 0.6.2 (local storage, waitress) on 127.0.0.1, started per "
        "run; git-model `git model push lfsbench TAGS` to a model remote at its `/info/lfs`, git-lfs "
        "`git lfs push lfsbench TAGS`; bytes sent = growth of the server's storage (an LFS server "
        "takes whole files, so both tools send the same); clone + pull: clone, point the clone at "
        "the server, pull. DVC has no LFS client.",
        "- migrate import: a plain-git history of 10 commits (setup, v0..v7 tagged, a text "
        "change) with the models committed raw, then `git model install --local && git model migrate "
        "import --everything --include='*.safetensors,*.bin'` against `git lfs install --local "
        "&& git lfs migrate import` with the same options and `git lfs checkout` (git-lfs 3.3 leaves "
        "the checked-out model as a pointer otherwise); only the migrate commands are timed; "
        "every tag's model must be a pointer after, HEAD and v2 check out byte for byte.",
        "- many small files (bench/manyfiles.py, issue 17): per file count, a fresh repository "
        "of that many files of noise in 100 folders; the change rewrites a fixed number of them "
        "(so checkout, status and the no-op push should not grow with the count); status is "
        "`git model status` / `git lfs status` after the first push (all pushed and clean), "
        "the no-op push `git model push` / `git lfs push "
        "origin main`; growth exponents are least-squares slopes of log time over log count; "
        "DVC is not run. The history rows commit one 4 MiB file N times, each time with one "
        "256 KiB region rewritten.",
        "- peak RSS: the largest single process of the step, git and hooks included "
        "(`wait4` rusage over the waited-for process tree, read by `bench/launch.py`, "
        "whose own ~9 MB is the floor of this figure), and each worker of git-model's warm "
        "server (not in that tree: it notes its own peak, `GIT_MODEL_WORKER_RSS`).",
    ]
    for tool, errors in failures.items():
        lines.append(f"- **{tool} failed in {len(errors)} repetition(s)**: "
                     f"{errors[0].splitlines()[0]}")
    return lines


def machine(work_dir: Path, versions: dict[str, str]) -> list[str]:
    """What a reader needs to compare these figures with their own."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor() or "unknown")
    mem = next((int(line.split()[1]) * 1024 for line in _read("/proc/meminfo")
                if line.startswith("MemTotal")), 0)
    fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(work_dir)],
                        capture_output=True, text=True).stdout.strip() or "unknown"
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; RAM: {mem / 2**30:.1f} GiB",
        f"disk: {fs} (work folder `{work_dir}`); kernel {platform.release()}; "
        f"Python {platform.python_version()}",
        *(f"{tool}: {version}" for tool, version in versions.items()),
    ]


def _read(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def chart_png(rows: list[tuple[Metric, Values]], path: Path) -> Path | None:
    """A bar chart of git-model's ratios; None when matplotlib (the bench extra) is absent."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        return None
    series = {t: [ratio(v.get(GM), v.get(t)) for _m, v in rows] for t in (LFS, DVC)}
    keep = [i for i in range(len(rows)) if any(s[i] for s in series.values())]
    if not keep:
        return None
    labels = [rows[i][0].label for i in keep]
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(keep) + 1.5))
    height = 0.4
    for n, (tool, values) in enumerate(series.items()):
        ys = [k + (n - 0.5) * height for k in range(len(keep))]
        ax.barh(ys, [values[i] or 0 for i in keep], height, label=f"git-model / {tool}")
    targets = [(k - 0.5 * height, rows[i][0].lfs_factor) for k, i in enumerate(keep)
               if rows[i][0].lfs_factor is not None]
    if targets:
        ax.scatter([f for _y, f in targets], [y for y, _f in targets], marker="|", s=300,
                   color="red", zorder=3, label="target vs git-lfs")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    shown = [v for values in series.values() for v in values if v]
    wide = max(shown) / min(shown) > 1000  # 1-2-5 ticks would collide over many decades
    ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}×"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_yticks(range(len(keep)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ratio (log scale; < 1 means git-model is smaller or faster)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
