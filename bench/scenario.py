"""One repetition of the benchmark for one tool: every step in order, every result checked.

Steps: add+commit v0..v6 (store growth of v2_full) -> store size -> push v1, then
v2_full (its bytes), then all -> add+commit v7 -> push it -> clone + pull ->
checkout switches, each followed by the first status -> switches between two
versions a few tensors apart -> checkout of v0 and of v2_full (deltas) in turn ->
migrate import of a raw 10-commit history (bench/migrate.py).
A wrong working tree or a dirty status makes the run fail rather than report
a fast but incorrect number.
"""
from __future__ import annotations

import shutil
import statistics
from pathlib import Path

from lfsbench import KEYS as lfs_keys
from lfsbench import lfs_server_steps
from manyfiles import many_files_steps
from measure import BenchError, Runner, Sample, linked_bytes, same_bytes, tree_bytes, unshared_bytes
from migrate import KEYS as migrate_keys
from migrate import migrate_steps
from tools import Layout, Tool, isolated_env
from workload import Version, Workload

SWITCHES = ("v2", "v6", "v1")  # full fine-tune, opaque .bin under a new path, head fine-tune
NEAR = ("v0", "v1")
SKIP: set[str] = set()  # optional parts left out of a run (run.py --skip): "lfs-server", "migrate"
FULL = "v2"  # the full fine-tune: every tensor changed a little (stored as deltas)
BIG_PATH = "big.bin"  # from v1: versions a few tensors apart (6% of the bytes), both ways
STARTUP_RUNS = 5

Result = dict[str, float | str]  # metric key -> value, or the reason it is not available


def run_tool(tool: Tool, work: Workload, root: Path, log: Path) -> Result:
    """Run the whole scenario in `root` (created here, deleted at the end); commands go to `log`."""
    lay = Layout(root)
    runner = Runner(isolated_env(lay, tool), log)
    try:
        return _scenario(tool, work, lay, runner)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _scenario(tool: Tool, work: Workload, lay: Layout, runner: Runner) -> Result:
    result: Result = {"startup": startup(tool, runner, lay.root)}
    tool.setup(runner, lay)
    by_tag = {v.tag: v for v in [*work.versions, work.extra]}

    adds = []
    for version in work.versions:
        before = tree_bytes(lay.repo / tool.store)
        adds.append(commit_version(tool, runner, lay.repo, version))
        if version.tag == FULL:
            result["store_full"] = tree_bytes(lay.repo / tool.store) - before
    for version, sample in zip(work.versions, adds):
        result[f"add_{version.tag}"] = sample.seconds
    result["add_total"] = sum(s.seconds for s in adds)
    result["store_bytes"] = tree_bytes(lay.repo / tool.store)
    result["store_kept"] = (unshared_bytes(lay.repo / tool.kept) if tool.kept
                            else f"n/a ({tool.name} keeps none)")

    missing = tool.remote_missing(runner, lay.repo)
    if missing is None:
        push_steps(tool, runner, lay, work, result)
        if "lfs-server" in SKIP:
            result.update(dict.fromkeys(lfs_keys, "not run (--skip lfs-server)"))
        else:
            lfs_server_steps(tool, runner, lay, work, result)
    else:
        commit_version(tool, runner, lay.repo, work.extra)
        for key in ("push_all", "push_all_bytes", "push_full_bytes", "push_one", "push_one_bytes",
                    "push_one_vs_novel", "push_linked_bytes", "clone_pull", "rss_push",
                    "rss_clone_pull", "clone_smudge", "rss_clone_smudge"):
            result[key] = f"n/a ({missing})"

    checkouts, statuses = [], []
    for tag in SWITCHES:
        checkouts.append(tool.checkout(runner, lay.repo, tag))
        verify_tree(lay.repo, by_tag[tag], tool)
        statuses.append(tool.status(runner, lay.repo))
        verify_clean(runner, lay.repo, tool)
    near = []
    for tag in NEAR:
        near.append(tool.checkout(runner, lay.repo, tag))
        verify_tree(lay.repo, by_tag[tag], tool)
        verify_clean(runner, lay.repo, tool)
    reset = tool.reset_hard(runner, lay.repo, FULL)
    verify_tree(lay.repo, by_tag[FULL], tool)
    verify_clean(runner, lay.repo, tool)
    result["reset"], result["rss_reset"] = reset.seconds, reset.peak_rss
    result["checkout"] = statistics.median(s.seconds for s in checkouts)
    result["checkout_near"] = statistics.median(s.seconds for s in near)
    result["status"] = statistics.median(s.seconds for s in statuses)
    result["rss_add"] = max(s.peak_rss for s in adds)
    result["rss_checkout"] = max(s.peak_rss for s in checkouts + near)
    result["rss_status"] = max(s.peak_rss for s in statuses)
    delta_checkouts(tool, runner, lay.repo, by_tag, result)
    if work.big is not None:
        big_file(tool, runner, lay, work.big, result)
    if "migrate" in SKIP:
        result.update(dict.fromkeys(migrate_keys, "not run (--skip migrate)"))
    else:
        migrate_steps(tool, runner, lay.root, work, result)
    many_files_steps(tool, runner, lay.root, result)
    return result


