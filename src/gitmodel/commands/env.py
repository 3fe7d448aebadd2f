"""`git model env`: how git-model is set up here, at a glance (as `git lfs env`)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gitmodel import __version__
from gitmodel.commands.hooks import HOOKS, is_ours
from gitmodel.commands.install import executable
from gitmodel.git.repo import Repo, call
from gitmodel.transfer import remotes


def _out(args: list[str], cwd: Path | None) -> str | None:
    proc = call(args, cwd=cwd)
    return proc.stdout.decode(errors="replace").strip() if proc.returncode == 0 else None


def _version(cwd: Path | None, *args: str) -> str | None:
    """The version number git or git-lfs prints (None when not installed)."""
    text = _out(list(args), cwd)
    words = text.replace("/", " ").split() if text else []
    return next((w for w in words if w[:1].isdigit()), text)


def _scoped(cwd: Path | None, pattern: str) -> list[dict[str, str]]:
    """Every `git config` entry matching `pattern`, with the level it comes from (passwords
    in URLs masked: the output gets pasted into bug reports)."""
    text = _out(["config", "--show-scope", "--get-regexp", pattern], cwd) or ""
    found = []
    for line in text.splitlines():
        scope, _, rest = line.partition("\t")
        key, _, value = rest.partition(" ")
        found.append({"scope": scope, "key": key, "value": remotes.redact_text(value)})
    return found


def _size(directory: Path) -> tuple[int, int]:
    """Bytes and files under `directory` (the cache: a walk, no reads)."""
    total = count = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
                count += 1
            except OSError:
                continue
    return total, count


def _lfs_paths(top: Path) -> list[str]:
    """Patterns the tracked .gitattributes files route to git-lfs."""
    listed = _out(["ls-files", "-z", "--", ":(glob).gitattributes", ":(glob)**/.gitattributes"], top)
    found = []
    for name in (listed or "").split("\0"):
        try:
            lines = (top / name).read_text(errors="replace").splitlines() if name else []
        except OSError:
            continue
        base = str(Path(name).parent)
        for line in lines:
            fields = line.split()
            if len(fields) > 1 and not fields[0].startswith("#") and "filter=lfs" in fields[1:]:
                found.append(fields[0] if base == "." else f"{base}/{fields[0]}")
    return found


def environment(repo: Repo | None) -> dict[str, Any]:
    """Everything `git model env` reports; repository parts are None outside one."""
    cwd = repo.top if repo else None
    info: dict[str, Any] = {
        "executable": executable(),
        "versions": {"git-model": __version__, "git": _version(cwd, "--version"),
                     "git-lfs": _version(cwd, "lfs", "version")},
        "filter": _scoped(cwd, r"^(filter|diff)\.model\."),
        "settings": _scoped(cwd, r"^model\."),
        "repository": None,
    }
    if repo is None:
        return info
    size, files = _size(repo.model_dir)
    default = remotes.default_name(repo)
    remote = None
    if default is not None:
        url = {r.name: r for r in remotes.list_remotes(repo)}.get(default)
        remote = {"name": default, "url": url.display if url else None,
                  "local_override": repo.config(f"model.remote.{default}.url") is not None}
    info["repository"] = {
        "top": str(repo.top),
        "cache": {"path": str(repo.model_dir), "bytes": size, "files": files},
        "hooks": {name: _hook_state(repo.hooks_dir / name) for name in HOOKS},
        "hooks_dir": str(repo.hooks_dir),
        "remote": remote,
        "lfs_patterns": _lfs_paths(repo.top),
    }
    return info


def _hook_state(path: Path) -> str:
    if is_ours(path):
        return "git-model" + (" (chained)" if path.with_name(path.name + ".before-git-model")
                              .exists() else "")
    return "other" if path.exists() else "missing"
