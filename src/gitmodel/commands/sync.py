"""Which objects `push`, `fetch`, `pull`, `get`, the pre-push hook and on-demand checkout move.

This module turns revisions, ref updates and paths into pointers; `transfer`
moves them. The pre-push hook pushes the pointers that the pushed commits
bring and the git remote does not have yet (`git rev-list --objects NEW --not
OLD`): its cost follows what changed, not the length of history.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
import sqlite3
import stat
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

from gitmodel.commands import adopt, pushed
from gitmodel.commands.checkout import Materializer
from gitmodel.commands.statuscache import listing_digest
from gitmodel.errors import UserError
from gitmodel.git import repo as git
from gitmodel.git.cache import open_store
from gitmodel.git.repo import Entry, GitError, Repo, cat_batch, listed_files, read_blobs, small_blobs
from gitmodel.store.atomic import atomic_output
from gitmodel.store.objects import Store
from gitmodel.store.pointer import MAX_POINTER_SIZE, Pointer, parse
from gitmodel.transfer import connect, lfs, remotes
from gitmodel.transfer import engine as transfer
from gitmodel.transfer.recent import Recent


def _is_zero(object_id: str) -> bool:
    """git's "no object" id: 40 zeros, or 64 in a SHA-256 repository."""
    return not object_id.strip("0")


def _labels(entries: Iterable[Entry]) -> dict[Pointer, str]:
    """pointer -> a path that holds it (for messages), empty files left out."""
    result: dict[Pointer, str] = {}
    for entry in entries:
        if entry.pointer.size:
            result.setdefault(entry.pointer, entry.path)
    return result


def _default_remote(repo: Repo) -> remotes.Remote | None:
    """The default model remote; in a repository git-model took over from git-lfs with none
    configured, the LFS endpoint git-lfs would use."""
    name = remotes.default_name(repo)
    if name is not None:
        return remotes.resolve(repo, name)
    if lfs.adopted(repo) or repo.config("lfs.url"):
        url = lfs.derived_endpoint(repo)
        if url:
            return remotes.Remote("lfs", url)
    return None


def _connect(repo: Repo, name: str | None, download: bool = False) -> remotes.Backend:
    remote = remotes.resolve(repo, name) if name is not None else _default_remote(repo)
    if remote is None:
        remote = remotes.resolve(repo, None)  # raises: "no model remote configured"
    backend = connect.open_backend(repo.top, remote)
    if not backend.local:  # a directory remote's indexes are as near as a copy would be
        backend.index_cache = repo.model_dir / "remote-packs" / remotes.url_digest(remote.url)
    if download:
        backend.require_root()
    return backend


def split_remote(repo: Repo, args: Sequence[str]) -> tuple[str | None, list[str]]:
    """`[REMOTE] [REV...]`, as `git fetch`: the first argument is a remote when one has
    that name (in today's configuration), else a revision."""
    names = [r.name for r in remotes.list_remotes(repo)]
    if args and args[0] in names:
        return args[0], list(args[1:])
    if args and repo.commit(args[0]) is None:
        raise UserError(f"{args[0]!r} is neither a model remote ({', '.join(names) or 'none configured'}) "
                        "nor a revision")
    return None, list(args)


def _select(entries: list[Entry], include: Sequence[str], exclude: Sequence[str]) -> list[Entry]:
    """Entries whose path matches an --include glob (all when none) and no --exclude glob."""
    return [e for e in entries
            if (not include or any(fnmatch.fnmatch(e.path, g) for g in include))
            and not any(fnmatch.fnmatch(e.path, g) for g in exclude)]


def _rev_entries(repo: Repo, revs: Sequence[str]) -> list[Entry]:
    entries: list[Entry] = []
    for rev in revs or ["HEAD"]:
        if repo.commit(rev) is None:
            raise UserError(f"unknown revision {rev!r}")
        entries += repo.tree_entries(rev)
    return entries


