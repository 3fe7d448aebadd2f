"""What git-model tracks and in what state: `git model ls-files` and `git model status`."""
from __future__ import annotations

from dataclasses import dataclass, field

from gitmodel.commands.checkout import pointer_files
from gitmodel.git import raw
from gitmodel.git.cache import open_store
from gitmodel.git.repo import Entry, Repo
from gitmodel.units import human


def ls_files(repo: Repo, rev: str | None) -> list[str]:
    """One line per tracked file: short oid, '*' cached / '-' not / 'R' raw blob in Git, path, size.

    Without REV (the index), a path whose HEAD version is raw says so too.
    """
    entries = repo.tree_entries(rev) if rev else repo.index_entries()
    raw_head: set[str] = set()
    if rev:
        raw_here = raw.in_tree(repo, rev)
    else:
        raw_here, in_head = raw.in_index_and_head(repo)
        raw_head = {r.path for r in in_head}
    store = open_store(repo)
    lines = [(e.path, f"{e.pointer.short} {'*' if store.has_object(e.pointer) else '-'} {e.path} "
                      f"({human(e.pointer.size)}){_head_note(e.path, raw_head)}") for e in entries]
    lines += [(r.path, f"{r.blob[:12]} R {r.path} ({human(r.size)}, raw blob in Git)") for r in raw_here]
    return [line for _, line in sorted(lines)]


def _head_note(path: str, raw_head: set[str]) -> str:
    return " (HEAD: raw blob)" if path in raw_head else ""


@dataclass
class Status:
    staged: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    pointer_only: list[Entry] = field(default_factory=list)
    not_cached: list[Entry] = field(default_factory=list)
    remote: str | None = None
    unpushed: list[Entry] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # "path (index: raw, HEAD: pointer)"

    def lines(self) -> list[str]:
        out = []
        sections = [
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
    store = open_store(repo)
    from gitmodel.commands.sync import unpushed  # no network: what this clone knows the remote has
    remote, not_pushed = unpushed(repo)
    return Status(
        remote=remote, unpushed=not_pushed,
        staged=sorted(tracked & staged),
        modified=sorted(tracked & unstaged), raw=_raw_lines(repo),
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
