"""`git model install` / `uninstall`: the repository config and hooks git-model needs."""
from __future__ import annotations

from gitmodel.commands import adopt
from gitmodel.commands.hooks import install_hooks, uninstall_hooks
from gitmodel.errors import UserError
from gitmodel.git.repo import Repo

FILTER_CONFIG = {
    "filter.model.process": "git-model filter-process",
    "filter.model.clean": "git-model clean -- %f",
    "filter.model.smudge": "git-model smudge -- %f",
    "filter.model.required": "true",
}
DIFF_CONFIG = {  # model summaries in git diff (external diff) and git log -p / show (textconv)
    "diff.model.command": "git-model diff-driver",
    "diff.model.textconv": "git-model textconv",
    # git smudges every version it hands to textconv (the whole model, through our
    # filter): caching the listing per blob makes a repeated `git log -p` cheap.
    "diff.model.cachetextconv": "true",
}


def install(repo: Repo, force: bool = False) -> list[str]:
    """Write the filter and diff config and hook shims; return the user hooks now chained."""
    config = {**FILTER_CONFIG, **DIFF_CONFIG}
    if not force:
        for key, value in config.items():
            current = repo.config(key)
            if current is not None and current != value:
                raise UserError(f"{key} is already set to {current!r}: run `git model install "
                                "--force` to replace it")
    for key, value in config.items():
        repo.git("config", "--local", key, value)
    if adopt.uses_lfs(repo):
        adopt.set_lfs_hooks_aside(repo)  # before the shims: chained, they would push twice
    return install_hooks(repo)


def uninstall(repo: Repo) -> None:
    uninstall_hooks(repo)
    for section in ("filter.model", "diff.model"):
        repo.git("config", "--local", "--remove-section", section, check=False)
    adopt.give_back(repo)