# -- push ------------------------------------------------------------------------------
def push(repo: Repo, args: Sequence[str], everything: bool,
         verify: bool = False, dry_run: bool = False) -> tuple[str, transfer.Stats]:
    """Push the objects of REVs (default HEAD), or of everything reachable with --all;
    `verify` also checks every chunk of what the remote already has; `dry_run` only
    counts what would be uploaded."""
    name, revs = split_remote(repo, args)
    if everything and revs:
        raise UserError("give either --all or revisions, not both")
    backend = _connect(repo, name)
    if everything:
        pointers = {p: f"object {p.short}" for p in repo.reachable_pointers()}
        return backend.name, _push(repo, backend, pointers, verify, dry_run)
    commit = _one_commit(repo, revs) if not (verify or dry_run) else None
    if commit is not None and (count := _pushed_before(repo, backend, commit)) is not None:
        return backend.name, transfer.Stats(up_to_date=count)
    entries = _rev_entries(repo, revs)
    pointers = _labels(entries)
    whole = {commit: {p.oid for p in pointers if p.size}} if commit is not None else {}
    stats = _push(repo, backend, pointers, verify, dry_run, whole)
    if not dry_run:
        _settle(repo, backend, {e.blob: e.pointer for e in entries})
    return backend.name, stats


def _one_commit(repo: Repo, revs: Sequence[str]) -> str | None:
    """The commit of a push of one revision (the usual `git model push`), else None."""
    if len(revs) > 1:
        return None
    commit = repo.commit(revs[0] if revs else "HEAD")
    if commit is None:
        raise UserError(f"unknown revision {(revs or ['HEAD'])[0]!r}")
    return commit


def _pushed_before(repo: Repo, backend: remotes.Backend, commit: str) -> int | None:
    """`pushed.pushed_before`, for a storage remote (a Git LFS server keeps no token)."""
    if isinstance(backend, lfs.LfsBackend):
        return None
    return pushed.pushed_before(repo, backend, commit)


def _push(repo: Repo, backend: remotes.Backend, pointers: dict[Pointer, str],
          verify: bool = False, dry_run: bool = False, whole: dict[str, set[str]] | None = None
          ) -> transfer.Stats:
    """Push `pointers`; `whole`: commits whose every object is among them (commit -> the
    oids of its tree), remembered once pushed."""
    if not dry_run:
        remotes.require_confirmed(repo, backend.remote)
    known = transfer.Known(repo.model_dir, backend.remote.url)
    try:
        if isinstance(backend, lfs.LfsBackend):
            return lfs.push(open_store(repo), backend, known, pointers, dry_run)
        return _push_checked(repo, backend, known, pointers, verify, dry_run, whole or {})
    finally:
        known.close()


def _push_checked(repo: Repo, backend: remotes.Backend, known: transfer.Known,
                  pointers: dict[Pointer, str], verify: bool, dry_run: bool,
                  whole: dict[str, set[str]]) -> transfer.Stats:
    """Push what the remote is not recently seen to hold (transfer/recent.py: one read of
    its generation token instead of a listing of every pushed manifest), then remember it."""
    if not any(p.size for p in pointers):  # nothing that needs the remote: no request
        return transfer.push(open_store(repo), backend, known, pointers, verify, dry_run)
    seen = Recent(repo.model_dir, backend)
    try:
        trusted = set() if verify else seen.seen(p.oid for p in pointers if p.size)
        rest = {p: label for p, label in pointers.items() if p.oid not in trusted}
        stats = transfer.push(open_store(repo), backend, known, rest, verify, dry_run)
        stats.up_to_date += len(pointers) - len(rest)
        if not dry_run:
            seen.checked([p.oid for p in rest if p.size], uploaded=stats.objects > 0)
            for commit, oids in whole.items():
                seen.commit_checked([commit], oids)
        return stats
    finally:
        seen.close()


