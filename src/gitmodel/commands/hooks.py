"""Git hooks: putting the shims from `hooks/` in place, and what each hook does.

The shims are tiny shell scripts that call `git-model hook NAME`. A hook the
user already had is kept: it is renamed `<name>.before-git-model` and the shim
runs it first, with the same arguments and standard input, failing the same way.
`core.hooksPath` is honoured because git tells us where hooks live.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.git.repo import Repo
from gitmodel.units import plural

HOOKS = ("pre-commit", "post-checkout", "post-merge", "pre-push")
MARKER = "installed by `git model install`"
SUFFIX = ".before-git-model"


def _template(name: str) -> str:
    """The shim text, from the installed package or, in a source checkout, `hooks/`."""
    from importlib import resources  # only when writing hooks: not on every command's path
    packaged = resources.files("gitmodel").joinpath("hooks").joinpath(name)
    if packaged.is_file():
        return packaged.read_text()
    source = Path(__file__).resolve().parents[3] / "hooks" / name
    if source.is_file():
        return source.read_text()
    raise UserError(f"the {name} hook template is missing from this installation: reinstall git-model")


def is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def any_ours(repo: Repo) -> bool:
    """Whether one of git-model's shims is in place (then `ensure_hooks` has nothing to do)."""
    return any(is_ours(repo.hooks_dir / name) for name in HOOKS)


def shim(name: str, exe: str) -> str:
    """The shim for hook `name`, calling git-model at `exe` (its absolute path: a venv need not
    be on PATH), or `git-model` from PATH when that path is gone (a reinstall elsewhere)."""
    text = _template(name)
    text = text.replace("command -v git-model", 'command -v "$git_model"')
    text = text.replace("git-model hook", '"$git_model" hook')
    locate = f'git_model={shlex.quote(exe)}; [ -x "$git_model" ] || git_model=git-model\n'
    return text.replace("\nprevious=", f"\n{locate}previous=", 1)


def install_hooks(repo: Repo, exe: str = "git-model", only: tuple[str, ...] | list[str] = HOOKS
                  ) -> list[str]:
    """Install the shims (`only` those); return the names of user hooks that now run first."""
    repo.hooks_dir.mkdir(parents=True, exist_ok=True)
    chained = []
    for name in only:
        target = repo.hooks_dir / name
        if target.exists() and not is_ours(target):
            previous = target.with_name(name + SUFFIX)
            if previous.exists():
                raise UserError(f"both {target} and {previous} exist: merge them by hand, "
                                "then run `git model install` again")
            os.replace(target, previous)
            chained.append(name)
        temp = target.with_name(f".{name}.git-model-tmp")
        temp.write_text(shim(name, exe))
        temp.chmod(0o755)
        os.replace(temp, target)  # a hook git runs meanwhile is the old one or the new, whole
    return chained


def uninstall_hooks(repo: Repo) -> None:
    """Remove our shims and put back the hooks they had replaced."""
    for name in HOOKS:
        target = repo.hooks_dir / name
        if is_ours(target):
            target.unlink()
        previous = target.with_name(name + SUFFIX)
        if previous.exists() and not target.exists():
            os.replace(previous, target)


def run_hook(repo: Repo, name: str, args: list[str]) -> int:
    """Run git-model's part of hook `name`; the return value is the hook's exit code."""
    if name in ("post-checkout", "post-merge"):
        if repo.operation_in_progress():
            return 0  # its index is in memory: touching files or index would break it
        # heavy (the store): imported only here
        from gitmodel.commands.checkout import materialize, written_by_git
        _, missing = materialize(repo, only=written_by_git(repo))
        if missing and repo.config_bool("model.smudge.strict", False):
            # the filter named each file; the checkout itself is complete
            print(f"git-model: error: {plural(len(missing), 'model file')} left as pointers "
                  "(model.smudge.strict is set): run `git model pull` to fetch them", file=sys.stderr)
            return 1
        return 0
    if name == "pre-commit":
        from gitmodel.pipeline.precommit import pre_commit
        return refuse_raw(repo) or pre_commit(repo)
    if name == "pre-push":
        from gitmodel.commands.sync import pre_push
        return pre_push(repo, args[0] if args else "origin", sys.stdin.read().splitlines())
    raise UserError(f"unknown hook {name!r}: expected one of {', '.join(HOOKS)}")


def refuse_raw(repo: Repo) -> int:
    """1 (and why, on stderr) when the commit would store a tracked file's content in Git."""
    from gitmodel.git import raw
    found = raw.staged(repo)
    if not found:
        return 0
    paths = " ".join(shlex.quote(r.path) for r in found)
    fix = f"`git add --renormalize -- {paths}`"
    if raw.filter_missing(repo):
        fix = f"`git model install`, then {fix}"
    print(f"git-model: this commit would store {len(found)} tracked model file(s) raw in Git "
          f"({', '.join(r.path for r in found[:3])}{', ...' if len(found) > 3 else ''}): "
          f"run {fix}, then commit", file=sys.stderr)
    return 1
