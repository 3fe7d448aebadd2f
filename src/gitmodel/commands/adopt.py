"""Taking over a git-lfs repository in place, and giving it back.

git-lfs and git-model write the same pointer files (Git LFS v1), so nothing in
the committed tree has to change: `git model install` in a repository whose
`.gitattributes` say `filter=lfs` points this clone's `lfs` filter and diff
drivers at git-model (in `.git/config`, overriding a global `git lfs install`),
sets git-lfs's own hooks aside (its pre-push would upload a second time, from a
`.git/lfs/objects` that lacks what git-model cleaned), and imports the objects of
`.git/lfs/objects` into the cache, each verified against its sha256. Teammates on
git-lfs keep working: same pointers, same LFS server (see transfer/lfs.py).

What was there before is saved in `.git/model/lfs-adopted.json`; `git model
uninstall` puts it back, so git-lfs finds its config, hooks and objects untouched.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from gitmodel.git.cache import open_store
from gitmodel.git.repo import LFS_PROCESS, Repo
from gitmodel.store.atomic import atomic_output
from gitmodel.store.objects import Store
from gitmodel.store.pointer import Pointer, is_oid

LFS_CONFIG = {
    "filter.lfs.process": LFS_PROCESS,
    "filter.lfs.clean": "git-model clean -- %f",
    "filter.lfs.smudge": "git-model smudge -- %f",
    "filter.lfs.required": "true",
    "diff.lfs.textconv": "git-model textconv",
    "diff.lfs.cachetextconv": "true",
}
LFS_HOOKS = ("pre-push", "post-checkout", "post-merge", "post-commit")
ASIDE = ".git-lfs"  # git-lfs's hook, set aside while git-model serves the repository
SAVED = "lfs-adopted.json"


@dataclass
class Adopted:
    imported: int        # objects copied from .git/lfs/objects into the cache
    bad: list[str]       # files there whose content does not match their name
    hooks: list[str]     # git-lfs hooks set aside

    def lines(self) -> list[str]:
        out = ["this is a git-lfs repository: git-model now serves its filter=lfs files "
               "(in .git/config only; `git model uninstall` gives them back to git-lfs)"]
        if self.imported:
            out.append(f"imported {self.imported} object(s) from .git/lfs/objects (verified)")
        if self.hooks:
            out.append(f"set git-lfs's {', '.join(self.hooks)} hook(s) aside (back on uninstall)")
        out += [f"warning: .git/lfs/objects/{name} does not match its sha256: not imported"
                for name in self.bad]
        return out


def uses_lfs(repo: Repo) -> bool:
    """Whether a tracked or working-tree `.gitattributes` routes paths to `filter=lfs`."""
    files = {repo.top / p for p in repo.git("ls-files", "-z", "--", ":(glob)**/.gitattributes")
             .split("\0") if p}
    files.add(repo.top / ".gitattributes")
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if any("filter=lfs" in line.split()[1:] for line in text.splitlines()
               if line.strip() and not line.lstrip().startswith("#")):
            return True
    return False


def lfs_objects_dir(repo: Repo) -> Path:
    """Where git-lfs keeps objects: `lfs.storage` (relative to the git dir), else .git/lfs."""
    storage = repo.config("lfs.storage")
    common = repo.model_dir.parent
    base = (common / storage) if storage else common / "lfs"
    return base / "objects"


def adopt(repo: Repo) -> Adopted | None:
    """Take over the `lfs` filter of a git-lfs repository; None when it is not one."""
    if not uses_lfs(repo):
        return None
    saved_path = repo.model_dir / SAVED
    if not saved_path.exists():
        before = {key: repo.config(key) for key in LFS_CONFIG}
        repo.model_dir.mkdir(parents=True, exist_ok=True)
        with atomic_output(saved_path) as handle:
            handle.write(json.dumps(before).encode())
    for key, value in LFS_CONFIG.items():
        repo.git("config", "--local", key, value)
    imported, bad = import_objects(repo, open_store(repo))
    aside = [n for n in LFS_HOOKS if (repo.hooks_dir / (n + ASIDE)).exists()]
    return Adopted(imported, bad, aside)


def set_lfs_hooks_aside(repo: Repo) -> list[str]:
    """Rename git-lfs's hooks `<name>.git-lfs` (before git-model's shims go in)."""
    moved = []
    for name in LFS_HOOKS:
        hook = repo.hooks_dir / name
        try:
            text = hook.read_text(errors="replace")
        except OSError:
            continue
        if "git lfs " in text or "git-lfs" in text:
            os.replace(hook, hook.with_name(name + ASIDE))
            moved.append(name)
    return moved


def give_back(repo: Repo) -> int | None:
    """Undo `adopt` after git-model's shims are gone: config and hooks as they were, and
    every version committed meanwhile written to .git/lfs/objects (git-lfs reads only
    there). Returns how many objects were written; None when never adopted."""
    saved_path = repo.model_dir / SAVED
    if not saved_path.exists():
        return None
    exported = export_objects(repo, open_store(repo))
    before = json.loads(saved_path.read_text())
    local = repo.git("config", "--local", "--list", check=False)
    for key in LFS_CONFIG:
        if f"{key}=" in local:
            repo.git("config", "--local", "--unset-all", key, check=False)
        value = before.get(key)
        if isinstance(value, str) and repo.git("config", key, check=False).strip() != value:
            repo.git("config", "--local", key, value)
    for name in LFS_HOOKS:
        aside = repo.hooks_dir / (name + ASIDE)
        if aside.exists() and not (repo.hooks_dir / name).exists():
            os.replace(aside, repo.hooks_dir / name)
    saved_path.unlink()
    return exported


def export_objects(repo: Repo, store: Store) -> int:
    """Write the cached objects of every reachable pointer that .git/lfs/objects lacks
    into it (atomically), so that git-lfs finds what was committed while git-model
    served the repository."""
    root = lfs_objects_dir(repo)
    written = 0
    for pointer in sorted(repo.reachable_pointers(), key=lambda p: p.oid):
        path = root / pointer.oid[:2] / pointer.oid[2:4] / pointer.oid
        if path.exists() or not store.has_object(pointer):
            continue
        with atomic_output(path, tmp_dir=root.parent / "tmp") as handle:
            store.write_to(pointer, handle)
        written += 1
    return written


def import_objects(repo: Repo, store: Store) -> tuple[int, list[str]]:
    """Copy the objects of .git/lfs/objects the cache lacks into it, chunked and verified:
    a file whose sha256 is not its name is left out and named."""
    root = lfs_objects_dir(repo)
    imported, bad = 0, []
    if not root.is_dir():
        return 0, []
    for path in sorted(root.glob("??/??/*")):
        oid = path.name
        if not is_oid(oid) or path.parent.parent.name != oid[:2] or path.parent.name != oid[2:4]:
            continue
        size = path.stat().st_size
        if not size or store.has_object(Pointer(oid, size)):
            continue
        with open(path, "rb") as handle:
            manifest = store.add_stream(handle, name=oid)
        if manifest.oid != oid:
            bad.append(f"{oid[:2]}/{oid[2:4]}/{oid}")
            continue
        imported += 1
    return imported, bad


def import_one(repo: Repo, store: Store, pointer: Pointer) -> bool:
    """The object of `pointer` from .git/lfs/objects into the cache (git-lfs fetched it
    there); True when the cache now has it."""
    path = lfs_objects_dir(repo) / pointer.oid[:2] / pointer.oid[2:4] / pointer.oid
    try:
        if path.stat().st_size != pointer.size:
            return False
        with open(path, "rb") as handle:
            return store.add_stream(handle, name=pointer.oid).oid == pointer.oid
    except OSError:
        return False
