"""`git model install` / `uninstall`: the git config and hooks git-model needs.

As with `git lfs install`, the filter and diff driver go to the user's global git
config by default (every later `git clone` restores its models during the
checkout), `--local` to one repository, `--system` to the machine. Hooks are per
repository: `install` puts them in the current one, and any git-model command or
filter puts them in a repository that has none (`ensure_hooks`), as git-lfs does.

The config names the executable by its absolute path, so that git finds it with
a virtualenv (or pipx's) not on PATH: a bare `git-model` that git cannot start
fails `git add`, and a checkout of a modified model then leaves no file at all
(git unlinks before asking the filter). `install` refreshes the path.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gitmodel.commands import adopt
from gitmodel.commands.hooks import HOOKS, any_ours, install_hooks, uninstall_hooks
from gitmodel.errors import UserError
from gitmodel.git import trust
from gitmodel.git.repo import Repo, call, run

Scope = Literal["global", "local", "system"]
SECTIONS = ("filter.model", "diff.model")


def executable() -> str:
    """The absolute path of the running `git-model` entry point (PATH's as a fallback)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "git-model" and argv0.is_file():
        return str(argv0.resolve().parent / argv0.name)  # the venv's bin, not the interpreter's
    beside = Path(sys.executable).parent / "git-model"
    if beside.is_file():
        return str(beside)
    return shutil.which("git-model") or "git-model"


def wanted_config(exe: str) -> dict[str, str]:
    """filter.model.* and diff.model.* as install writes them."""
    prog = shlex.quote(exe)  # git runs these through the shell
    return {
        "filter.model.process": f"{prog} filter-process",
        "filter.model.clean": f"{prog} clean -- %f",
        "filter.model.smudge": f"{prog} smudge -- %f",
        "filter.model.required": "true",
        # model summaries in git diff (external diff) and git log -p / show (textconv)
        "diff.model.command": f"{prog} diff-driver",
        "diff.model.textconv": f"{prog} textconv",
        # git smudges every version it hands to textconv (the whole model, through our
        # filter): caching the listing per blob makes a repeated `git log -p` cheap.
        "diff.model.cachetextconv": "true",
    }


def is_our_value(current: str, wanted: str) -> bool:
    """True when `current` is what some install of git-model wrote (any path to it)."""
    try:
        have, want = shlex.split(current), shlex.split(wanted)
    except ValueError:
        return False
    if not have or not want:
        return current == wanted
    return Path(have[0]).name == Path(want[0]).name and have[1:] == want[1:]


def _scope_args(scope: Scope, repo: Repo | None) -> tuple[list[str], Path | None]:
    if scope == "local":
        if repo is None:
            raise UserError("not in a git repository: run `git model install --local` inside one, "
                            "or `git model install` for every repository")
        return ["--local"], repo.top
    return [f"--{scope}"], None


def _get(scope: Scope, repo: Repo | None, key: str) -> str | None:
    flags, cwd = _scope_args(scope, repo)
    proc = call(["config", *flags, "--get", key], cwd=cwd)
    return proc.stdout.decode(errors="replace").rstrip("\n") if proc.returncode == 0 else None


def _current(scope: Scope, repo: Repo | None) -> dict[str, str]:
    """The filter.model.* and diff.model.* values set at `scope` (the last of each key, as
    `git config --get` answers), read with one git call instead of one per key: the
    `git model install --local` of a clone + pull made 14 config calls, 8 so (0.147 -> 0.133 s,
    medians of 12 here)."""
    flags, cwd = _scope_args(scope, repo)
    proc = call(["config", *flags, "-z", "--get-regexp", r"^(filter|diff)\.model\."], cwd=cwd)
    found: dict[str, str] = {}
    if proc.returncode == 0:  # 1: none set
        for item in proc.stdout.decode(errors="replace").split("\0"):
            key, _, value = item.partition("\n")
            if key:
                found[key] = value
    return found


def write_config(scope: Scope, repo: Repo | None, force: bool) -> None:
    """Write filter and diff config at `scope`, refusing to replace someone else's driver;
    values already as wanted are left as they are."""
    config = wanted_config(executable())
    flags, cwd = _scope_args(scope, repo)
    current = _current(scope, repo)
    if not force:
        for key, value in config.items():
            have = current.get(key)
            if have is not None and have != value and not is_our_value(have, value):
                raise UserError(f"{key} is already set to {have!r}: run `git model install "
                                "--force` to replace it")
    for key, value in config.items():
        if current.get(key) != value:
            run(["config", *flags, key, value], cwd=cwd)


@dataclass
class Installed:
    scope: Scope
    hooks_in: Path | None  # the repository whose hooks were put in place
    chained: list[str]     # user hooks that now run before git-model's


def install(repo: Repo | None, scope: Scope = "global", force: bool = False) -> Installed:
    """Write the config at `scope`; inside a repository, its hooks too (and refresh a local
    config an older install left, which would shadow the global one)."""
    write_config(scope, repo, force)
    if repo is None:
        return Installed(scope, None, [])
    if scope != "local" and _get("local", repo, "filter.model.process") is not None:
        write_config("local", repo, force)
    if trust.made_here(repo):  # a repository you created: its stages and remotes are yours
        trust.record(repo, trust.digests(trust.definitions(repo)))
    if adopt.uses_lfs(repo):
        adopt.set_lfs_hooks_aside(repo)  # before the shims: chained, they would push twice
    return Installed(scope, repo.top, install_hooks(repo, executable()))


def uninstall(repo: Repo | None, scope: Scope = "global") -> Path | None:
    """Remove the config at `scope` and, inside a repository, its hooks; the repository or None."""
    flags, cwd = _scope_args(scope, repo)
    for section in SECTIONS:
        call(["config", *flags, "--remove-section", section], cwd=cwd)
    if repo is None:
        return None
    uninstall_hooks(repo)
    adopt.give_back(repo)
    return repo.top


def ensure_hooks(repo: Repo) -> None:
    """Put the hooks in a repository that has none of them, when the filter is configured at
    any level (a clone after a global install). A hook of someone else's is left alone.
    Nothing is trusted here: the pre-commit hook only checks a clone's stages until
    `git model trust` (git/trust.py)."""
    hooks_dir = repo.hooks_dir
    if any_ours(repo):
        return
    if repo.config("filter.model.process") is None:
        return
    if repo.config("core.hooksPath") and not hooks_dir.is_dir():
        return  # hooks pointed at nothing (a way to turn them off): not ours to create
    free = [name for name in HOOKS if not (hooks_dir / name).exists()]
    install_hooks(repo, executable(), only=free)
    for name in HOOKS:
        if name not in free:
            print(f"git-model: kept your {name} hook without git-model's part: run "
                  "`git model install --local` to chain them", file=sys.stderr)


def current_repo() -> Repo | None:
    """The repository around the working directory, or None outside one."""
    try:
        return Repo.discover(os.getcwd())
    except UserError:
        return None
