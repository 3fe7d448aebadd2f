"""Migrating a history that has models committed raw: `git model migrate import` against
`git lfs migrate import`, on the same 10-commit history of the workload's versions.

The history (a setup commit, v0..v7 each tagged, a last commit that changes only a
text file) is built with plain git, untimed, loose objects stored uncompressed so
that building it costs about a copy. Then the tool is installed and its migrate
command timed; the result is checked: every tag's model is a pointer, HEAD and v2
check out byte for byte, the tree is clean.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from measure import BenchError, Runner, same_bytes, tree_bytes
from tools import COMMIT, PATTERNS, Tool
from workload import Version, Workload

KEYS = ("migrate", "migrate_store_bytes", "rss_migrate")
POINTER_MAX = 200  # bytes: an LFS v1 pointer is about 130


def migrate_steps(tool: Tool, runner: Runner, root: Path, work: Workload,
                  result: dict[str, float | str]) -> None:
    """Build the raw history under ROOT, migrate it with TOOL, record time, store and RSS."""
    cmds = tool.migrate_cmds([f"--include={','.join(PATTERNS)}", "--everything"])
    if cmds is None:
        result.update(dict.fromkeys(KEYS, f"n/a (no migrate in {tool.name})"))
        return
    repo = root / "migrate"
    try:
        versions = build_history(runner, repo, work)
        install, migrate = cmds
        runner.output(install, repo)
        sample = runner.steps(migrate, repo)
        for version in versions:
            size = int(runner.output(["git", "cat-file", "-s", f"{version.tag}:{version.path}"], repo))
            if size >= POINTER_MAX:
                raise BenchError(f"{tool.name}: {version.tag}:{version.path} is still raw after migrate")
        if runner.output(["git", "status", "--porcelain"], repo).strip():
            raise BenchError(f"{tool.name}: working tree not clean after migrate")
        if not same_bytes(repo / versions[-1].path, versions[-1].source):
            raise BenchError(f"{tool.name}: the checked-out model differs after migrate")
        for version in (versions[-1], versions[2]):
            runner.output(["git", "checkout", "-q", version.tag], repo)
            if not same_bytes(repo / version.path, version.source):
                raise BenchError(f"{tool.name}: {version.tag} differs after migrate")
        result.update({"migrate": sample.seconds, "rss_migrate": sample.peak_rss,
                       "migrate_store_bytes": tree_bytes(repo / tool.store)})
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def build_history(runner: Runner, repo: Path, work: Workload) -> list[Version]:
    """10 commits, models committed raw; returns the versions in commit order."""
    repo.mkdir(parents=True)
    runner.output(["git", "init", "-q"], repo)
    runner.output(["git", "config", "core.looseCompression", "0"], repo)
    (repo / "notes.txt").write_text("setup\n")
    runner.output(["git", "add", "-A"], repo)
    runner.output([*COMMIT, "setup"], repo)
    versions = [*work.versions, work.extra]
    for version in versions:
        for stale in ("model.safetensors", "model.bin"):
            (repo / stale).unlink(missing_ok=True)
        shutil.copyfile(version.source, repo / version.path)
        runner.output(["git", "add", "-A"], repo)
        runner.output([*COMMIT, version.tag], repo)
        runner.output(["git", "tag", version.tag], repo)
    (repo / "notes.txt").write_text("after v7\n")
    runner.output(["git", "add", "-A"], repo)
    runner.output([*COMMIT, "notes"], repo)
    return versions
