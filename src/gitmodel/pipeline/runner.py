"""Running stages when what they depend on changes, judged on the index (`git model run`).

What is committed is what is hashed: a stage's inputs are identified by what
the index holds, not by the working tree. A model file tracked by git-model is
staged as a pointer whose oid is the sha256 of its content ("sha256:<oid>");
any other file by its git blob id ("blob:<id>"); a directory or glob dep by a
sha256 over its files' paths and ids. Both cost one `git ls-files`, never a
read of the data.

`.gitmodel.lock` (committed beside `.gitmodel`) records, per stage, the
command, those dep ids and the ids of its outputs as of its last run. A stage
is stale when any of them differs from the index, or an output is missing.

Unstaged changes: a stage runs in the real working tree (where the user's
ignored data, caches and environment live), so before running one we refuse
when a dep differs between working tree and index, naming the file. Running on
a copy of the index instead would miss untracked inputs and copy every dep;
refusing costs one `git add` or `git stash --keep-index`. A stage that is not
run does not care: its recorded ids already describe the commit.
"""
from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import TextIO

from gitmodel.errors import UserError
from gitmodel.git import repo as git
from gitmodel.git.repo import Repo, read_blobs
from gitmodel.pipeline.stages import CONFIG, LOCK, Stage, covers, select, upstream_map
from gitmodel.store.atomic import write_file
from gitmodel.store.pointer import parse

LOCK_VERSION = 1
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")  # progress bars end in \r


class StageFailed(Exception):
    """A stage's command exited non-zero; `code` is what the hook exits with."""

    def __init__(self, stage: str, code: int) -> None:
        super().__init__(f"stage {stage!r} failed (exit code {code})")
        self.code = code


# -- what the index holds ------------------------------------------------------
class IndexView:
    """Ids of the staged files under some pathspecs, read once with `git ls-files -s`."""

    def __init__(self, repo: Repo, pathspecs: list[str]) -> None:
        self.ids: dict[str, str] = {}
        if not pathspecs:
            return
        out = repo.git("ls-files", "-s", "-z", "--full-name", "--", *pathspecs)
        blobs: dict[str, str] = {}
        for record in filter(None, out.split("\0")):
            meta, path = record.split("\t", 1)
            blobs[path] = meta.split()[1]
        filtered = repo.filtered_paths(blobs)
        pointers = read_blobs(repo.top, {blobs[p] for p in filtered})
        for path, blob in blobs.items():
            pointer = parse(pointers[blob]) if path in filtered and blob in pointers else None
            self.ids[path] = f"sha256:{pointer.oid}" if pointer else f"blob:{blob}"

    def dep_id(self, dep: str) -> str | None:
        """The id of a dep: its file's id, or a digest over a directory's or glob's files."""
        if dep in self.ids:
            return self.ids[dep]
        matched = sorted((p, i) for p, i in self.ids.items() if covers(dep, p))
        if not matched:
            return None
        digest = hashlib.sha256("".join(f"{p}\0{i}\n" for p, i in matched).encode())
        return f"tree:{digest.hexdigest()}"


def view_for(repo: Repo, stages: list[Stage]) -> IndexView:
    paths = [p for s in stages for p in s.deps + s.products]
    return IndexView(repo, list(dict.fromkeys(paths)))


# -- the lock file ---------------------------------------------------------------
def read_lock(repo: Repo) -> dict[str, dict]:
    """The per-stage records of the staged `.gitmodel.lock` ({} when there is none)."""
    proc = git.call(["cat-file", "blob", f":{LOCK}"], cwd=repo.top)
    if proc.returncode != 0:
        return {}
    try:
        body = json.loads(proc.stdout)
        stages = body["stages"]
        if body.get("version") != LOCK_VERSION or not all(map(_is_record, stages.values())):
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"{LOCK} in the index is not a lock file git-model can read: "
                        f"remove it (git rm --cached {LOCK}) and run `git model run`") from None
    return stages


def _is_record(entry: object) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("deps", {}), dict)
            and isinstance(entry.get("outs", {}), dict))


def write_lock(repo: Repo, records: dict[str, dict]) -> None:
    """Write the lock (sorted keys, so equal states give equal bytes) and stage it."""
    body = {"version": LOCK_VERSION, "stages": records}
    write_file(repo.top / LOCK, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())
    repo.git("add", "--", LOCK)


def record(stage: Stage, before: IndexView, after: IndexView) -> dict:
    """A stage's lock entry: its inputs as it read them, its outputs as it staged them."""
    return {"cmd": stage.cmd,
            "deps": {d: before.dep_id(d) for d in stage.deps},
            "outs": {o: after.ids.get(o) for o in stage.products}}


# -- staleness -----------------------------------------------------------------
def reasons(stage: Stage, locked: dict | None, view: IndexView) -> list[str]:
    """Why `stage` must run against this index; [] when it is fresh."""
    if locked is None:
        return ["never run"]
    why = []
    if locked.get("cmd") != stage.cmd:
        why.append("command changed")
    old_deps = locked.get("deps") or {}
    for dep in stage.deps:
        now = view.dep_id(dep)
        if now is None:
            why.append(f"dep {dep} is not in the index")
        elif dep not in old_deps:
            why.append(f"new dep {dep}")
        elif old_deps[dep] != now:
            why.append(f"dep {dep} changed")
    why.extend(f"dep {d} removed" for d in old_deps if d not in stage.deps)
    old_outs = locked.get("outs") or {}
    for out in stage.products:
        now = view.ids.get(out)
        if now is None:
            why.append(f"{out} is missing from the index")
        elif old_outs.get(out) != now:
            why.append(f"{out} differs from its last run")
    return why


