"""The pre-commit hook: a commit that changes what a model depends on carries the retrained model.

Policy is git config `model.onCommit`:
  run    (default) run the stale stages in order, then stage their outputs and the lock;
  check  refuse a commit whose stages are stale, naming them and the command to run;
  off    do nothing.

Most commits touch no stage at all, so the hook first asks git (one
`git diff --cached`) whether anything a stage reads or writes is staged, and
stops there when not: the hook then adds about 0.1 s to a commit. Most
repositories declare no stage: then the shim (hooks/pre-commit) does not start
this at all unless a staged model file is not a pointer. A merge
commit never retrains (the merged lock and models are the user's to resolve).
A failing stage exits with the stage's code and puts the index back exactly as
it was, so a failed commit leaves nothing half-staged behind.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.git.repo import Repo, gitmodel_key
from gitmodel.pipeline.stages import CONFIG, LOCK, Stage, covers, is_glob, load

POLICIES = ("run", "check", "off")


def policy(repo: Repo) -> str:
    value = (repo.config("model.onCommit") or "run").strip().lower()
    if value not in POLICIES:
        raise UserError(f"git config model.onCommit is {value!r}: expected one of "
                        f"{', '.join(POLICIES)}")
    return value


def pre_commit(repo: Repo) -> int:
    """The hook's exit code: 0 lets the commit go on."""
    if (repo.top / CONFIG).is_symlink():
        print(f"git-model: {CONFIG} is a symbolic link: no stage runs (replace it with a "
              "regular file)", file=sys.stderr)
        return 0
    if not (repo.top / CONFIG).is_file() or (repo.git_dir / "MERGE_HEAD").exists():
        return 0
    mode = policy(repo)
    if mode == "off" or not _may_have_stages(repo):
        return 0
    stages = load(repo.top)
    if not stages or not _touches_stages(repo, stages):
        return 0
    if mode == "check":
        return _check(repo, stages)
    waiting = _untrusted(repo, stages)
    if waiting:
        names = ", ".join(s.name for s in waiting)
        print(f"git-model: stage command(s) of {names} came with the repository and are not "
              "trusted in this clone, so commits are checked, not run: read them "
              "(`git model stages`), then `git model trust`", file=sys.stderr)
        return _check(repo, stages)
    return _run(repo, stages)


def _may_have_stages(repo: Repo) -> bool:
    """False when `.gitmodel`, as this process's config read found it, declares no stage (a
    remote only, the common case): then `load` and its git process are not needed."""
    read = repo.gitmodel_config()
    if read is None or read[0] != gitmodel_key(repo.top / CONFIG):
        return True
    return any(key.startswith("stage.") for key in read[1])


def _untrusted(repo: Repo, stages: list[Stage]) -> list[Stage]:
    """Stages whose command this clone has not trusted (git/trust.py); those this very
    commit introduces or changes are the committer's own and become trusted."""
    from gitmodel.git import trust
    known = trust.trusted(repo)
    waiting = [s for s in stages if trust.digest("stage", s.name, s.cmd) not in known]
    if not waiting:
        return []
    own = _own_definitions(repo)
    mine = [s for s in waiting if own.get(f"stage.{s.name}") == s.cmd]
    trust.record(repo, [trust.digest("stage", s.name, s.cmd) for s in mine])
    return [s for s in waiting if s not in mine]


_FOREIGN = ("SQUASH_MSG", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")


def _own_definitions(repo: Repo) -> dict[str, str]:
    """Stage commands and remote URLs that the staged `.gitmodel` adds or changes against
    HEAD; none while git is committing someone else's changes (squash, pick, rebase)."""
    from gitmodel.git import trust
    if any((repo.git_dir / name).exists() for name in _FOREIGN):
        return {}
    staged = trust.definitions(repo, f":{CONFIG}")
    before = trust.definitions(repo, f"HEAD:{CONFIG}") if repo.commit("HEAD") else {}
    return {key: value for key, value in staged.items() if before.get(key) != value}


def _touches_stages(repo: Repo, stages: list[Stage]) -> bool:
    """True when the commit changes a file some stage reads or writes, `.gitmodel` or the lock.

    (`git diff --cached` compares with HEAD, or lists every staged file before the first commit.)
    """
    staged = [p for p in repo.git("diff", "--cached", "--name-only", "--no-renames",
                                  "-z").split("\0") if p]
    watched = [p for s in stages for p in s.deps + s.products] + [CONFIG, LOCK]
    exact = {w.rstrip("/") for w in watched}
    globs = [w for w in watched if is_glob(w)]
    for path in staged:  # each staged path and its folders: one set lookup each (linear)
        parts = path.split("/")
        if any("/".join(parts[:i]) in exact for i in range(1, len(parts) + 1)):
            return True
        if any(covers(g, path) for g in globs):
            return True
    return False


def _check(repo: Repo, stages: list[Stage]) -> int:
    from gitmodel.pipeline.runner import status
    stale = [s for s in status(repo, stages, worktree=False) if s.stale]
    if not stale:
        return 0
    print("git-model: this commit changes what these stages depend on (model.onCommit=check):",
          file=sys.stderr)
    for item in stale:
        print(f"\t{item.stage.name}: {'; '.join(item.reasons)}", file=sys.stderr)
    print("run `git model run` to retrain and stage the results, then commit again",
          file=sys.stderr)
    return 1


def _run(repo: Repo, stages: list[Stage]) -> int:
    """Run stale stages; on any failure restore the index file byte for byte."""
    from gitmodel.pipeline.runner import StageFailed, run
    index = _index_path(repo)
    saved = index.read_bytes() if index.exists() else None
    try:
        ran = run(repo, stages, [], False, sys.stderr)
    except StageFailed as exc:
        _restore(index, saved)
        print(f"git-model: {exc}: commit aborted, index unchanged", file=sys.stderr)
        return exc.code
    except BaseException:
        _restore(index, saved)
        raise
    if ran:
        print(f"git-model: ran {', '.join(ran)}; their outputs and {LOCK} are part of this "
              "commit", file=sys.stderr)
    if ran and index.name.startswith("next-index-"):
        _warn_partial(stages, ran)
    return 0


def _warn_partial(stages: list[Stage], ran: list[str]) -> None:
    """`git commit PATH…` builds the commit from a temporary index that git then drops,
    so what the stages wrote is in the commit but not in the user's own index."""
    paths = [p for s in stages if s.name in ran for p in s.products] + [LOCK]
    print("git-model: this is a partial commit (git commit PATH...): your index still holds "
          f"the old outputs; run `git add {' '.join(paths)}` after it", file=sys.stderr)


def _index_path(repo: Repo) -> Path:
    """The index this commit is built from (git sets GIT_INDEX_FILE for hooks)."""
    path = Path(os.environ.get("GIT_INDEX_FILE") or repo.git("rev-parse", "--git-path",
                                                             "index").strip())
    return path if path.is_absolute() else repo.top / path


def _restore(index: Path, saved: bytes | None) -> None:
    from gitmodel.store.atomic import write_file
    if saved is None:
        index.unlink(missing_ok=True)
    else:
        write_file(index, saved)
