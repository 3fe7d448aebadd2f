"""What git-model tracks and in what state: `git model ls-files` and `git model status`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from gitmodel.errors import UserError
from gitmodel.git import raw
from gitmodel.git.cache import open_store
from gitmodel.git.raw import RawBlob
from gitmodel.git.repo import Entry, Repo
from gitmodel.units import human


@dataclass
class ListedFile:
    """One tracked file of `ls-files`: a pointer (and whether the cache has its object), or a
    raw blob that Git holds for a tracked path."""

    entry: Entry | None  # None: a raw blob
    cached: bool
    raw_blob: RawBlob | None = None
    head_raw: bool = False  # the index's view: HEAD holds this path raw

    @property
    def path(self) -> str:
        return self.raw_blob.path if self.raw_blob is not None else self.entry.path if self.entry else ""

    def line(self) -> str:
        if (r := self.raw_blob) is not None:
            return f"{r.blob[:12]} R {r.path} ({human(r.size)}, raw blob in Git)"
        assert self.entry is not None
        e = self.entry
        return (f"{e.pointer.short} {'*' if self.cached else '-'} {e.path} ({human(e.pointer.size)})"
                + (" (HEAD: raw blob)" if self.head_raw else ""))

    def as_json(self) -> dict:
        if (r := self.raw_blob) is not None:
            return {"path": r.path, "blob": r.blob, "size": r.size, "cached": False, "raw": True}
        assert self.entry is not None
        return {**_entry_json(self.entry), "cached": self.cached, "raw": False,
                "head_raw": self.head_raw}


def ls_files(repo: Repo, rev: str | None) -> list[ListedFile]:
    """Each tracked file of the index (or of REV): pointers, with whether the object is cached,
    and raw blobs (without REV, a pointer whose HEAD version is raw says so)."""
    if rev is not None and repo.commit(rev) is None:
        raise UserError(f"unknown revision {rev!r}")
    entries = repo.tree_entries(rev) if rev else repo.index_entries()
    raw_head: set[str] = set()
    if rev:
        raw_here = raw.in_tree(repo, rev)
    else:
        raw_here, in_head = raw.in_index_and_head(repo)
        raw_head = {r.path for r in in_head}
    store = open_store(repo)
    listed = [ListedFile(e, store.has_object(e.pointer), head_raw=e.path in raw_head) for e in entries]
    listed += [ListedFile(None, False, r) for r in raw_here]
    return sorted(listed, key=lambda f: f.path)


def _entry_json(entry: Entry) -> dict:
    return {"path": entry.path, "oid": entry.pointer.oid, "size": entry.pointer.size}


@dataclass
class Status:
    staged: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    pointer_only: list[Entry] = field(default_factory=list)
    not_cached: list[Entry] = field(default_factory=list)
    remote: str | None = None
    unpushed: list[Entry] = field(default_factory=list)
    unmerged: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # "path (index: raw blob, HEAD: pointer)"

    @property
    def clean(self) -> bool:
        """Nothing to commit, restore, fetch or push (`status --quiet` exits 1 otherwise)."""
        return not (self.staged or self.modified or self.pointer_only or self.not_cached
                    or self.unpushed or self.unmerged or self.raw)

    def as_json(self) -> dict:
        return {"staged": self.staged, "modified": self.modified, "unmerged": self.unmerged,
                "pointers": [_entry_json(e) for e in self.pointer_only],
                "not_cached": [_entry_json(e) for e in self.not_cached],
                "remote": self.remote, "unpushed": [_entry_json(e) for e in self.unpushed],
                "raw": self.raw, "clean": self.clean}

    def lines(self) -> list[str]:
        out = []
        sections = [
            ("Unmerged model files (resolve, then git add them):", self.unmerged),
            ("Model files to be committed:", self.staged),
            ("Model files modified, not staged (git add them):", self.modified),
            ("Left as pointers in the working tree (git model checkout, or git model pull):",
             [f"{e.path} ({e.pointer.short})" for e in self.pointer_only]),
            ("Objects missing from the cache (git model pull):",
             [f"{e.path} ({e.pointer.short}, {human(e.pointer.size)})" for e in self.not_cached]),
            (f"Not yet pushed to model remote {self.remote!r} (git model push):",
             [f"{e.path} ({e.pointer.short}, {human(e.pointer.size)})" for e in self.unpushed]),
            ("Stored raw in Git, not as pointers (git add --renormalize -- PATH, then commit; "
             "rewrite history with git model migrate import):", self.raw),
        ]
        for title, items in sections:
            if items:
                out.append(title)
                out.extend(f"\t{item}" for item in items)
        return out or ["Model files: all committed, all in the cache."]


def status(repo: Repo) -> Status:
    """Where every model file stands, in a fixed number of git processes.

    One `git status` gives staged, modified and unmerged paths; the index's pointers
    come from one ls-files (attributes applied by git) and the pointer blobs; only staged paths
    need HEAD's tree. Nothing per file but stats and a lookup in the local record of
    what the remote has: an object counts as cached when its manifest is there (written
    after every chunk it lists; a chunk lost later, e.g. quarantined by fsck, is fsck's to
    report), not by reading 10,000 manifests. At 1,000 files this took 1.5 s with 24 git
    processes before, 0.36 s with 10, then 4 (config and .gitmodel in one, ls-files and
    check-attr in one). A working file can be left as its pointer text only where the
    index, just refreshed by `git status`, records a pointer's size: only those are read
    (a stat of every model file was 18 ms of 10,000; the index gives their sizes in 4).
    """
    from gitmodel.commands.checkout import still_pointers, written_by_git  # status's only
    changes = _changes(repo)  # git status works on another core while the index is read
    tracked, entries, raw_index = repo.model_entries()
    staged, modified, unmerged = changes()
    small = written_by_git(repo)  # after git status refreshed the index's sizes: a file can
    # be its pointer text only where git saw it so
    head = ([e for e in repo.tree_entries("HEAD") if e.path in staged]
            if staged and repo.commit("HEAD") else [])
    missing = open_store(repo).missing_manifests(
        e.pointer.oid for e in entries + head if e.pointer.size)
    remote, not_pushed = unpushed(repo, entries + head, missing)
    return Status(
        remote=remote, unpushed=not_pushed,
        unmerged=sorted(tracked & unmerged),
        staged=sorted((tracked & staged) - unmerged),
        modified=sorted((tracked & modified) - unmerged),
        raw=_raw_lines(repo, raw_index, staged),
        pointer_only=still_pointers(repo, entries if small is None
                                    else [e for e in entries if e.path in small]),
        not_cached=[e for e in entries if e.pointer.size and e.pointer.oid in missing])


def unpushed(repo: Repo, entries: list[Entry], missing: set[str]) -> tuple[str | None, list[Entry]]:
    """(default remote, those of `entries` whose objects it is not known to have and are
    cached: not among the oids `missing` their manifest), from what this clone knows the
    remote has: no network. Cached means the manifest is there, as for `not_cached`: reading
    every manifest and looking for its chunks took 0.35 s of a status of 10,000 files not
    yet pushed. The sync module (and the git-lfs client code it imports, ~8 ms of a status)
    is loaded only when no model remote is named."""
    from gitmodel.transfer import engine, remotes
    name = remotes.default_name(repo)
    if name is not None:
        remote: remotes.Remote | None = remotes.resolve(repo, name)
    else:
        from gitmodel.commands.sync import _default_remote  # an adopted git-lfs endpoint
        remote = _default_remote(repo)
    if remote is None:
        return None, []
    known = engine.Known(repo.model_dir, remote.url)
    try:
        result, seen = [], set()
        there = known.having(e.pointer.oid for e in entries)
        for entry in entries:  # the cheap test first: at 10,000 pushed files, all pass it
            pointer = entry.pointer
            if (pointer.size and pointer.oid not in there and pointer.oid not in missing
                    and (entry.path, pointer) not in seen):
                seen.add((entry.path, pointer))
                result.append(entry)
    finally:
        known.close()
    return remote.name, sorted(result, key=lambda e: e.path)


_UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}


def _changes(repo: Repo) -> Callable[[], tuple[set[str], set[str], set[str]]]:
    """One `git status`, started: calling the result gives (staged, modified in the work
    tree, unmerged) paths."""
    out = repo.git_meanwhile("status", "--porcelain=v1", "-z", "--no-renames",
                             "--untracked-files=no")
    return lambda: _parse_changes(out())


def _parse_changes(out: str) -> tuple[set[str], set[str], set[str]]:
    staged, modified, unmerged = set(), set(), set()
    for record in filter(None, out.split("\0")):
        code, path = record[:2], record[3:]
        if code in _UNMERGED:
            unmerged.add(path)
            continue
        if code[0] not in " ?!":
            staged.add(path)
        if code[1] not in " ?!":
            modified.add(path)
    return staged, modified, unmerged


def _raw_lines(repo: Repo, index: set[str], staged: set[str]) -> list[str]:
    """Each tracked path whose index or HEAD blob is content, with where it is raw. HEAD
    holds the index's blob for every path not staged: its tree is read only for those."""
    head = index - staged
    if staged and repo.commit("HEAD"):
        head |= {r.path for r in raw.in_tree_paths(repo, "HEAD", staged)}
    state = {True: "raw blob", False: "pointer"}
    return [f"{path} (index: {state[path in index]}, HEAD: {state[path in head]})"
            for path in sorted(index | head)]