@dataclass
class StageStatus:
    stage: Stage
    reasons: list[str]
    unstaged: list[str] = field(default_factory=list)  # its deps/outs changed in the work tree only

    @property
    def stale(self) -> bool:
        return bool(self.reasons)

    def line(self) -> str:
        state = f"stale: {'; '.join(self.reasons)}" if self.stale else "fresh"
        if self.unstaged:
            state += f" (not staged: {', '.join(self.unstaged)} changed in the working tree)"
        return f"{self.stage.name}: {state}"

    def as_json(self) -> dict:
        return {"name": self.stage.name, "stale": self.stale, "reasons": self.reasons,
                "unstaged": self.unstaged}


def status(repo: Repo, stages: list[Stage], worktree: bool = True) -> list[StageStatus]:
    """Each stage fresh or stale, with upstream staleness carried downstream; and, as DVC
    shows, which of its deps and outputs differ in the working tree (staleness itself is
    judged on the index: that is what a commit holds; the pre-commit check skips this)."""
    lock, view = read_lock(repo), view_for(repo, stages)
    changed = _worktree_changes(repo, stages) if worktree else []
    before = upstream_map(stages)
    result: dict[str, StageStatus] = {}
    for stage in stages:  # in run order: upstream stages are judged first
        why = reasons(stage, lock.get(stage.name), view)
        why += [f"upstream stage {up.name} is stale" for up in before[stage.name]
                if result[up.name].stale]
        mine = [p for p in changed if any(covers(d, p) for d in stage.deps + stage.products)]
        result[stage.name] = StageStatus(stage, why, mine)
    return list(result.values())


def _worktree_changes(repo: Repo, stages: list[Stage]) -> list[str]:
    """Paths under any stage's deps or outputs that differ from the index, or are untracked
    under a dep (two git calls for all stages)."""
    deps = list(dict.fromkeys(d for s in stages for d in s.deps))
    specs = list(dict.fromkeys(deps + [o for s in stages for o in s.products]))
    if not specs:
        return []
    changed = _split(repo.git("diff", "--name-only", "-z", "--", *specs))
    untracked = _split(repo.git("ls-files", "--others", "--exclude-standard", "-z", "--", *deps)
                       ) if deps else []
    return sorted(set(changed + untracked))


# -- running -------------------------------------------------------------------
def run(repo: Repo, stages: list[Stage], names: list[str], force: bool, out: TextIO) -> list[str]:
    """Run the stale stages among `names` (and their upstream), staging what they write.

    Staleness is judged again before each stage, against the index as the
    stages before it left it: a retrained model that came out identical does
    not make its evaluation run. Returns the names of the stages that ran.
    """
    ran: list[str] = []
    lock, view = read_lock(repo), view_for(repo, stages)
    for stage in select(stages, names):
        why = reasons(stage, lock.get(stage.name), view)
        if force and (not names or stage.name in names):
            why = why or ["forced"]
        if not why:
            continue
        _check_runnable(repo, stage, view)
        _execute(repo, stage, why, out)
        _stage_products(repo, stage)
        lock[stage.name] = record(stage, view, view_for(repo, [stage]))
        write_lock(repo, {s.name: lock[s.name] for s in stages if s.name in lock})
        ran.append(stage.name)
        view = view_for(repo, stages)  # what the next stages read has just changed
    return ran


def _check_runnable(repo: Repo, stage: Stage, view: IndexView) -> None:
    """Refuse to run on inputs the commit would not hold (see the module docstring)."""
    missing = [d for d in stage.deps if view.dep_id(d) is None]
    if missing:
        raise UserError(f"stage {stage.name!r}: dep {missing[0]} is not in the index: "
                        f"create it and `git add {missing[0]}`")
    specs = [*stage.deps, CONFIG]
    changed = _split(repo.git("diff", "--name-only", "-z", "--", *specs))
    untracked = _split(repo.git("ls-files", "--others", "--exclude-standard", "-z", "--",
                                *stage.deps))
    if changed or untracked:
        path = (changed + untracked)[0]
        raise UserError(f"stage {stage.name!r}: {path} has changes that are not staged, so "
                        f"the model would not match the commit: `git add {path}` or "
                        "`git stash --keep-index`, then retry")


def _execute(repo: Repo, stage: Stage, why: list[str], out: TextIO) -> None:
    """Run the command in the repository root, its output streamed live with a prefix."""
    print(f"git-model: stage {stage.name} ({'; '.join(why)}): running `{stage.cmd}`",
          file=out, flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(stage.cmd, shell=True, cwd=repo.top, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    _relay(proc.stdout.fileno(), f"{stage.name} | ", out)
    code = proc.wait()
    if code != 0:
        raise StageFailed(stage.name, code if code > 0 else 128 - code)
    missing = [p for p in stage.products if not (repo.top / p).is_file()]
    if missing:
        raise UserError(f"stage {stage.name!r} succeeded but did not write {missing[0]}")


def _relay(fd: int, prefix: str, out: TextIO) -> None:
    """Copy the child's output as it arrives, the prefix at the start of every line."""
    at_line_start = True
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while block := os.read(fd, 65536):
        text = decoder.decode(block)
        pieces = []
        for line in _LINE.findall(text):
            pieces.append((prefix if at_line_start else "") + line)
            at_line_start = line.endswith(("\n", "\r"))
        out.write("".join(pieces))
        out.flush()
    if not at_line_start:
        out.write("\n")
        out.flush()


def _stage_products(repo: Repo, stage: Stage) -> None:
    if stage.products:
        repo.git("--literal-pathspecs", "add", "--", *stage.products)


def _split(out: str) -> list[str]:
    return [p for p in out.split("\0") if p]