def pre_push(repo: Repo, git_remote: str, lines: Iterable[str]) -> int:
    """The pre-push hook: upload what the pushed commits reference; fail the push if we can't."""
    blobs, whole = _pushed_pointers(repo, git_remote, lines)
    pointers = {p: f"object {p.short}" for p in blobs.values()}
    if not pointers:
        return 0
    if _default_remote(repo) is None:
        print(f"git-model: warning: {len(pointers)} model object(s) pushed as pointers only: no "
              "model remote is configured (git model remote add NAME URL)", file=sys.stderr)
        return 0
    try:
        backend = _connect(repo, None)
        stats = _push(repo, backend, pointers, whole=whole)
        _settle(repo, backend, blobs)
    except UserError as exc:
        print(f"git-model: pre-push: {exc}", file=sys.stderr)
        print("git-model: the push was stopped so that nobody gets pointers without their "
              "objects; fix the above and push again", file=sys.stderr)
        return 1
    print(f"git-model: {stats.summary('uploaded', backend.name)}", file=sys.stderr)
    return 0


def _pushed_pointers(repo: Repo, git_remote: str, lines: Iterable[str]
                     ) -> tuple[dict[str, Pointer], dict[str, set[str]]]:
    """Pointer blobs (id -> pointer) that the ref updates on stdin bring to the git remote,
    and the pushed commits all of whose objects are among them (commit -> its tree's oids): those a first
    push sends, where nothing is on the git remote to leave out. Remembered by the push
    (transfer/recent.py), they let a `git model push` after `git push` answer from one row
    instead of listing 10,000 pointers again (0.30 s of CPU -> 0.08 s)."""
    blobs: set[str] = set()
    firsts: list[str] = []
    for line in lines:
        fields = line.split()
        if len(fields) != 4 or _is_zero(fields[1]):
            continue  # malformed, or a deleted ref
        local, remote_sha = fields[1], fields[3]
        known_there = not _is_zero(remote_sha) and repo.commit(remote_sha) is not None
        exclude = [remote_sha] if known_there else [f"--remotes={git_remote}"]
        out = repo.git("rev-list", "--objects", local, "--not", *exclude)
        # "<id> <path>" for trees and blobs; commits have no path
        blobs.update(row.split(" ", 1)[0] for row in out.splitlines() if " " in row)
        if not known_there and not repo.git("for-each-ref", "--count=1", f"refs/remotes/{git_remote}/"):
            firsts.append(local)  # nothing left out: every object of `local` was listed
    data = read_blobs(repo.top, small_blobs(repo.top, blobs))
    parsed = {blob: p for blob, raw in data.items() if (p := parse(raw)) is not None and p.size}
    whole = {commit: {parsed[b].oid for b in repo.tree_blobs(commit) if b in parsed}
             for commit in firsts}
    return parsed, whole


def _settle(repo: Repo, backend: remotes.Backend, blobs: dict[str, Pointer]) -> None:
    """After a push to the default remote: record the pushed blobs whose objects are now
    known there and cached here (commands/settled.py), so that the status after it looks
    none of them up (10,000 files: 0.11 -> 0.07 s, for ~20 ms of the push), and whether
    that settles the index's model files whole (then it does not even list them)."""
    name = remotes.default_name(repo)
    if name is None or remotes.resolve(repo, name).url != backend.remote.url:
        return  # status looks at the default remote only
    from gitmodel.commands.settled import Settled
    store = open_store(repo)
    sized = {blob: p for blob, p in blobs.items() if p.size}
    try:  # a hint: failing to keep it must not fail the push
        settled = Settled(repo, store, backend.remote.url)  # before the facts it records
        known = transfer.Known(repo.model_dir, backend.remote.url)
        try:
            there = known.having(p.oid for p in sized.values())
        finally:
            known.close()
        packed, missing = store.manifest_places(there)
        listing = repo.model_listing()
    except (sqlite3.Error, OSError, GitError):
        return
    new = {blob: "" if p.oid in packed else p.oid for blob, p in sized.items()
           if p.oid in there and p.oid not in missing}
    index = {blob for _, blob in listed_files(listing)}
    whole = listing_digest(listing) if index <= new.keys() | settled.among(index) else ""
    settled.save(new, set(blobs) | index, whole)


