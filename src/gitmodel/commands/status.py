"""What git-model tracks and in what state: `git model ls-files` and `git model status`."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from gitmodel.commands import statuscache
from gitmodel.errors import UserError
from gitmodel.git import raw
from gitmodel.git.blobcache import Fact
from gitmodel.git.raw import RawBlob
from gitmodel.git.repo import Entry, Repo, listed_files
from gitmodel.store.pointer import from_checked
from gitmodel.transfer import remotes
from gitmodel.transfer.remotes import Remote
from gitmodel.units import human

if TYPE_CHECKING:
    from gitmodel.commands.settled import Settled


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
    from gitmodel.git.cache import open_store  # the store's code: not on status's kept path
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
    What follows from the index's model files, the cache and the record of the remote is
    kept for the next status while none of them changes (commands/statuscache.py): at
    10,000 files a status then costs git status, one ls-files and a few stats (CPU 0.21 ->
    0.10 s, most of it Python's start); not while anything is staged or left as a pointer.
    Otherwise the blobs a push or an earlier status found settled (commands/settled.py)
    are not looked up again: the first status after pushing 10,000 files, 0.25 -> 0.07 s;
    and when the push found every model file of this listing settled, neither the listing
    nor the record's blobs are parsed (25.6 -> 18.2 ms in-process, as a kept status).
    """
    changes = _changes(repo)  # git status works on another core while the index is read
    listing = repo.model_listing()
    listed = statuscache.listing_digest(listing)
    remote = _remote(repo)
    digest = statuscache.key(repo, listed, (remote.name, remote.url) if remote else None)
    kept = statuscache.load(repo, digest) if digest else None
    staged, modified, unmerged = changes()
    small = repo.recorded_small()  # after git status refreshed the index's sizes: a file
    # can be its pointer text only where git saw it so
    pointer_only: list[Entry] = []
    quiet = not staged and small is not None and not _listed(small, listing)
    settled = _settled(repo, remote) if remote and not (quiet and kept is not None) else None
    if quiet and kept is None and settled is not None and settled.whole(listed):
        kept = set(), [], []  # as a push (or a status) found this listing
        if digest:
            statuscache.save(repo, digest, *kept)
    if quiet and kept is not None:
        raw_index, not_cached, not_pushed = kept
        pairs = listed_files(listing) if modified or unmerged else []
    else:
        pairs, raw_index, not_cached, not_pushed, pointer_only = _look_up(
            repo, listing, remote, settled, staged, small, (listed, digest))
    tracked = {p for p, _ in pairs} if staged or modified or unmerged else set()
    return Status(
        remote=remote.name if remote else None, unpushed=not_pushed,
        unmerged=sorted(tracked & unmerged),
        staged=sorted((tracked & staged) - unmerged),
        modified=sorted((tracked & modified) - unmerged),
        raw=_raw_lines(repo, raw_index, staged),
        pointer_only=pointer_only,
        not_cached=not_cached)


def _settled(repo: Repo, remote: Remote) -> Settled:
    """The record of what is settled for `remote`, read before what it records."""
    from gitmodel.commands.settled import Settled  # with the store's code
    from gitmodel.git.cache import open_store
    return Settled(repo, open_store(repo), remote.url)


