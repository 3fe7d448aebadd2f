"""Pipeline stages declared in `.gitmodel`: what each runs, reads and writes, and in what order.

`.gitmodel` is a git-config file committed at the repository root, so git
itself parses it (quoting, continuation lines, includes) and other sections
(`[remote]`, `[core]`, owned by other commands) live beside ours untouched:

    [stage "train"]
        cmd = python train.py
        deps = train.py
        deps = data/            # a directory: every file under it
        deps = params*.json     # a glob
        outs = model.safetensors
        metrics = metrics.json

The run order follows the data (a dep that another stage writes), never the
order in the file, so moving a section cannot change what a commit computes.
"""
from __future__ import annotations

import fnmatch
import heapq
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.git import repo as git

CONFIG = ".gitmodel"
LOCK = ".gitmodel.lock"  # written by runner.py; named here so the hook's fast path need not import it
_KEYS = ("cmd", "deps", "outs", "metrics")
_GLOB_CHARS = frozenset("*?[")


@dataclass
class Stage:
    """One `[stage "NAME"]` section."""

    name: str
    cmd: str = ""
    deps: list[str] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    @property
    def products(self) -> list[str]:
        """Every file the stage writes: models and metrics alike end up in the commit."""
        return self.outs + self.metrics


def is_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


def covers(dep: str, path: str) -> bool:
    """True when `path` is `dep`, lies under the directory `dep`, or matches the glob `dep`.

    `*` crosses `/` as in git's default pathspecs, so `git ls-files -- DEP`
    and this function select the same files.
    """
    if path == dep or path.startswith(dep.rstrip("/") + "/"):
        return True
    return is_glob(dep) and fnmatch.fnmatchcase(path, dep)


def load(top: Path) -> list[Stage]:
    """The stages of `top/.gitmodel`, in data-dependency order ([] when there is no file)."""
    path = top / CONFIG
    if not git.regular_file(path):
        return []
    proc = git.call(["config", "-f", str(path), "--list", "-z"], cwd=top)
    if proc.returncode != 0:
        raise UserError(f"{CONFIG} is not valid git-config syntax: "
                        f"{git.last_error_line(proc, 'git config failed')}")
    stages = _parse(proc.stdout.decode(errors="surrogateescape"))
    for stage in stages:
        _validate(stage)
    _check_unique_outputs(stages)
    return order(stages)


def _parse(listing: str) -> list[Stage]:
    """Stages from `git config --list -z` records (`key\\nvalue`), sections other than stage ignored."""
    stages: dict[str, Stage] = {}
    for record in filter(None, listing.split("\0")):
        key, _, value = record.partition("\n")
        section, _, rest = key.partition(".")
        if section != "stage":
            continue
        name, _, var = rest.rpartition(".")
        if not name:
            raise UserError(f"{CONFIG}: '{key}' needs a stage name: write [stage \"NAME\"]")
        if var not in _KEYS:
            raise UserError(f"{CONFIG}: unknown key '{var}' in stage {name!r} "
                            f"(expected one of {', '.join(_KEYS)})")
        stage = stages.setdefault(name, Stage(name))
        if var == "cmd":
            if stage.cmd:
                raise UserError(f"{CONFIG}: stage {name!r} has more than one cmd")
            stage.cmd = value
        else:
            getattr(stage, var).append(_clean_path(name, var, value))
    return list(stages.values())


def _clean_path(stage: str, var: str, value: str) -> str:
    """A normalized path relative to the repository root; anything outside it is refused."""
    value = value.strip()
    norm = posixpath.normpath(value) if value else ""
    if not value or norm.startswith(("/", "../")) or norm in ("..", "."):
        raise UserError(f"{CONFIG}: stage {stage!r} {var} = {value!r}: give a path inside "
                        "the repository, relative to its root")
    if norm.startswith(":") or "\n" in norm:
        # `:!x` is pathspec magic to git: `git add -- :!x` would stage every other file
        raise UserError(f"{CONFIG}: stage {stage!r} {var} = {value!r}: a path may not start "
                        "with ':' or hold a newline")
    return norm + "/" if value.endswith("/") else norm


