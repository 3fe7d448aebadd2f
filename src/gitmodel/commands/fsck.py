"""`git model fsck`: re-verify every stored object, name the files that are broken, repair.

Every manifest is rebuilt chunk by chunk (each chunk checked against its xxh3
id, a delta chunk's base chain with it) and the result checked against the
sha256 the file is named by; pointers in
HEAD and the index whose objects are absent are reported as missing. `--repair`
moves damaged objects aside to `model/bad/` (so nothing reads them again) and
re-adds the file from the working tree when the file there still has the
right content, or else fetches it again from the default model remote.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from gitmodel.git import raw
from gitmodel.git.cache import open_store
from gitmodel.git.repo import Repo
from gitmodel.store import layout
from gitmodel.store.objects import CorruptObject, MissingObject, Store
from gitmodel.store.pointer import Pointer, is_oid
from gitmodel.units import human


@dataclass
class Problem:
    pointer: Pointer | None
    oid: str
    kind: str  # "corrupt" or "missing"
    detail: str
    chunk: str | None = None  # the chunk a rebuild failed at (damaged itself, or misnamed)

    def line(self, uses: Uses) -> str:
        return f"{self.kind}: {_where(uses.get(self.oid, []))} (object {self.oid[:12]}): {self.detail}"

    def as_json(self, uses: Uses) -> dict:
        return {"kind": self.kind, "oid": self.oid, "detail": self.detail, "chunk": self.chunk,
                "paths": [f"{ref}:{path}" if ref else path for ref, path in uses.get(self.oid, [])]}


@dataclass
class Report:
    """What fsck found (and, with --repair, what is still broken after repairing)."""

    lines: list[str]           # for people: each problem, then what the repair did
    ok: bool
    problems: list[dict]       # as found, before any repair
    remaining: list[dict]      # after the repair (== problems without --repair)
    raw: list[dict] = field(default_factory=list)  # raw blobs of tracked paths in history

    def as_json(self) -> dict:
        return {"ok": self.ok, "problems": self.problems, "remaining": self.remaining,
                "raw": self.raw, "messages": self.lines}


Uses = dict[str, list[tuple[str, str]]]  # oid -> [(ref, path)]; ref "" = index or HEAD


def _uses(repo: Repo) -> tuple[Uses, dict[str, Pointer]]:
    """Where each object is used (index or HEAD, other branches and tags), and its pointer."""
    named = [("", e) for e in repo.index_entries()]
    if repo.commit("HEAD"):
        named += [("", e) for e in repo.tree_entries("HEAD")]
    refs = repo.git("for-each-ref", "--format=%(refname:short) %(refname)", "refs/heads",
                    "refs/tags")
    for line in refs.splitlines():
        short, _, full = line.rpartition(" ")  # the full name: `-n` is never read as an option
        named += [(short, e) for e in repo.tree_entries(full)]
    named = [(ref, e) for ref, e in named if e.pointer.size]  # the empty file is never stored
    result: Uses = {}
    for ref, entry in named:
        uses = result.setdefault(entry.pointer.oid, [])
        if ("", entry.path) not in uses and (ref, entry.path) not in uses:
            uses.append((ref, entry.path))
    return result, {entry.pointer.oid: entry.pointer for _, entry in named}


def _where(uses: list[tuple[str, str]]) -> str:
    if not uses:
        return "(not in any branch, tag or the index)"
    return ", ".join(f"{ref}:{path}" if ref else path for ref, path in uses)


def _check(store: Store, oid: str) -> Problem | None:
    """Rebuild one stored file version and compare it with its name."""
    try:
        manifest = store.read_manifest(oid)
    except CorruptObject as exc:
        return Problem(None, oid, "corrupt", str(exc))
    sha = hashlib.sha256()
    for cid, size in manifest.chunks:
        try:
            sha.update(store.read_chunk(cid, size))
        except (CorruptObject, MissingObject) as exc:
            culprit = next((c for c in reversed(_chain(store, cid))
                            if not store.has_chunk(c) or not store.chunk_is_sound(c)), cid)
            detail = f"chunk {culprit} is missing" if isinstance(exc, MissingObject) else str(exc)
            if culprit != cid:
                detail += f" (the delta base of chunk {cid})"
            return Problem(manifest.pointer, oid, "corrupt", detail, cid)
    if sha.hexdigest() != oid:
        return Problem(manifest.pointer, oid, "corrupt", "content does not match its sha256")
    return None


def _chain(store: Store, cid: str) -> list[str]:
    """`cid` and the delta bases under it, top first (the lowest broken one is named:
    a damaged base breaks every delta above it)."""
    chain = [cid]
    while (base := store.chunk_base(chain[-1])) is not None and base not in chain:
        chain.append(base)
    return chain


def find_problems(store: Store, uses: Uses) -> list[Problem]:
    problems = []
    stored = sorted(name for name in store.stored_names(layout.MANIFESTS) if is_oid(name))
    for oid in stored:
        if (problem := _check(store, oid)) is not None:
            problems.append(problem)
    current = {oid for oid, where in uses.items() if any(ref == "" for ref, _ in where)}
    for oid in sorted(current - set(stored)):
        problems.append(Problem(None, oid, "missing", "not in the cache (git model pull fetches it)"))
    return problems


def _quarantine(store: Store, path: Path) -> None:
    bad = store.root / "bad"
    bad.mkdir(exist_ok=True)
    os.replace(path, bad / path.name)


def _set_aside(store: Store, problem: Problem) -> None:
    """Move what a failed rebuild cannot vouch for out of the way of every reader.

    The manifest always goes: a well-formed one may still lie (a changed digit
    in a chunk id, swapped lengths), and while it stays, a re-add does not
    rewrite it and a fetch prefers it to the remote's. The chunk the rebuild
    failed at goes only if it is damaged by itself (decoded at the length its
    encoding records, it does not match its id): a manifest that lied about
    its length must not cost another file its good chunk. A delta goes with its
    chain's damaged base (it cannot be decoded without it), an intact base stays.
    """
    manifest = store.manifest_path(problem.oid)
    if manifest.exists():
        _quarantine(store, manifest)
    packed = {(layout.MANIFESTS, problem.oid)}
    for cid in _chain(store, problem.chunk) if problem.chunk is not None else []:
        if store.has_chunk(cid) and not store.chunk_is_sound(cid):
            if store.chunk_path(cid).exists():
                _quarantine(store, store.chunk_path(cid))
            packed.add((layout.CHUNKS, cid))
    store.drop_packed(packed, store.root / "bad")  # a pack is set aside whole, its sound rest kept


def _readd_from_worktree(repo: Repo, store: Store, oid: str, uses: list[tuple[str, str]]) -> bool:
    """Re-add the object from a working-tree file that still has its content."""
    for ref, path in uses:
        if ref:  # used in another branch: the working tree holds something else
            continue
        try:
            with open(repo.top / path, "rb") as handle:
                if store.add_stream(handle, name=path).oid == oid:
                    return True
        except OSError:
            continue
    return False


def _refetch(repo: Repo, store: Store, pointers: dict[Pointer, str]) -> list[str]:
    """Fetch objects that the working tree could not restore from the default remote."""
    if not pointers:
        return []
    from gitmodel.commands.sync import refetch  # network code only when a repair needs it
    repaired, error = refetch(repo, store, pointers)
    lines = [f"repaired: object {p.short} fetched again from the model remote" for p in repaired]
    return lines + ([f"could not fetch from the model remote: {error}"] if error else [])


def raw_in_history(repo: Repo) -> tuple[list[str], list[dict]]:
    """Tracked paths whose blobs are content in the history of any ref (as
    `git lfs fsck --pointers`): lines ending with the command that rewrites it, and as JSON."""
    found = raw.in_history(repo)
    if not found:
        return [], []
    lines = [f"raw: {r.path} (blob {r.blob[:12]}, {human(r.size)}) is stored in Git, not as a pointer"
             for r in found]
    paths = ",".join(sorted({r.path for r in found}))
    lines.append(f"history holds {len(found)} raw blob(s) of tracked paths: rewrite it with "
                 f"`git model migrate import --everything --include='{paths}'`")
    return lines, [{"path": r.path, "blob": r.blob, "size": r.size} for r in found]


def fsck(repo: Repo, repair: bool) -> Report:
    """Verify everything; with `repair`, set damaged objects aside and restore them."""
    store = open_store(repo)
    store.recover()  # objects a killed add left in its open pack count as stored
    uses, pointers = _uses(repo)
    problems = find_problems(store, uses)
    found = [p.as_json(uses) for p in problems]
    raw_lines, raw_found = raw_in_history(repo)
    lines = [p.line(uses) for p in problems] + raw_lines
    if not problems or not repair:
        return Report(lines, not problems and not raw_found, found, found, raw_found)
    unrepaired: dict[Pointer, str] = {}
    for problem in problems:
        if problem.kind == "corrupt":
            _set_aside(store, problem)
        where = uses.get(problem.oid, [])
        if _readd_from_worktree(repo, store, problem.oid, where):
            lines.append(f"repaired: object {problem.oid[:12]} re-added from the working tree")
        elif (pointer := pointers.get(problem.oid) or problem.pointer) is not None:
            unrepaired[pointer] = _where(where)  # git's pointer first: the manifest may lie
    lines += _refetch(repo, store, unrepaired)
    remaining = find_problems(store, uses)
    lines += [f"still broken: {p.line(uses)}" for p in remaining]
    return Report(lines, not remaining and not raw_found, found,
                  [p.as_json(uses) for p in remaining], raw_found)