# -- fetch, pull -----------------------------------------------------------------------
def _fetch(store: Store, backend: remotes.Backend, pointers: dict[Pointer, str],
           output: transfer.Output | None = None) -> transfer.Stats:
    if isinstance(backend, lfs.LfsBackend):
        return lfs.fetch(store, backend, pointers)
    return transfer.fetch(store, backend, pointers, output)


def fetch(repo: Repo, args: Sequence[str], include: Sequence[str] = (),
          exclude: Sequence[str] = (), everything: bool = False) -> tuple[str, transfer.Stats]:
    """Fetch the objects of REVs (default HEAD), or of every ref and reflog entry with
    `everything`, limited to paths matching `include` and not `exclude`."""
    name, revs = split_remote(repo, args)
    if everything and revs:
        raise UserError("give either --all or revisions, not both")
    if everything:
        if include or exclude:
            raise UserError("--all fetches every object: it takes no --include/--exclude")
        pointers = {p: f"object {p.short}" for p in repo.reachable_pointers()}
    else:
        pointers = _labels(_select(_rev_entries(repo, revs), include, exclude))
    backend = _connect(repo, name, download=True)
    return backend.name, _fetch(open_store(repo), backend, pointers)


def pull(repo: Repo, name: str | None, include: Sequence[str] = (),
         exclude: Sequence[str] = ()) -> tuple[str, transfer.Stats, list[str], list[str]]:
    """Fetch what the index (HEAD, after a clone) needs, then write the files; with
    `include`/`exclude` (git lfs pull -I/-X) only the matching paths. A file whose object
    is downloaded is written as it arrives (`Materializer.output`), in the pass that
    verifies it; the rest from the cache after."""
    backend = _connect(repo, name, download=True)
    entries = _select(repo.index_entries(), include, exclude)
    if (include or exclude) and not entries:
        return backend.name, _fetch(open_store(repo), backend, _labels(entries)), [], []
    writer = Materializer(repo, listed=entries)  # the index read once (12 ms a read here)
    try:
        stats = _fetch(writer.store, backend, _labels(entries), writer.output)
    except BaseException:
        writer.finish(write=False)  # what was written before the failure is settled
        raise
    done, missing = writer.finish()
    return backend.name, stats, done, missing


class OnDemand:
    """Fetching a missing object during a checkout (smudge), from the default remote.

    One connection serves every file of a git command; after a failure the
    rest of the checkout does not try again (a down remote costs one timeout).
    """

    def __init__(self, repo: Repo, store: Store) -> None:
        self.repo, self.store = repo, store
        self.enabled = repo.config_bool("model.fetchOnCheckout", True)
        self.backend: remotes.Backend | None = None

    def fetch(self, pointer: Pointer, path: str) -> bool:
        """True when the object is now in the cache."""
        if not self.enabled:
            return False
        if lfs.adopted(self.repo) and adopt.import_one(self.repo, self.store, pointer):
            return True  # git-lfs had fetched it into .git/lfs/objects
        try:
            if self.backend is None:
                if _default_remote(self.repo) is None:
                    self.enabled = False
                    return False
                self.backend = _connect(self.repo, None, download=True)
            _fetch(self.store, self.backend, {pointer: path})
        except UserError as exc:
            self.enabled = False
            print(f"git-model: {path}: could not fetch object {pointer.short}: {exc}",
                  file=sys.stderr)
            return False
        return True


def refetch(repo: Repo, store: Store, pointers: dict[Pointer, str]) -> tuple[list[Pointer], str]:
    """For `fsck --repair`: fetch broken objects again; (repaired, error or '')."""
    if not pointers or _default_remote(repo) is None:
        return [], ""
    repaired = []
    try:
        backend = _connect(repo, None, download=True)
        for pointer, path in pointers.items():
            _fetch(store, backend, {pointer: path})
            repaired.append(pointer)
    except UserError as exc:
        return repaired, str(exc)
    return repaired, ""


