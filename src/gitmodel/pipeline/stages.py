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
    if not path.is_file():
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


def upstream(stage: Stage, stages: list[Stage]) -> list[Stage]:
    """The stages that write something `stage` reads."""
    return [other for other in stages
            if any(covers(dep, out) for dep in stage.deps for out in other.products)]


def order(stages: list[Stage]) -> list[Stage]:
    """Topological order (file order among independent stages); a cycle is an error."""
    done: list[Stage] = []
    visiting: list[str] = []

    def visit(stage: Stage) -> None:
        if stage in done:
            return
        if stage.name in visiting:
            cycle = visiting[visiting.index(stage.name):] + [stage.name]
            raise UserError(f"{CONFIG}: stages depend on each other in a cycle: "
                            f"{' -> '.join(cycle)}")
        visiting.append(stage.name)
        for before in upstream(stage, stages):
            visit(before)
        visiting.pop()
        done.append(stage)

    for stage in stages:
        visit(stage)
    return done


def select(stages: list[Stage], names: list[str]) -> list[Stage]:
    """The named stages and everything upstream of them, in run order (all when none named)."""
    if not names:
        return stages
    known = {s.name: s for s in stages}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"no stage named {unknown[0]!r} in {CONFIG} "
                        f"(stages: {', '.join(known) or 'none'})")
    wanted: set[str] = set()
    pending = [known[n] for n in names]
    while pending:
        stage = pending.pop()
        if stage.name not in wanted:
            wanted.add(stage.name)
            pending.extend(upstream(stage, stages))
    return [s for s in stages if s.name in wanted]
