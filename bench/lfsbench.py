"""Bench rows against a real Git LFS server (giftless on 127.0.0.1, bench/lfsserver.py):
push v0..v6, push v7, and clone + pull HEAD, for git-model and git-lfs.

An LFS server stores whole files, so both tools send every new version whole: the
bytes rows are the server's storage growth, which is what went over the wire. The
repository is the one the scenario already built; the objects go to a second git
remote whose LFS endpoint is the server (git-lfs: `lfs.url` in .git/config; git-model:
a model remote set in `.git/config`).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from lfsserver import LfsServer
from measure import BenchError, Runner, Sample, same_bytes, tree_bytes
from tools import Layout, Tool
from workload import Workload

KEYS = ("lfs_push_all", "lfs_push_all_bytes", "lfs_push_one", "lfs_push_one_bytes", "lfs_clone_pull")
REMOTE = "lfsbench"


def missing(tool: Tool) -> str | None:
    if tool.name not in ("git-model", "git-lfs"):
        return "no Git LFS client"
    if importlib.util.find_spec("giftless") is None or importlib.util.find_spec("waitress") is None:
        return "giftless not installed (pip install -e '.[test]')"
    return None


def lfs_server_steps(tool: Tool, runner: Runner, lay: Layout, work: Workload,
                     result: dict[str, float | str]) -> None:
    """Push v0..v6 (their tags), then v7, to a fresh server; clone and pull v7 from it."""
    why = missing(tool)
    if why is not None:
        result.update(dict.fromkeys(KEYS, f"n/a ({why})"))
        return
    with LfsServer(lay.root / "lfs-server") as server:
        url = server.endpoint("bench", "models")
        creds = lay.root / "lfs-credentials"
        creds.write_text(server.credential_url("bench") + "\n")
        runner.output(["git", "config", "--global", "credential.helper", f"store --file={creds}"],
                      lay.root)
        bare = lay.root / "lfs-remote.git"
        runner.output(["git", "init", "-q", "--bare", str(bare)], lay.root)
        _configure(tool, runner, lay.repo, bare, url)
        tags = [v.tag for v in work.versions]
        all_versions = _push(tool, runner, lay.repo, tags)
        after_all = tree_bytes(server.objects)
        one = _push(tool, runner, lay.repo, [work.extra.tag])
        after_one = tree_bytes(server.objects)
        runner.output(["git", "push", "-q", str(bare), "main"], lay.repo)
        clone = lay.root / "lfs-clone"
        pulled = _clone_pull(tool, runner, bare, clone, url)
        if not same_bytes(clone / work.extra.path, work.extra.source):
            raise BenchError(f"{tool.name}: clone + pull from the LFS server did not restore "
                             f"{work.extra.path} byte for byte\n{runner.tail()}")
    result.update({"lfs_push_all": all_versions.seconds, "lfs_push_all_bytes": after_all,
                   "lfs_push_one": one.seconds, "lfs_push_one_bytes": after_one - after_all,
                   "lfs_clone_pull": pulled.seconds})


def _configure(tool: Tool, runner: Runner, repo: Path, bare: Path, url: str) -> None:
    runner.output(["git", "remote", "add", REMOTE, str(bare)], repo)
    if tool.name == "git-lfs":
        # lfs.url (the repository's .lfsconfig names the file remote) beats remote.*.lfsurl
        runner.output(["git", "config", "lfs.url", url], repo)
    else:
        runner.output(["git", "config", f"model.remote.{REMOTE}.url", url], repo)


def _push(tool: Tool, runner: Runner, repo: Path, tags: list[str]) -> Sample:
    if tool.name == "git-lfs":
        return runner.run(["git", "lfs", "push", REMOTE, *tags], repo)
    return runner.run(["git", "model", "push", REMOTE, *tags], repo)


def _clone_pull(tool: Tool, runner: Runner, bare: Path, clone: Path, url: str) -> Sample:
    """Clone (pointers only), point the clone at the server, pull HEAD (all timed)."""
    cloned = runner.run(["git", "clone", "-q", str(bare), str(clone)], bare.parent)
    if tool.name == "git-lfs":  # no global `git lfs install` here: the clone holds pointers
        return cloned + runner.steps([["git", "lfs", "install", "--local"],
                                      ["git", "config", "lfs.url", url],
                                      ["git", "lfs", "pull"]], clone)
    return cloned + runner.steps([["git", "model", "install"],
                                  ["git", "config", f"model.remote.{REMOTE}.url", url],
                                  ["git", "model", "pull", REMOTE]], clone)
