"""`git model prune`: delete old model versions from the local cache once a remote holds them.

The semantics of `git lfs prune`: kept are the versions of the checked-out commit and the
index, and of every commit made in the last `recent_days` days on any branch, tag or
remote-tracking branch (`git rev-list --all --since`). Anything else may go, but only
when the default model remote is seen to hold it: its manifest is asked for on the remote
(a manifest there means all of its chunks are, as pushes upload manifests last), so an
object never pushed, or lost by the remote, is kept and named. Deletion is `gc`'s: under
its lock, chunks that a kept version shares are kept, and nothing younger than the grace
period goes (a running `git add` may be using it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gitmodel.commands import gc
from gitmodel.errors import UserError
from gitmodel.git.cache import open_store
from gitmodel.git.repo import GitError, Repo, read_blobs, small_blobs
from gitmodel.store import layout
from gitmodel.store.pointer import is_oid, parse
from gitmodel.transfer import connect, lfs, remotes
from gitmodel.transfer import engine as transfer

DEFAULT_RECENT_DAYS = 10  # git lfs: lfs.fetchrecentrefsdays (7) + lfs.pruneoffsetdays (3)


@dataclass
class Plan:
    """What prune would delete and what it keeps, and why."""

    remote: str
    prunable: list[str] = field(default_factory=list)     # oids, on the remote, not recent
    not_on_remote: list[str] = field(default_factory=list)  # old, but the remote lacks them
    recent: int = 0                                         # cached versions kept as recent
    unreferenced: int = 0                                   # in no commit at all: gc's to delete
    garbage: gc.Garbage = field(default_factory=gc.Garbage)

    def as_json(self) -> dict:
        return {"remote": self.remote, "prunable": self.prunable,
                "not_on_remote": self.not_on_remote, "recent": self.recent,
                "unreferenced": self.unreferenced,
                "files": len(self.garbage.files), "bytes": self.garbage.bytes}


def _recent(repo: Repo, days: int) -> set[str]:
    """Oids of the versions in HEAD, the index and every commit of the last `days` days
    (0: HEAD and the index only)."""
    try:
        out = repo.git("rev-list", "--objects", "--all", f"--since={days}.days.ago") if days else ""
        if repo.commit("HEAD") is not None:
            out += repo.git("rev-list", "--objects", "--no-walk", "HEAD")
        out += repo.git("rev-list", "--objects", "--indexed-objects", "--no-walk")
    except GitError as exc:
        raise UserError(f"prune: git cannot list recent commits ({exc}); nothing was deleted") from None
    ids = {line.split(" ", 1)[0] for line in out.splitlines() if line}
    blobs = read_blobs(repo.top, small_blobs(repo.top, ids))
    return {p.oid for data in blobs.values() if (p := parse(data)) is not None}


def plan(repo: Repo, days: int, grace: float = gc.DEFAULT_GRACE) -> Plan:
    name = remotes.default_name(repo)
    if name is None:
        raise UserError("prune deletes only what a model remote holds, and none is configured: "
                        "`git model remote add NAME URL`, then `git model push --all`")
    store = open_store(repo)
    cached = {name for name in store.stored_names(layout.MANIFESTS) if is_oid(name)}
    recent = _recent(repo, days)
    try:
        reachable = {p.oid for p in repo.reachable_pointers()}
    except GitError as exc:
        raise UserError(f"prune: git cannot walk the history ({exc}); nothing was deleted") from None
    old = sorted((cached - recent) & reachable)
    backend = connect.open_backend(repo.top, remotes.resolve(repo, name))
    backend.require_root()
    if isinstance(backend, lfs.LfsBackend):  # whole files: its download batch says what it holds
        there = backend.held([store.read_manifest(oid).pointer for oid in old])
    else:
        there = transfer.remote_has(backend, "manifests", old)
    result = Plan(name, [o for o in old if o in there], [o for o in old if o not in there],
                  len(cached & recent), len(cached - recent - reachable))
    result.garbage, _ = gc.find_garbage(repo, grace, cached - set(result.prunable))
    return result


def prune(repo: Repo, planned: Plan, grace: float = gc.DEFAULT_GRACE) -> int:
    """Delete what `plan` found; return the bytes freed."""
    return gc.collect(repo, planned.garbage, grace)