def delta_checkouts(tool: Tool, runner: Runner, repo: Path, by_tag: dict[str, Version],
                    result: Result) -> None:
    """Checkout of v0 (stored whole) from v2_full and back: every tensor differs, so both
    write the whole file; v2_full's pieces are stored as deltas against v0's. Decoded, not
    linked back from a kept copy, which is what these rows are about."""
    samples = {}
    for tag in ("v2", "v0", "v2"):
        samples[tag] = tool.checkout(runner, repo, tag, decode=True)
        verify_tree(repo, by_tag[tag], tool)
    result["checkout_v0"] = samples["v0"].seconds
    result["checkout_full"] = samples["v2"].seconds


def big_file(tool: Tool, runner: Runner, lay: Layout, source: Path, result: Result) -> None:
    """Commit one file several times the model's size on a branch, leave it, then time the
    checkout that writes it back (git holds a smudged file whole unless a tool avoids it);
    then the same through `git reset --hard` and through a clone that smudges it."""
    repo = lay.repo
    base = runner.output(["git", "rev-parse", "HEAD"], repo).strip()
    runner.output(["git", "checkout", "-q", "-b", "big"], repo)
    shutil.copyfile(source, repo / BIG_PATH)
    tool.add_commit(runner, repo, BIG_PATH, "big")
    tool.checkout(runner, repo, base)
    (repo / BIG_PATH).unlink(missing_ok=True)  # DVC leaves it as an untracked file
    sample = tool.checkout(runner, repo, "big", decode=True)
    if not same_bytes(repo / BIG_PATH, source):
        raise BenchError(f"{tool.name}: checking out {BIG_PATH} did not restore it byte for byte")
    verify_clean(runner, repo, tool)
    result["checkout_big"] = sample.seconds
    result["rss_checkout_big"] = sample.peak_rss
    tool.checkout(runner, repo, base)
    (repo / BIG_PATH).unlink(missing_ok=True)
    reset = tool.reset_hard(runner, repo, "big")
    if not same_bytes(repo / BIG_PATH, source):
        raise BenchError(f"{tool.name}: git reset --hard did not restore {BIG_PATH} byte for byte")
    verify_clean(runner, repo, tool)
    result["reset_big"], result["rss_reset_big"] = reset.seconds, reset.peak_rss
    (repo / BIG_PATH).unlink()
    if not isinstance(result.get("clone_pull"), float):  # no remote to clone from
        result["clone_smudge_big"] = result["rss_clone_smudge_big"] = result["clone_pull"]
        return
    if tool.pushes_tags:
        tool.push_tag(runner, repo, "big")
    smudge_clone(tool, runner, lay, "big", {BIG_PATH: source}, "_big", result)


def startup(tool: Tool, runner: Runner, cwd: Path) -> float:
    """Median wall time of the tool's version command: what every hook and filter pays."""
    return statistics.median(runner.run(tool.version_cmd(), cwd).seconds
                             for _ in range(STARTUP_RUNS))