def _look_up(repo: Repo, listing: str, remote: Remote | None, settled: Settled | None,
             staged: set[str], small: set[str] | None, digests: tuple[str, str | None]
             ) -> tuple[list[tuple[str, str]], set[str], list[Entry], list[Entry], list[Entry]]:
    """((path, blob) of each, the paths raw, entries not cached, not pushed, left as pointers) of the
    index's model files in `listing` (`digests`: its own, and status's key): the blobs
    settled for the remote (commands/settled.py) are not looked up again; the others'
    pointers, manifests and the remote's record are, and those found settled are recorded."""
    from gitmodel.commands.checkout import still_pointers  # with the store's code
    from gitmodel.git.cache import open_store
    store = open_store(repo)
    pairs = listed_files(listing)
    blobs = {blob for _, blob in pairs}
    done = settled.among(blobs) if settled else set()
    near = blobs if small is None else _blobs_at(pairs, small)
    facts = repo.pointer_facts((blobs - done) | near, sized=False)
    open_ = {blob: facts[blob] for blob in (blobs - done) & facts.keys() if facts[blob][1]}
    head = ([e for e in repo.tree_entries("HEAD") if e.path in staged]
            if staged and repo.commit("HEAD") else [])
    oids = {oid for oid, _ in open_.values()} | {e.pointer.oid for e in head if e.pointer.size}
    packed, missing = store.manifest_places(oids)
    there = _known_there(repo, remote, oids) if remote and oids else oids
    bad = missing | (oids - there)
    flagged = _entries(pairs, facts, bad) if bad else []  # few: only they are made
    not_cached = [e for e in flagged if e.pointer.oid in missing]
    not_pushed = _unpushed(flagged, there, missing)
    raw_blobs = blobs - done - facts.keys()
    raw_index = {path for path, blob in pairs if blob in raw_blobs} if raw_blobs else set()
    listed, digest = digests
    if digest:
        statuscache.save(repo, digest, raw_index, not_cached, not_pushed)
    if settled is not None:
        new = {blob: "" if oid in packed else oid for blob, (oid, _) in open_.items() if oid not in bad}
        whole = listed if blobs <= done | new.keys() else ""
        if new or whole not in ("", settled.listing):
            settled.save(new, blobs, whole)
    if head:
        both = not_pushed + _unpushed(head, there, missing)
        not_pushed = sorted({(e.path, e.pointer): e for e in both}.values(), key=lambda e: e.path)
    near_pairs = [pair for pair in pairs if pair[1] in near] if near else []
    pointer_only = still_pointers(repo, _entries(near_pairs, facts))
    return pairs, raw_index, not_cached, not_pushed, pointer_only


def _blobs_at(pairs: list[tuple[str, str]], paths: set[str]) -> set[str]:
    """The blobs of `pairs` (path, blob) at `paths`; none looked for when there are none,
    as after a push of files of any size: 1 ms of a status at 10,000 files."""
    return {blob for path, blob in pairs if path in paths} if paths else set()


def _listed(paths: set[str], listing: str) -> bool:
    """Whether any of `paths` may be in `listing` (ls-files -z output): a few are looked for
    as text (a path ending in another's name after a tab counts: never a wrong no)."""
    if len(paths) > 64:
        return not paths.isdisjoint(p for p, _ in listed_files(listing))
    return any(f"\t{path}\0" in listing for path in paths)


def _remote(repo: Repo) -> Remote | None:
    """The default model remote. The sync module (and the git-lfs client code it imports,
    ~8 ms of a status) is loaded only when no model remote is named."""
    name = remotes.default_name(repo)
    if name is not None:
        return remotes.resolve(repo, name)
    from gitmodel.commands.sync import _default_remote  # an adopted git-lfs endpoint
    return _default_remote(repo)


def _entries(pairs: list[tuple[str, str]], facts: dict[str, Fact],
             oids: set[str] | None = None) -> list[Entry]:
    """The pointer entries of `pairs` (path, blob) whose oid is among `oids` (None: any), the
    empty file's left out: at 10,000 files, making an Entry for each (its Pointer too) was
    ~15 ms of a 0.13 s status that reports none of them."""
    result = []
    for path, blob in pairs:
        fact = facts.get(blob)
        if fact is not None and fact[1] and (oids is None or fact[0] in oids):
            result.append(Entry(path, blob, from_checked(*fact)))
    return result


def _unpushed(entries: list[Entry], there: set[str], missing: set[str]) -> list[Entry]:
    """Those of `entries` whose objects the remote is not known to have (not among `there`)
    and are cached (not among the oids `missing` their manifest), once per (path, pointer),
    by path. Cached means the manifest is there, as for `not_cached`: reading every
    manifest and looking for its chunks took 0.35 s of a status of 10,000 files not pushed."""
    unique = {(e.path, e.pointer): e for e in entries
              if e.pointer.oid not in there and e.pointer.oid not in missing}
    return sorted(unique.values(), key=lambda e: e.path)


def _known_there(repo: Repo, remote: Remote, oids: set[str]) -> set[str]:
    """Those of `oids` this clone knows `remote` has (none when it has no record yet), read
    without writing (statuscache keys on the record's stat data)."""
    from gitmodel.transfer.engine import Known
    try:
        known = Known(repo.model_dir, remote.url, read_only=True)
    except sqlite3.Error:
        return set()
    try:
        return known.having(oids)
    except sqlite3.Error:
        return set()
    finally:
        known.close()


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
