"""Where a model version comes from: a commit, the index or the working tree.

`git model show` and `git model diff` name versions the way git does (REV,
`REV:PATH`, `:PATH`, no rev for the working tree); this module turns those names
into pointers and then into `ModelFile`s read from the cache or the disk.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from gitmodel.errors import UserError
from gitmodel.git.repo import Repo
from gitmodel.model.load import from_path, from_pointer
from gitmodel.model.modelfile import ModelFile
from gitmodel.store.objects import Store
from gitmodel.store.pointer import Pointer


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a commit (by the name the user gave), the index or the disk."""

    label: str
    commit: str | None = None
    worktree: bool = False


INDEX = Side("index")
WORKTREE = Side("working tree", worktree=True)


def rev_side(repo: Repo, rev: str) -> Side:
    """The commit side named `rev`; UserError when it names no commit."""
    commit = repo.commit(rev)
    if commit is None:
        raise UserError(f"unknown revision {rev!r}")
    return Side(rev, commit)


def parent_side(repo: Repo, side: Side) -> Side | None:
    """The version a side grew from: a commit's first parent, or HEAD for index and disk."""
    rev = f"{side.commit}^1" if side.commit else "HEAD"
    commit = repo.commit(rev)
    if commit is None:
        return None
    return Side(f"{side.label}^" if side.commit else "HEAD", commit)


def pointers(repo: Repo, side: Side, paths: Sequence[str] = ()) -> dict[str, Pointer]:
    """Model pointers on a commit or index side, by top-relative path."""
    entries = repo.tree_entries(side.commit, paths) if side.commit else repo.index_entries(paths)
    return {e.path: e.pointer for e in entries}


def load(repo: Repo, store: Store, side: Side, path: str,
         known: dict[str, Pointer]) -> ModelFile | None:
    """The version of `path` on `side` (None when absent there)."""
    label = f"{path} ({side.label})"
    if side.worktree:
        full = repo.top / path
        return from_path(store, full, label) if full.is_file() else None
    pointer = known.get(path)
    return from_pointer(store, pointer, label) if pointer is not None else None


def to_top(repo: Repo, arg: str) -> str:
    """A path given relative to the current directory, made relative to the top."""
    full = Path(arg).resolve()
    try:
        relative = full.relative_to(repo.top.resolve())
    except ValueError:
        raise UserError(f"{arg}: outside the repository at {repo.top}") from None
    return relative.as_posix() if str(relative) != "." else ""


def split_revs(repo: Repo, args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Leading arguments that name commits (at most two) are revisions, the rest paths.

    click drops `--`, so revisions are told from paths the way git does without
    it: a path that is also a revision name must be written `./NAME`.
    """
    revs: list[str] = []
    for arg in args:
        if len(revs) == 2 or repo.commit(arg) is None:
            break
        revs.append(arg)
    return revs, [to_top(repo, arg) for arg in args[len(revs):]]


def parse_spec(repo: Repo, spec: str) -> tuple[Side, str]:
    """`REV:PATH` (path from the top), `:PATH` (index) or PATH (working tree, from cwd)."""
    rev, sep, path = spec.partition(":")
    if sep and not rev:
        return INDEX, path
    if sep and repo.commit(rev) is not None:
        return rev_side(repo, rev), path
    if sep and not Path(spec).exists():
        raise UserError(f"unknown revision {rev!r}")
    return WORKTREE, to_top(repo, spec)
