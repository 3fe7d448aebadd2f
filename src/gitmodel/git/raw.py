"""Model bytes that reached Git: tracked paths whose blob is not a pointer.

A path routed to the model filter should only ever hold a pointer blob, but
git stores the file raw when the filter is not configured (a clone without
`git model install`), or when the file was committed before it was tracked
(git does not re-clean an unchanged file). Checking is cheap: blobs the
pointer cache knows are pointers; of the others one `git cat-file --batch-check`
gives every size, and only blobs under 1 KiB (a pointer is about 130 bytes) are
read to tell a pointer from content.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from gitmodel.git import attributes
from gitmodel.git.repo import GitError, Repo, blob_sizes


@dataclass(frozen=True, order=True)
class RawBlob:
    """A tracked path whose blob holds the content itself."""

    path: str
    blob: str
    size: int


def find_raw(repo: Repo, pairs: Sequence[tuple[str, str]]) -> list[RawBlob]:
    """The (path, blob) pairs whose path is tracked and whose blob is not a pointer."""
    tracked = repo.filtered_paths(path for path, _ in pairs)
    return _not_pointers(repo, [(path, blob) for path, blob in pairs if path in tracked])


def _not_pointers(repo: Repo, pairs: Sequence[tuple[str, str]]) -> list[RawBlob]:
    """The (path, blob) pairs of tracked paths whose blob is not a pointer.

    Blobs the pointer cache knows (the clean filter records each pointer it answers with)
    are not read: a first commit of 10,000 files read them all with cat-file, 0.5 s of
    its hook's 0.7 s (measured); only the rest are sized, and those under 1 KiB read."""
    blobs = {blob for _, blob in pairs}
    pointers = repo.pointer_facts(blobs, sized=False)
    sizes = blob_sizes(repo.top, blobs - pointers.keys())
    return sorted({RawBlob(path, blob, sizes[blob]) for path, blob in pairs
                   if sizes.get(blob)})  # an empty blob is the empty file's pointer


def _tree_pairs(repo: Repo, rev: str) -> list[tuple[str, str]]:
    commit = repo.commit(rev)
    if commit is None:
        return []
    out = repo.git("ls-tree", "-r", "-z", "--full-tree", commit)
    pairs = []
    for record in filter(None, out.split("\0")):
        meta, path = record.split("\t", 1)
        _mode, kind, blob = meta.split()
        if kind == "blob":
            pairs.append((path, blob))
    return pairs


def in_index(repo: Repo, paths: Sequence[str] = ()) -> list[RawBlob]:
    """Tracked paths staged raw."""
    return find_raw(repo, repo.index_files(paths))


def in_tree(repo: Repo, rev: str) -> list[RawBlob]:
    """Tracked paths that commit `rev` holds raw (none when `rev` names no commit)."""
    return find_raw(repo, _tree_pairs(repo, rev))


def in_tree_paths(repo: Repo, rev: str, paths: set[str]) -> list[RawBlob]:
    """Of the exact `paths`, those commit `rev` holds raw (status asks for staged paths)."""
    return find_raw(repo, [(p, b) for p, b in _tree_pairs(repo, rev) if p in paths])


def in_index_and_head(repo: Repo) -> tuple[list[RawBlob], list[RawBlob]]:
    """Tracked paths raw in the index, and in HEAD, with one check-attr and one batch-check
    for both (what `status` and `ls-files` ask on every call)."""
    index, head = set(repo.index_files(())), set(_tree_pairs(repo, "HEAD"))
    found = find_raw(repo, sorted(index | head))
    return [r for r in found if (r.path, r.blob) in index], [r for r in found if (r.path, r.blob) in head]


def in_history(repo: Repo, revs: Sequence[str] = ("--all",)) -> list[RawBlob]:
    """Tracked paths with a raw blob anywhere in the history `revs` reach (default: every ref).

    Like `git lfs fsck --pointers`; paths are judged by today's .gitattributes.
    Each blob is named once, by the first path `git rev-list --objects` gives it.
    """
    out = repo.git("rev-list", "--objects", *revs)
    pairs = []
    for line in out.splitlines():
        oid, _, path = line.partition(" ")
        if path:
            pairs.append((path, oid))
    return find_raw(repo, pairs)


def staged(repo: Repo) -> list[RawBlob]:
    """Tracked paths this commit would store raw: staged changes whose blob is content."""
    try:
        out = repo.git_magic("diff-index", "--cached", "-z", "--no-renames", "--diff-filter=d",
                             "HEAD", "--", *repo.model_pathspecs())
    except GitError:  # no HEAD yet (the first commit): every tracked file is staged
        if repo.commit("HEAD") is not None:
            raise
        return in_index(repo)
    # `:OLD_MODE NEW_MODE OLD NEW STATUS\0PATH\0`, tracked paths only (the pathspec): the
    # hook of every commit starts 3 git processes here, not 6 (rev-parse, diff, ls-files,
    # check-attr and two cat-file before)
    fields = out.split("\0")
    pairs = []
    for header, path in zip(fields[0::2], fields[1::2]):
        _old_mode, new_mode, _old, new, _status = header.split(" ")
        if new_mode.startswith("100"):  # a regular file (not a symlink or submodule)
            pairs.append((path, new))
    return _not_pointers(repo, pairs)


def filter_missing(repo: Repo) -> str | None:
    """One line when .gitattributes routes files to git-model but git config lacks the filter."""
    if not attributes.patterns(repo.top):  # a file read: first, before git config
        return None
    if repo.config("filter.model.process") or repo.config("filter.model.clean"):
        return None
    return ("git-model: .gitattributes routes files to the model filter, but this repository's "
            "git config lacks it, so git stores them raw: run `git model install`")