# -- get -------------------------------------------------------------------------------
def get(url: str, rev: str, path: str, out: Path | None,
        remote: str | None = None) -> tuple[Path, transfer.Stats]:
    """One file version from a git URL, without a clone: pointer, remote, verified download.

    The model remote is the repository's current one (its default branch's `.gitmodel`),
    or `remote`: a remote name from that configuration, or a URL. `out` defaults to the
    path's base name in the current directory, as `dvc get` does."""
    name = PurePosixPath(path).name
    if out is None and name in ("", ".", ".."):
        raise UserError(f"{path!r} has no file name to write to: give one with -o")
    target = out if out is not None else Path(name)
    final = _output_path(target)  # refused before anything is downloaded
    with tempfile.TemporaryDirectory(prefix="git-model-get-") as tmp:
        bare = Path(tmp) / "repo.git"
        commit = _shallow_clone(url, rev, bare)
        repo = Repo(bare, bare, bare)
        pointer = _pointer_at(repo, f"{commit}:{path}")
        if pointer is None:
            raise UserError(f"{path} in {rev} is not a git-model file (or does not exist)")
        known = {r.name for r in remotes.list_remotes(repo)}
        if remote is not None and remote not in known:
            chosen = remotes.Remote("remote", remote)
        elif remote is None and remotes.default_name(repo) is None:
            derived = lfs.lfs_url_of(url)  # a git-lfs repository: its server, as git-lfs finds it
            if derived is None:
                raise UserError(f"{remotes.redact(url)} names no model remote in its .gitmodel: "
                                "give one with --remote URL")
            chosen = remotes.Remote("lfs", derived)
        else:
            chosen = remotes.resolve(repo, remote)
        backend = connect.open_backend(remotes.git_url_top(url), chosen)
        backend.require_root()
        store = Store(Path(tmp) / "model")
        stats = _fetch(store, backend, {pointer: path})
        with atomic_output(final) as handle:
            store.write_to(pointer, handle)
        return target, stats


def _pointer_at(repo: Repo, name: str) -> Pointer | None:
    """The pointer stored at `name` (REV:PATH); a blob too big to be one is not read at all."""
    size = repo.git("cat-file", "-s", name, check=False).strip()
    if not size.isdigit() or int(size) >= MAX_POINTER_SIZE:
        return None
    data = cat_batch(repo.top, [name])[0]
    return parse(data) if data is not None else None


def _output_path(target: Path) -> Path:
    """Where `get -o` writes: the name itself, replaced by a rename, so a symlink planted at
    it is replaced, never followed; a symlinked directory someone else owns (a shared /tmp)
    is refused."""
    full = Path(os.path.abspath(target))
    for parent in (full.parent, *full.parent.parents):
        st = os.lstat(parent) if os.path.lexists(parent) else None
        if st is not None and stat.S_ISLNK(st.st_mode) and st.st_uid not in (0, os.getuid()):
            raise UserError(f"{target}: {parent} is a symbolic link owned by another user: "
                            "choose another output path")
    if full.is_dir() and not full.is_symlink():
        raise UserError(f"{target} is a directory: give a file name with -o")
    return full


def _shallow_clone(url: str, rev: str, bare: Path) -> str:
    """Commits only; trees and blobs arrive lazily, just the ones we read.

    A branch or tag is cloned at depth 1; any other revision (a commit id) is
    found in a clone of commits without trees (`--filter=tree:0`). Returns the commit id.
    """
    base = ["clone", "-q", "--bare", "--no-tags"]
    tries = [(base + ["--depth", "1", "--filter=blob:none", "--branch", rev, url, str(bare)], "HEAD"),
             (base + ["--filter=tree:0", url, str(bare)], rev)]
    error = ""
    for args, name in tries:
        proc = git.call(args)
        if proc.returncode == 0:
            commit = Repo(bare, bare, bare).commit(name)
            if commit:
                return commit
            error = f"revision {rev!r} not found"
        else:
            error = remotes.redact_text(git.last_error_line(proc, "git clone failed"))
        shutil.rmtree(bare, ignore_errors=True)
    raise UserError(f"cannot read {remotes.redact(url)}: {error}")
