"""Whether `git model push` of a commit has anything to do, from this clone's record alone.

A push of a commit whose every object a recent push found on the remote answers from one
row of transfer/recent.py after one read of the remote's token. This module asks that
without the transfer machinery (engine, git-lfs client, store), so that `git model push`
with nothing new (cli/quick.py) starts in ~40 ms less than through sync and click.
"""
from __future__ import annotations

from gitmodel.git.repo import Repo
from gitmodel.transfer import remotes
from gitmodel.transfer.recent import Recent


def pushed_before(repo: Repo, backend: remotes.Backend, commit: str) -> int | None:
    """The object count of `commit` when a push of it recently found all of them on the
    remote, still unchanged (transfer/recent.py); else None. One read of the remote's token
    and one row, where listing the commit's pointers took 0.08 s at 10,000 files."""
    remotes.require_confirmed(repo, backend.remote)
    seen = Recent(repo.model_dir, backend)
    try:
        return seen.commit_seen(commit)
    finally:
        seen.close()


def head_pushed(repo: Repo) -> tuple[str, int] | None:
    """(default remote, object count) when HEAD was recently pushed whole to the default
    model remote, a storage remote (a Git LFS server keeps no token); else None: the
    push must look (commands/sync.py)."""
    name = remotes.default_name(repo)
    commit = repo.commit("HEAD")
    if name is None or commit is None:
        return None
    remote = remotes.resolve(repo, name)
    if remotes.is_lfs_url(remote.url):
        return None
    backend = remotes.open_backend(repo.top, remote)
    count = pushed_before(repo, backend, commit)
    return None if count is None else (backend.name, count)
