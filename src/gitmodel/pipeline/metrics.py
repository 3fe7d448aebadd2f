"""Models and metrics across history: `git model log`, `metrics`, `metrics diff`, `plot`.

Everything is read from git objects (`git cat-file --batch` with `REV:PATH`
names, one process for any number of commits), so old metrics show without a
checkout and a model's identity is its pointer's oid, without reading weights.
Metrics files are JSON or YAML (by extension) holding numbers, nested at any
depth; nested keys are joined with dots (`test.mse`), strings are ignored.
"""
from __future__ import annotations

import io
import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.git.repo import Repo, cat_batch, read_blobs, small_blobs
from gitmodel.pipeline.stages import CONFIG, load
from gitmodel.store.atomic import write_file
from gitmodel.store.pointer import MAX_POINTER_SIZE, parse
from gitmodel.units import human

WORKSPACE = "workspace"
Metrics = dict[str, float]


# -- metrics files ----------------------------------------------------------------
def flatten(value: object, prefix: str = "") -> Metrics:
    """Numbers in nested dicts and lists, keyed by their dotted path."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, (int, float)):
        return {prefix or "value": float(value)}
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    result: Metrics = {}
    for key, item in items:
        result.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return result


def parse_metrics(path: str, data: bytes, where: str) -> Metrics:
    """The numbers in one metrics file; malformed content is a one-line error."""
    is_yaml = path.endswith((".yaml", ".yml"))
    errors: tuple[type[Exception], ...] = (ValueError,)
    try:
        if is_yaml:
            yaml = _yaml()
            errors = (ValueError, yaml.YAMLError)
            body = yaml.safe_load(data)
        else:
            body = json.loads(data)
    except errors as exc:
        detail = (str(exc).strip().splitlines() or ["unreadable"])[0]
        raise UserError(f"{path} ({where}) is not valid {'YAML' if is_yaml else 'JSON'}: "
                        f"{detail}") from None
    return flatten(body)


def _yaml():
    """PyYAML, only when a metrics file is YAML (an optional extra)."""
    try:
        import yaml
    except ImportError:
        raise UserError("YAML metrics need PyYAML: pip install 'git-model[yaml]'") from None
    return yaml


def metric_files(repo: Repo) -> list[str]:
    files = [m for stage in load(repo.top) for m in stage.metrics]
    if not files:
        raise UserError(f"no stage in {CONFIG} declares metrics (add `metrics = FILE.json`)")
    return files


def metrics_at(repo: Repo, revs: list[str | None], files: list[str]) -> list[Metrics]:
    """The metrics of each revision (None: the working tree), keyed `KEY` or `FILE:KEY`."""
    names = [f"{rev}:{f}" for rev in revs if rev is not None for f in files]
    blobs = iter(cat_batch(repo.top, names))
    result = []
    for rev in revs:
        merged: Metrics = {}
        for path in files:
            data = _workspace(repo, path) if rev is None else next(blobs)
            if data is None:
                continue
            for key, value in parse_metrics(path, data, rev or WORKSPACE).items():
                merged[key if len(files) == 1 else f"{path}:{key}"] = value
        result.append(merged)
    return result


MAX_METRICS = 16 << 20  # a metrics file is a few KiB; a bigger one is not read whole


def _workspace(repo: Repo, path: str) -> bytes | None:
    """The working-tree metrics file, read with a bound; a symlink there (a clone's
    `metrics.json -> /dev/zero`) or a special file is an error, not an endless read."""
    full = repo.top / path
    try:
        st = os.lstat(full)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{path} is not a regular file (a symbolic link or a device): "
                        "metrics are read only from regular files")
    try:
        with open(full, "rb") as handle:
            data = handle.read(MAX_METRICS + 1)
    except OSError:
        return None
    if len(data) > MAX_METRICS:
        raise UserError(f"{path} is larger than {MAX_METRICS >> 20} MiB: not a metrics file")
    return data


def resolve(repo: Repo, rev: str) -> str:
    out = repo.commit(rev)
    if out is None:
        raise UserError(f"unknown revision {rev!r}")
    return out


# -- git model metrics / metrics diff ------------------------------------------------
def fmt(value: float | None, sign: bool = False) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.6g}" if sign else f"{value:.6g}"


def table(rows: list[list[str]]) -> list[str]:
    """Left-aligned first column, right-aligned numbers, two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in rows]