def _validate(stage: Stage) -> None:
    if not stage.cmd.strip():
        raise UserError(f"{CONFIG}: stage {stage.name!r} has no cmd")
    for path in stage.products:
        if is_glob(path) or path.endswith("/"):
            raise UserError(f"{CONFIG}: stage {stage.name!r} output {path!r} must be a file "
                            "path, not a glob or a directory")


def _check_unique_outputs(stages: list[Stage]) -> None:
    owner: dict[str, str] = {}
    for stage in stages:
        for path in stage.products:
            if path in owner and owner[path] != stage.name:
                raise UserError(f"{CONFIG}: {path} is written by two stages, "
                                f"{owner[path]!r} and {stage.name!r}")
            owner[path] = stage.name


def upstream_map(stages: list[Stage]) -> dict[str, list[Stage]]:
    """For each stage name, the stages that write something it reads (`covers`).

    Linear in the stages and their paths: outputs are indexed under every folder that holds
    them, so a file or folder dep is one lookup; only glob deps scan the outputs. (Comparing
    every pair cost 36 s per commit at 6,000 stages.)"""
    under: dict[str, dict[str, Stage]] = {}
    for stage in stages:
        for out in stage.products:
            parts = out.split("/")
            for i in range(1, len(parts) + 1):
                under.setdefault("/".join(parts[:i]), {})[stage.name] = stage
    outputs = [(out, stage) for stage in stages for out in stage.products]
    result: dict[str, list[Stage]] = {}
    for stage in stages:
        found: dict[str, Stage] = {}
        for dep in stage.deps:
            found.update(under.get(dep.rstrip("/"), {}))
            if is_glob(dep):
                found.update((o.name, o) for out, o in outputs if fnmatch.fnmatchcase(out, dep))
        result[stage.name] = list(found.values())
    return result


def order(stages: list[Stage]) -> list[Stage]:
    """Topological order (file order among independent stages); a cycle is an error.

    Kahn's algorithm with the file position as priority: iterative, so a chain of
    thousands of stages cannot overflow Python's stack."""
    before = upstream_map(stages)
    position = {stage.name: i for i, stage in enumerate(stages)}
    waiting = {stage.name: len(before[stage.name]) for stage in stages}
    after: dict[str, list[Stage]] = {stage.name: [] for stage in stages}
    for stage in stages:
        for up in before[stage.name]:
            after[up.name].append(stage)
    ready = [(position[name], name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    done: list[Stage] = []
    while ready:
        stage = stages[heapq.heappop(ready)[0]]
        done.append(stage)
        for down in after[stage.name]:
            waiting[down.name] -= 1
            if waiting[down.name] == 0:
                heapq.heappush(ready, (position[down.name], down.name))
    if len(done) < len(stages):
        raise UserError(f"{CONFIG}: stages depend on each other in a cycle: "
                        f"{' -> '.join(_cycle(before, waiting))}")
    return done


def _cycle(before: dict[str, list[Stage]], waiting: dict[str, int]) -> list[str]:
    """One cycle among the stages left waiting, walked upstream until a name repeats."""
    name = next(n for n, count in waiting.items() if count > 0)
    path: list[str] = []
    seen: dict[str, int] = {}
    while name not in seen:
        seen[name] = len(path)
        path.append(name)
        name = next(up.name for up in before[name] if waiting[up.name] > 0)
    return path[seen[name]:] + [name]


def select(stages: list[Stage], names: list[str]) -> list[Stage]:
    """The named stages and everything upstream of them, in run order (all when none named)."""
    if not names:
        return stages
    known = {s.name: s for s in stages}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"no stage named {unknown[0]!r} in {CONFIG} "
                        f"(stages: {', '.join(known) or 'none'})")
    before = upstream_map(stages)
    wanted: set[str] = set()
    pending = [known[n] for n in names]
    while pending:
        stage = pending.pop()
        if stage.name not in wanted:
            wanted.add(stage.name)
            pending.extend(before[stage.name])
    return [s for s in stages if s.name in wanted]
