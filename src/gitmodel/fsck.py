"""`git model fsck`: re-verify every stored object, name the files that are broken, repair.

Every manifest is rebuilt chunk by chunk (each chunk checked against its xxh3
id) and the result checked against the sha256 the file is named by; pointers in
HEAD and the index whose objects are absent are reported as missing. `--repair`
moves damaged objects aside to `model/bad/` (so nothing reads them again) and
re-adds the file from the working tree when the file there still has the
right content, or else fetches it again from the default model remote.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .filter import open_store
from .git import Entry, Repo
from .pointer import Pointer, is_oid
from .store import CorruptObject, MissingObject, Store


@dataclass
class Problem:
    pointer: Pointer | None
    oid: str
    kind: str  # "corrupt" or "missing"
    detail: str
    bad_path: Path | None = None  # the damaged file in the cache, for --repair

    def line(self, paths: list[str]) -> str:
        where = ", ".join(paths) if paths else "(not in HEAD or the index)"
        return f"{self.kind}: {where} (object {self.oid[:12]}): {self.detail}"


def _entries(repo: Repo) -> list[Entry]:
    entries = repo.index_entries()
    if repo.git("rev-parse", "-q", "--verify", "HEAD", check=False):
        entries += repo.tree_entries("HEAD")
    return entries


def _paths_by_oid(entries: list[Entry]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for entry in entries:
        paths = result.setdefault(entry.pointer.oid, [])
        if entry.path not in paths:
            paths.append(entry.path)
    return result


def _check(store: Store, oid: str) -> Problem | None:
    """Rebuild one stored file version and compare it with its name."""
    try:
        manifest = store.read_manifest(oid)
    except CorruptObject as exc:
        return Problem(None, oid, "corrupt", str(exc), store.manifest_path(oid))
    sha = hashlib.sha256()
    for cid, size in manifest.chunks:
        try:
            sha.update(store.read_chunk(cid, size))
        except (CorruptObject, MissingObject) as exc:
            detail = f"chunk {cid} is missing" if isinstance(exc, MissingObject) else str(exc)
            bad = store.chunk_path(cid) if isinstance(exc, CorruptObject) else None
            return Problem(manifest.pointer, oid, "corrupt", detail, bad)
    if sha.hexdigest() != oid:
        return Problem(manifest.pointer, oid, "corrupt", "content does not match its sha256",
                       store.manifest_path(oid))
    return None


def find_problems(repo: Repo, store: Store, referenced: dict[str, list[str]]) -> list[Problem]:
    problems = []
    stored = sorted(p.name for p in store.manifest_dir.glob("*/*") if is_oid(p.name))
    for oid in stored:
        if (problem := _check(store, oid)) is not None:
            problems.append(problem)
    for oid in sorted(set(referenced) - set(stored)):
        problems.append(Problem(None, oid, "missing", "not in the cache (git model pull fetches it)"))
    return problems


def _quarantine(store: Store, path: Path) -> None:
    bad = store.root / "bad"
    bad.mkdir(exist_ok=True)
    os.replace(path, bad / path.name)


def _readd_from_worktree(repo: Repo, store: Store, oid: str, paths: list[str]) -> bool:
    """Re-add the object from a working-tree file that still has its content."""
    for path in paths:
        try:
            with open(repo.top / path, "rb") as handle:
                if store.add_stream(handle).oid == oid:
                    return True
        except OSError:
            continue
    return False


def _refetch(repo: Repo, store: Store, pointers: dict[Pointer, str]) -> list[str]:
    """Fetch objects that the working tree could not restore from the default remote."""
    if not pointers:
        return []
    from .sync import refetch  # network code only when a repair needs it
    repaired, error = refetch(repo, store, pointers)
    lines = [f"repaired: object {p.short} fetched again from the model remote" for p in repaired]
    return lines + ([f"could not fetch from the model remote: {error}"] if error else [])


def fsck(repo: Repo, repair: bool) -> tuple[list[str], bool]:
    """Report lines and whether everything is sound (after repair, if asked)."""
    store = open_store(repo)
    entries = _entries(repo)
    referenced = _paths_by_oid(entries)
    problems = find_problems(repo, store, referenced)
    lines = [p.line(referenced.get(p.oid, [])) for p in problems]
    if not problems or not repair:
        return lines, not problems
    pointers = {e.pointer.oid: e.pointer for e in entries}
    unrepaired: dict[Pointer, str] = {}
    for problem in problems:
        if problem.bad_path is not None and problem.bad_path.exists():
            _quarantine(store, problem.bad_path)
        paths = referenced.get(problem.oid, [])
        if _readd_from_worktree(repo, store, problem.oid, paths):
            lines.append(f"repaired: object {problem.oid[:12]} re-added from the working tree")
        elif (pointer := problem.pointer or pointers.get(problem.oid)) is not None:
            unrepaired[pointer] = paths[0] if paths else f"object {pointer.short}"
    lines += _refetch(repo, store, unrepaired)
    remaining = find_problems(repo, store, referenced)
    lines += [f"still broken: {p.line(referenced.get(p.oid, []))}" for p in remaining]
    return lines, not remaining