def show(repo: Repo, revs: list[str], as_json: bool) -> list[str]:
    """Metrics of each revision side by side (the working tree when none is given)."""
    keys: list[str | None] = [resolve(repo, r) for r in revs] or [None]
    labels = revs or [WORKSPACE]
    values = metrics_at(repo, keys, metric_files(repo))
    if as_json:  # revisions in the order asked for; each one's metrics by name
        body = {label: dict(sorted(v.items())) for label, v in zip(labels, values)}
        return [json.dumps(body, indent=2)]
    names = sorted({k for v in values for k in v})
    if not names:
        return ["no metrics found"]
    return table([["Metric", *labels]] + [[n, *(fmt(v.get(n)) for v in values)] for n in names])


def diff(repo: Repo, a: str, b: str | None, as_json: bool) -> list[str]:
    """Each metric in A and B and the change; B None is the working tree."""
    old, new = metrics_at(repo, [resolve(repo, a), resolve(repo, b) if b else None],
                          metric_files(repo))
    names = sorted(set(old) | set(new))
    delta = {n: _difference(old.get(n), new.get(n)) for n in names}
    if as_json:  # exact values: rounding is for display only
        body = {n: {"old": old.get(n), "new": new.get(n), "diff": delta[n]} for n in names}
        return [json.dumps(body, indent=2, sort_keys=True)]
    if not names:
        return ["no metrics found"]
    header = ["Metric", a, b or WORKSPACE, "Change"]
    return table([header] + [[n, fmt(old.get(n)), fmt(new.get(n)), fmt(delta[n], sign=True)]
                             for n in names])


def _difference(old: float | None, new: float | None) -> float | None:
    """new - old, exact (`fmt` rounds it to 6 significant digits for the table)."""
    if old is None or new is None:
        return None
    return new - old


# -- git model log -----------------------------------------------------------------
@dataclass
class LogEntry:
    sha: str
    subject: str
    models: list[tuple[str, str, int]]  # path, oid (or git blob id), size
    metrics: Metrics

    def as_json(self) -> dict:
        return {"commit": self.sha, "subject": self.subject, "metrics": self.metrics,
                "models": [{"path": p, "oid": o, "size": n} for p, o, n in self.models]}


def history(repo: Repo, path: str | None, limit: int | None = None) -> list[LogEntry]:
    """Commits from HEAD that changed a stage output (or PATH), newest first."""
    stages = load(repo.top)
    outs = [o for s in stages for o in s.outs]
    files = [m for s in stages for m in s.metrics]
    if path is not None:
        path = path.rstrip("/")
        outs = [path] if path not in files else []
    watched = outs + files
    if repo.commit("HEAD") is None:
        return []
    if not watched:
        return _model_history(repo, limit)
    args = ["log", "--format=%H%x00%s", *([f"-n{limit}"] if limit else []), "HEAD", "--",
            *watched]
    commits = [line.split("\0", 1) for line in repo.git(*args).splitlines() if line]
    blobs = iter(cat_batch(repo.top, [f"{sha}:{o}" for sha, _ in commits for o in outs]))
    found = metrics_at(repo, [sha for sha, _ in commits], files) if files else [{}] * len(commits)
    entries = []
    for (sha, subject), metrics in zip(commits, found):
        models = [_model(o, next(blobs), shown=path is not None) for o in outs]
        entries.append(LogEntry(sha, subject, [m for m in models if m], metrics))
    return entries


