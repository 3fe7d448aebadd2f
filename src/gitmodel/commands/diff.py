"""`git model diff` and the diff drivers git calls: model summaries instead of pointer lines.

Git shows model files through two drivers set by `git model install`:

* `diff.model.command` (an external diff, used by `git diff`): both versions
  are at hand, so it prints the full tensor-level diff with statistics.
* `diff.model.textconv` (used by `git log -p` and `git show`, which do not run
  external diffs unless given `--ext-diff`): git diffs one text per version,
  so each version becomes a listing, one line per tensor with a fingerprint of
  its bytes. Tensors are listed by name, so a reordered file diffs as nothing,
  and a changed tensor shows up as one -/+ pair. A cached version's listing
  comes from its header chunk and manifest: large tensors cost no decompression.

Both get a temporary file that holds the pointer (or, for a working tree side,
sometimes the real file); `model.load.from_path` reads either.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

from gitmodel.commands.versions import INDEX, WORKTREE, Side, load, pointers, rev_side, split_revs
from gitmodel.errors import UserError
from gitmodel.git.cache import open_store
from gitmodel.git.repo import Repo
from gitmodel.model.load import from_path
from gitmodel.model.modelfile import ModelFile
from gitmodel.model.tensordiff import FileDiff, diff_files
from gitmodel.store.objects import Store
from gitmodel.store.pointer import MAX_POINTER_SIZE, parse
from gitmodel.units import human


def diff(repo: Repo, args: Sequence[str]) -> Iterator[FileDiff]:
    """Tensor-level diffs with `git diff`'s defaults: index/rev vs working tree, or rev vs rev."""
    revs, paths = split_revs(repo, args)
    old = rev_side(repo, revs[0]) if revs else INDEX
    new = rev_side(repo, revs[1]) if len(revs) == 2 else WORKTREE
    old_known = pointers(repo, old, paths)
    new_known = {} if new.worktree else pointers(repo, new, paths)
    candidates = _changed(repo, old, new, old_known, new_known, paths)
    _check_paths(repo, paths, old_known.keys() | new_known.keys() | candidates)
    store = open_store(repo)
    for path in sorted(candidates):
        before = load(repo, store, old, path, old_known)
        after = load(repo, store, new, path, new_known)
        try:
            yield diff_files(path, old.label, new.label, before, after)
        finally:
            for model in (before, after):
                if model is not None:
                    model.close()


def _changed(repo: Repo, old: Side, new: Side, old_known: dict, new_known: dict,
             paths: list[str]) -> set[str]:
    """Model paths whose content differs between the sides."""
    if not new.worktree:
        return {p for p in old_known.keys() | new_known.keys()
                if old_known.get(p) != new_known.get(p)}
    against = [old.commit] if old.commit else []
    out = repo.git("diff", "--name-only", "--no-renames", "-z", *against, "--", *paths)
    names = set(filter(None, out.split("\0")))
    return names & (old_known.keys() | repo.filtered_paths(names))


def _check_paths(repo: Repo, paths: list[str], known: set[str]) -> None:
    """Refuse a path that exists nowhere, as git does (it is most likely a mistyped rev)."""
    for path in paths:
        if path and not (repo.top / path).exists() and not any(
                k == path or k.startswith(path + "/") for k in known):
            raise UserError(f"pathspec {path!r} did not match any model file (nor is it a revision)")


def textconv(path: Path) -> list[str]:
    """The listing git diffs for one version. Git caches what this prints per blob
    (diff.model.cachetextconv), so only what the content itself decides may be printed: a
    file that cannot be parsed becomes a note, but an object missing from the cache (or
    damaged there) fails the conversion, never to be cached as the version's listing."""
    store = open_store(_repo())
    _require_object(store, path)
    try:
        model = from_path(store, path, path.name)
    except UserError as exc:
        return [f"git-model: {exc}"]
    try:
        return listing(model)
    finally:
        model.close()


def _require_object(store: Store, path: Path) -> None:
    try:
        head = path.read_bytes() if path.stat().st_size < MAX_POINTER_SIZE else b""
    except OSError:
        return  # from_path names the problem
    pointer = parse(head) if head else None
    if pointer is not None and pointer.size and not store.has_object(pointer):
        raise UserError(f"object {pointer.short} is not in the cache: not converted (run "
                        "`git model fetch --all`, or pass --no-textconv to git)")


def listing(model: ModelFile) -> list[str]:
    """One line per fact of a version, tensors sorted by name."""
    lines = [f"format {model.format}, {human(model.size)}, {len(model.tensors)} tensors, "
             f"{model.parameters:,} parameters"]
    lines += [f"metadata {key} = {value}" for key, value in sorted(model.metadata.items())]
    lines += [f"tensor {t.name} {t.dtype} {list(t.shape)} {human(t.nbytes)} "
              f"#{model.fingerprint(t.name)[:16]}"
              for t in sorted(model.tensors.values(), key=lambda t: t.name)]
    if model.format == "opaque":  # nothing to list: name the content itself
        lines.append(f"content {model.digest()}")
    return lines


def external_diff(args: Sequence[str]) -> list[str]:
    """diff.model.command: `PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE [...]`.

    A version that cannot be read becomes a line of output: git goes on with
    the other files instead of stopping at "external diff died".
    """
    if len(args) < 7:
        raise UserError("diff-driver expects the 7 arguments git passes to an external diff")
    path, old_file, old_hex, _, new_file, new_hex, _ = args[:7]
    store = open_store(_repo())
    before = after = None
    try:
        before = _driver_side(store, old_file, path)
        after = _driver_side(store, new_file, path)
        return diff_files(path, _short(old_hex), _short(new_hex), before, after).lines()
    except UserError as exc:
        return [f"git-model: {exc}"]
    finally:
        for model in (before, after):
            if model is not None:
                model.close()


def _driver_side(store, name: str, path: str) -> ModelFile | None:
    return None if name == "/dev/null" else from_path(store, Path(name), path)


def _short(blob: str) -> str:
    return "working tree" if set(blob) <= {"0", "."} else blob[:12]


def _repo() -> Repo:
    return Repo.discover()
