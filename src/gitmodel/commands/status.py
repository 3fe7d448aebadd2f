"""What git-model tracks and in what state: `git model ls-files` and `git model status`."""
from __future__ import annotations

from dataclasses import dataclass, field

from gitmodel.commands.checkout import pointer_files
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
    tracked = repo.filtered_paths(_split(repo.git("ls-files", "-z")))
    has_head = repo.commit("HEAD") is not None
    staged = _split(repo.git("diff", "--cached", "--name-only", "-z") if has_head
                    else repo.git("ls-files", "-z"))
    unstaged = _split(repo.git("diff", "--name-only", "-z"))
    unmerged = _split(repo.git("diff", "--name-only", "--diff-filter=U", "-z"))
    store = open_store(repo)
    from gitmodel.commands.sync import unpushed  # no network: what this clone knows the remote has
    remote, not_pushed = unpushed(repo)
    return Status(
        remote=remote, unpushed=not_pushed,
        unmerged=sorted(tracked & unmerged),
        staged=sorted((tracked & staged) - unmerged),
        modified=sorted((tracked & unstaged) - unmerged), raw=_raw_lines(repo),
        pointer_only=pointer_files(repo),
        not_cached=[e for e in repo.index_entries()
                    if e.path in tracked and not store.has_object(e.pointer)])


def _raw_lines(repo: Repo) -> list[str]:
    """Each tracked path whose index or HEAD blob is content, with where it is raw."""
    index, head = ({r.path for r in found} for found in raw.in_index_and_head(repo))
    state = {True: "raw blob", False: "pointer"}
    return [f"{path} (index: {state[path in index]}, HEAD: {state[path in head]})"
            for path in sorted(index | head)]


def _split(out: str) -> set[str]:
    return set(filter(None, out.split("\0")))