def commit_version(tool: Tool, runner: Runner, repo: Path, version: Version) -> Sample:
    """Put `version` in place as the only model file (untimed), then time add + commit."""
    for stale in ("model.safetensors", "model.bin"):
        (repo / stale).unlink(missing_ok=True)
        if stale != version.path:
            (repo / (stale + ".dvc")).unlink(missing_ok=True)
    shutil.copyfile(version.source, repo / version.path)
    sample = tool.add_commit(runner, repo, version.path, version.tag)
    runner.output(["git", "tag", version.tag], repo)
    return sample


def push_steps(tool: Tool, runner: Runner, lay: Layout, work: Workload, result: Result) -> None:
    """Push v0..v6, add v7 and push it, then clone and pull HEAD; bytes are remote growth."""
    before = tree_bytes(*tool.remote_dirs(lay))
    push_all = None
    if tool.pushes_tags:  # v2_full's own push: its parent's history first, then its tag
        push_all = tool.push_tag(runner, lay.repo, "v1")
        before_full = tree_bytes(*tool.remote_dirs(lay))
        push_all += tool.push_tag(runner, lay.repo, FULL)
        result["push_full_bytes"] = tree_bytes(*tool.remote_dirs(lay)) - before_full
    else:
        result["push_full_bytes"] = f"n/a ({tool.name} pushes the workspace's version)"
    rest = tool.push(runner, lay.repo, first=True)
    push_all = rest if push_all is None else push_all + rest
    after_all = tree_bytes(*tool.remote_dirs(lay))
    commit_version(tool, runner, lay.repo, work.extra)
    push_one = tool.push(runner, lay.repo, first=False)
    after_one = tree_bytes(*tool.remote_dirs(lay))
    linked = linked_bytes(*tool.remote_dirs(lay))  # before the clone can add links of its own
    pulled = tool.clone_pull(runner, lay)
    if not same_bytes(lay.clone / work.extra.path, work.extra.source):
        raise BenchError(f"{tool.name}: clone + pull did not restore {work.extra.path} "
                         f"byte for byte\n{runner.tail()}")
    smudge_clone(tool, runner, lay, "main", {work.extra.path: work.extra.source}, "", result)
    result.update({
        "push_all": push_all.seconds, "push_all_bytes": after_all - before,
        "push_one": push_one.seconds, "push_one_bytes": after_one - after_all,
        "push_one_vs_novel": (after_one - after_all) / work.extra.novel_bytes,
        "push_linked_bytes": linked,
        "clone_pull": pulled.seconds,
        "rss_push": max(push_all.peak_rss, push_one.peak_rss), "rss_clone_pull": pulled.peak_rss,
    })


def smudge_clone(tool: Tool, runner: Runner, lay: Layout, branch: str, files: dict[str, Path],
                 suffix: str, result: Result) -> None:
    """Time a clone whose checkout smudges `files` (path -> expected bytes), deleted after."""
    dest = lay.root / f"clone-smudge{suffix}"
    sample = tool.smudge_clone(runner, lay, branch, dest)
    if sample is None:
        result[f"clone_smudge{suffix}"] = result[f"rss_clone_smudge{suffix}"] = \
            f"n/a ({tool.name} has no smudge filter)"
        return
    for path, source in files.items():
        if not same_bytes(dest / path, source):
            raise BenchError(f"{tool.name}: a smudging clone did not write {path} byte for byte\n"
                             f"{runner.tail()}")
    verify_clean(runner, dest, tool)
    result[f"clone_smudge{suffix}"] = sample.seconds
    result[f"rss_clone_smudge{suffix}"] = sample.peak_rss
    shutil.rmtree(dest)


def verify_tree(repo: Path, version: Version, tool: Tool) -> None:
    """The checked-out model must be the workload file, byte for byte."""
    if not same_bytes(repo / version.path, version.source):
        raise BenchError(f"{tool.name}: after checking out {version.tag}, {version.path} "
                         f"differs from {version.source.name}")


def verify_clean(runner: Runner, repo: Path, tool: Tool) -> None:
    """After a checkout nothing may look modified: a dirty tree would mean a broken filter."""
    dirty = runner.output(["git", "status", "--porcelain"], repo).strip()
    if dirty:
        raise BenchError(f"{tool.name}: working tree not clean after checkout:\n{dirty}")
