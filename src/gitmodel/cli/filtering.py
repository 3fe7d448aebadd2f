"""The filter commands git runs (`filter-process`, `clean`, `smudge`), without click.

Git starts `git-model filter-process` at the first model file of every checkout and add, and
waits for it: importing click and the command table cost 0.10-0.24 s of that wait (measured
on the benchmark machine, a busy 2-core VM), so `entry` comes here directly.
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
    """Git's long-running filter process (filter.model.process)."""
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
        return repo  # the common case, without importing install
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