def _model_history(repo: Repo, limit: int | None) -> list[LogEntry]:
    """Commits from HEAD that added or changed a model file (filter=model by today's
    attributes), newest first, each with the pointers it wrote: what `git model log`
    shows with no stages and no PATH. One `git log --raw` and one blob read for all."""
    out = repo.git("log", "--format=%x01%H%x02%s", "--raw", "--no-renames", "--no-abbrev",
                   "-z", "HEAD")
    commits: list[tuple[str, str, list[tuple[str, str]]]] = []
    for record in filter(None, out.split("\x01")):
        header, _, raw = record.partition("\0")
        sha, _, subject = header.partition("\x02")
        fields = raw.lstrip("\n").split("\0")
        changed = [(path, meta.split()[3]) for meta, path in zip(fields[::2], fields[1::2])
                   if meta.startswith(":") and len(meta.split()) == 5 and meta.split()[4] != "D"]
        commits.append((sha, subject, changed))
    tracked = repo.filtered_paths({path for _, _, changed in commits for path, _ in changed})
    blobs = read_blobs(repo.top, small_blobs(repo.top, {blob for _, _, changed in commits
                                                         for path, blob in changed
                                                         if path in tracked}))
    entries = []
    for sha, subject, changed in commits:
        models = [(path, pointer.oid, pointer.size) for path, blob in sorted(changed)
                  if path in tracked and blob in blobs
                  and (pointer := parse(blobs[blob])) is not None]
        if models:
            entries.append(LogEntry(sha, subject, models, {}))
    return entries[:limit] if limit else entries


def _model(path: str, data: bytes | None, shown: bool) -> tuple[str, str, int] | None:
    """(path, oid, size) of a pointer; other files only when asked for by name."""
    if data is None:
        return None
    pointer = parse(data) if len(data) < MAX_POINTER_SIZE else None
    if pointer is not None:
        return path, pointer.oid, pointer.size
    return (path, "(in git)", len(data)) if shown else None


def log_lines(entries: list[LogEntry]) -> list[str]:
    lines = []
    for entry in entries:
        lines.append(f"{entry.sha[:9]} {entry.subject}")
        lines.extend(f"    {path}  {oid[:12]}  {human(size)}" for path, oid, size in entry.models)
        if entry.metrics:
            lines.append("    " + "  ".join(f"{k}={fmt(v)}" for k, v in sorted(entry.metrics.items())))
    return lines


# -- git model plot ------------------------------------------------------------------
def plot(repo: Repo, metrics: list[str], out: Path, log_scale: bool = False) -> int:
    """Draw METRICS over the commits that recorded any of them, oldest first, each commit
    labelled with its short sha and subject; return the number of commits drawn."""
    metric_files(repo)  # no stage declares metrics: say that, not what `log` would say
    entries = [e for e in reversed(history(repo, None)) if any(m in e.metrics for m in metrics)]
    missing = [m for m in metrics if not any(m in e.metrics for e in entries)]
    if missing:
        raise UserError(f"no commit has a metric named {missing[0]!r} (see `git model metrics`)")
    try:
        import matplotlib
    except ImportError:
        raise UserError("plotting needs matplotlib: pip install 'git-model[plot]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot
    fig, ax = pyplot.subplots(figsize=(max(6.4, 0.9 * len(entries)), 4.8), dpi=120)
    xs = range(len(entries))
    for metric in metrics:
        ax.plot(xs, [e.metrics.get(metric, math.nan) for e in entries], marker="o", label=metric)
    labels = [f"{e.sha[:7]} {e.subject[:28] + ('…' if len(e.subject) > 28 else '')}" for e in entries]
    ax.set_xticks(list(xs), labels, rotation=30, ha="right", fontsize=8)
    if log_scale:
        ax.set_yscale("log")
    ax.set_ylabel(metrics[0] if len(metrics) == 1 else "value")
    ax.set_title(f"{', '.join(metrics)} by commit")
    ax.grid(True, alpha=0.3)
    if len(metrics) > 1:
        ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=out.suffix.lstrip(".") or "png")
    pyplot.close(fig)
    write_file(out, buffer.getvalue())
    return len(entries)
