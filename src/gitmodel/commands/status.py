"""What git-model tracks and in what state: `git model ls-files` and `git model status`."""
from __future__ import annotations

from dataclasses import dataclass, field

from gitmodel.commands.checkout import pointer_files
from gitmodel.errors import UserError
from gitmodel.git.cache import open_store
from gitmodel.git.repo import Entry, Repo
from gitmodel.units import human


@dataclass
class ListedFile:
    """One pointer file of `ls-files`: what it names and whether the cache has it."""

    entry: Entry
    cached: bool

    def line(self) -> str:
        e = self.entry
        return f"{e.pointer.short} {'*' if self.cached else '-'} {e.path} ({human(e.pointer.size)})"

    def as_json(self) -> dict:
        return {**_entry_json(self.entry), "cached": self.cached}


def ls_files(repo: Repo, rev: str | None) -> list[ListedFile]:
    """Each pointer file of the index (or of REV), with whether its object is cached."""
    if rev is not None and repo.commit(rev) is None:
        raise UserError(f"unknown revision {rev!r}")
    entries = repo.tree_entries(rev) if rev else repo.index_entries()
    store = open_store(repo)
    return [ListedFile(e, store.has_object(e.pointer)) for e in sorted(entries, key=lambda e: e.path)]


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

    @property
    def clean(self) -> bool:
        """Nothing to commit, restore, fetch or push (`status --quiet` exits 1 otherwise)."""
        return not (self.staged or self.modified or self.pointer_only or self.not_cached
                    or self.unpushed or self.unmerged)

    def as_json(self) -> dict:
        return {"staged": self.staged, "modified": self.modified, "unmerged": self.unmerged,
                "pointers": [_entry_json(e) for e in self.pointer_only],
                "not_cached": [_entry_json(e) for e in self.not_cached],
                "remote": self.remote, "unpushed": [_entry_json(e) for e in self.unpushed],
                "clean": self.clean}

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
        modified=sorted((tracked & unstaged) - unmerged),
        pointer_only=pointer_files(repo),
        not_cached=[e for e in repo.index_entries()
                    if e.path in tracked and not store.has_object(e.pointer)])


def _split(out: str) -> set[str]:
    return set(filter(None, out.split("\0")))
