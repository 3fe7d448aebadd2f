"""The filter git runs (filter.model.process, .clean, .smudge), without click.

Git starts a filter process for every `git add`, every checkout that writes a model
file and every re-clean of a racily clean entry (a file written in the same second
as the index: a commit right after `git add` re-cleans it). Loading click and the
command table cost ~55 ms of the ~110 ms such a process needs before its first
answer, so `entry.py` runs `filter-process` here directly; the click commands of
`cli/main.py` call the same functions.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from gitmodel.errors import UserError

if TYPE_CHECKING:  # annotations only
    from gitmodel.filter.process import Fetch
    from gitmodel.git.repo import Repo
    from gitmodel.store.objects import Store


def filter_process() -> None:
    """Git's long-running filter process, on this process's stdin and stdout."""
    from gitmodel.filter.process import serve
    serve(filter_repo(), sys.stdin.fileno(), sys.stdout.fileno(), on_demand, write_deferred)


def filter_repo() -> Repo:
    """The repository git runs the filter in; its hooks put in place if it has none (a clone
    after a global `git model install`: post-checkout then writes the deferred files)."""
    from gitmodel.commands.hooks import any_ours
    from gitmodel.git.repo import Repo
    from gitmodel.store import alloc
    alloc.tune()
    repo = Repo.discover()
    if any_ours(repo):
        return repo  # the common case, without importing install (~10 ms)
    from gitmodel.commands.install import ensure_hooks
    try:
        ensure_hooks(repo)
    except (OSError, UserError) as exc:  # the checkout matters more than the hooks
        print(f"git-model: could not install the hooks: {exc}", file=sys.stderr)
    return repo


def write_deferred(repo: Repo, paths: list[str]) -> None:
    """Write the files the filter answered with pointers, after git exited (see `serve`)."""
    from gitmodel.commands.checkout import materialize
    materialize(repo, only=set(paths))  # exact paths, not pathspecs


def on_demand(repo: Repo, store: Store) -> Fetch:
    """The filter's fetcher for a missing object; loads fsspec only when one is missing."""
    from gitmodel.commands.sync import OnDemand
    return OnDemand(repo, store).fetch
