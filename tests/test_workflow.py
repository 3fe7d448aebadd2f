"""The add / commit / checkout loop through the real git binary, as a user runs it."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import cache_bytes, copy, git, gm, novel_bytes
from gitmodel.store.chunking import chunk_stream
from gitmodel.store.objects import Store, chunk_id
from gitmodel.store.pointer import parse


def commit_file(repo: Path, src: Path, name: str, message: str) -> None:
    copy(src, repo / name)
    git(repo, "add", ".gitattributes", name)
    git(repo, "commit", "-q", "-m", message)


def assert_clean(repo: Path) -> None:
    assert git(repo, "status", "--porcelain").stdout == b""


def manifest_chunks(repo: Path, name: str, rev: str = "HEAD") -> list[tuple[str, int]]:
    pointer = parse(git(repo, "show", f"{rev}:{name}").stdout)
    store = Store(repo / ".git" / "model")
    return list(store.read_manifest(pointer.oid).chunks)


def test_versions_round_trip_byte_for_byte(repo, workload):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    copy(workload / "v1_head.safetensors", repo / "model.safetensors")
    git(repo, "commit", "-q", "-am", "v1")
    git(repo, "checkout", "-q", "HEAD~1")
    assert (repo / "model.safetensors").read_bytes() == (workload / "v0_base.safetensors").read_bytes()
    assert_clean(repo)
    git(repo, "checkout", "-q", "main")
    assert (repo / "model.safetensors").read_bytes() == (workload / "v1_head.safetensors").read_bytes()
    assert_clean(repo)
    assert b"model.safetensors" in gm(repo, "ls-files").stdout


def test_committed_pointer_is_accepted_by_git_lfs(repo, workload, tmp_path):
    if shutil.which("git-lfs") is None:
        pytest.fail("git-lfs is required (Debian package git-lfs; .ci/run installs it)")
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    text = git(repo, "show", "HEAD:model.safetensors").stdout
    assert len(text) < 1024 and text.startswith(b"version https://git-lfs.github.com/spec/v1\n")
    (tmp_path / "pointer").write_bytes(text)
    check = git(repo, "lfs", "pointer", "--file=model.safetensors", f"--pointer={tmp_path / 'pointer'}",
                check=False)
    assert check.returncode == 0, check.stderr


def test_cache_dedups_tensors_and_content_defined_chunks(repo, workload):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    after_v0 = cache_bytes(repo)
    assert after_v0 < 0.8 * (workload / "v0_base.safetensors").stat().st_size  # compressed
    commit_file(repo, workload / "v1_head.safetensors", "model.safetensors", "v1")
    after_v1 = cache_bytes(repo)
    assert after_v1 - after_v0 <= 1.3 * novel_bytes(workload, "v1_head.safetensors")
    commit_file(repo, workload / "v3_reorder.safetensors", "model.safetensors", "v3")
    assert cache_bytes(repo) - after_v1 < 64 << 10  # a new header, nothing else
    before_copy = cache_bytes(repo)
    commit_file(repo, workload / "v0_base.safetensors", "opaque.bin", "opaque copy")
    before_insert = cache_bytes(repo)
    assert before_insert - before_copy < 64 << 10  # its header led to the stored pieces
    commit_file(repo, workload / "v6_insert.bin", "renamed.bin", "insert")  # a new path
    assert cache_bytes(repo) - before_insert < 4 << 20  # the piece holding the insertion
    assert_clean(repo)
    size = (workload / "v0_base.safetensors").stat().st_size
    assert len(manifest_chunks(repo, "model.safetensors", "HEAD~4")) <= size / (256 << 10)


def test_missing_object_leaves_pointer_then_checkout_restores(repo, workload, tmp_path):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
    gm(clone, "install", "--local")
    checkout = git(clone, "checkout", "-q", "main")
    assert b"git model pull" in checkout.stderr and checkout.stderr.count(b"git-model:") == 1
    assert parse((clone / "model.safetensors").read_bytes()) is not None
    assert_clean(clone)
    assert b" - model.safetensors" in gm(clone, "ls-files").stdout
    assert b"Objects missing from the cache" in gm(clone, "status").stdout
    early = gm(clone, "checkout", check=False)
    assert early.returncode == 1 and b"git model pull" in early.stderr
    assert len(early.stderr.strip().splitlines()) == 1 and b"Traceback" not in early.stderr
    shutil.copytree(repo / ".git/model/objects", clone / ".git/model/objects")
    gm(clone, "checkout")
    assert (clone / "model.safetensors").read_bytes() == (workload / "v0_base.safetensors").read_bytes()
    trace = git(clone, "status", "--porcelain", env=dict(os.environ, GIT_TRACE="1"))
    assert trace.stdout == b"" and b"filter-process" not in trace.stderr  # stat data recorded
    assert b" * model.safetensors" in gm(clone, "ls-files").stdout


def test_strict_smudge_fails_the_checkout(repo, workload, tmp_path):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
    gm(clone, "install", "--local")
    git(clone, "config", "model.smudge.strict", "true")
    result = git(clone, "checkout", "-q", "main", check=False)
    assert result.returncode == 1
    assert b"model.smudge.strict" in result.stderr and b"git model pull" in result.stderr
    assert parse((clone / "model.safetensors").read_bytes()) is not None, "the pointer, not nothing"


def _corrupt_one_chunk(repo: Path, name: str, rev: str = "HEAD") -> Path:
    cid, _ = manifest_chunks(repo, name, rev)[3]
    path = repo / ".git/model/objects/chunks" / cid[:2] / cid
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_corrupt_chunk_never_reaches_the_working_tree(repo, workload):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    commit_file(repo, workload / "v1_head.safetensors", "model.safetensors", "v1")
    v1_only = (set(manifest_chunks(repo, "model.safetensors"))
               - set(manifest_chunks(repo, "model.safetensors", "HEAD~1")))
    assert v1_only
    git(repo, "checkout", "-q", "HEAD~1")
    cid, _ = sorted(v1_only)[0]
    path = repo / ".git/model/objects/chunks" / cid[:2] / cid
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    # Streamed through git, the checkout fails; deferred (the default for a model this size),
    # git has finished when the damage shows, so the pointer stays and the message says why.
    streamed = git(repo, "-c", "model.checkout.deferAbove=-1", "checkout", "-q", "main", check=False)
    assert streamed.returncode != 0
    target = repo / "model.safetensors"  # git removes the old file; no damaged model appears
    assert not target.exists() or target.read_bytes() == (workload / "v0_base.safetensors").read_bytes()
    git(repo, "checkout", "-q", "-f", "main~1")
    result = git(repo, "checkout", "-q", "main", check=False)
    assert b"model.safetensors" in result.stderr and b"git model fsck" in result.stderr
    assert target.stat().st_size < 200 and b"model.safetensors" in gm(repo, "status").stdout
    fsck = gm(repo, "fsck", check=False)
    assert fsck.returncode == 1 and b"corrupt: model.safetensors" in fsck.stdout


def test_fsck_repair_re_adds_from_the_working_tree(repo, workload):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    assert gm(repo, "fsck").returncode == 0
    _corrupt_one_chunk(repo, "model.safetensors")
    assert gm(repo, "fsck", check=False).returncode == 1
    repair = gm(repo, "fsck", "--repair")
    assert b"repaired" in repair.stdout
    assert gm(repo, "fsck").returncode == 0
    assert any((repo / ".git/model/bad").iterdir())


def test_hostile_pointer_is_content_not_a_path(repo, tmp_path):
    hostile = b"version https://git-lfs.github.com/spec/v1\noid sha256:../../../../tmp/x\nsize 12\n"
    blob = git(repo, "hash-object", "-w", "--stdin", input=hostile).stdout.decode().strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},evil.safetensors")
    # committed as someone else's repository could hold it (our pre-commit hook refuses raw blobs)
    git(repo, "commit", "-q", "--no-verify", "-m", "hostile")
    (repo / "evil.safetensors").unlink(missing_ok=True)
    result = git(repo, "checkout", "--", "evil.safetensors")
    assert (repo / "evil.safetensors").read_bytes() == hostile
    assert b"Traceback" not in result.stderr
    listed = gm(repo, "ls-files").stdout.decode()
    assert listed == f"{blob[:12]} R evil.safetensors (80 B, raw blob in Git)\n"  # content, no pointer


def test_git_status_after_checkout_does_not_re_clean(repo, workload):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    commit_file(repo, workload / "v1_head.safetensors", "model.safetensors", "v1")
    for rev in ("HEAD~1", "main", "HEAD~1"):
        git(repo, "checkout", "-q", rev)
        env = dict(os.environ, GIT_TRACE="1")
        trace = git(repo, "status", "--porcelain", env=env)
        assert trace.stdout == b""
        assert b"filter-process" not in trace.stderr


def test_one_shot_filters_work_without_the_process_filter(repo, workload):
    git(repo, "config", "--unset", "filter.model.process")
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    commit_file(repo, workload / "v3_reorder.safetensors", "model.safetensors", "v3")
    git(repo, "checkout", "-q", "HEAD~1")
    assert (repo / "model.safetensors").read_bytes() == (workload / "v0_base.safetensors").read_bytes()
    assert_clean(repo)


def test_worktrees_share_one_cache(repo, workload, tmp_path):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "other")
    assert (tmp_path / "wt/model.safetensors").read_bytes() == (workload / "v0_base.safetensors").read_bytes()
    assert not (tmp_path / "wt/.git/model").exists()


def _wait_for(event, proc: subprocess.Popen, what: str, deadline: float = 120.0) -> None:
    """Poll until `event()` holds; fail if the process ends first (the deadline only bounds a hang)."""
    end = time.monotonic() + deadline
    while not event():
        assert proc.poll() is None, f"the filter exited ({proc.returncode}) before {what}"
        assert time.monotonic() < end, f"no {what} within {deadline:.0f} s"
        time.sleep(0.01)


def test_killed_add_leaves_a_valid_cache(repo, workload):
    """SIGKILL in the middle of a clean, once it has stored chunks and still reads its input."""
    source = workload / "v2_full.safetensors"
    copy(source, repo / "model.safetensors")
    with open(source, "rb") as data:
        expected = {chunk_id(c.data): len(c.data) for c in chunk_stream(data, source.name)}
    objects = repo / ".git/model/objects"
    proc = subprocess.Popen(["git-model", "clean", "model.safetensors"], cwd=repo,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stdin is not None
    with open(source, "rb") as data:
        proc.stdin.write(data.read(source.stat().st_size // 3))  # then the filter waits for more
    proc.stdin.flush()
    _wait_for(lambda: any(p.is_file() for p in (objects / "chunks").rglob("*")), proc,
              "a chunk in the cache")
    proc.kill()
    assert proc.wait() == -signal.SIGKILL
    proc.stdin.close()

    store = Store(repo / ".git/model")
    stored = [p for p in objects.rglob("*") if p.is_file()]
    assert stored and all(p.parent.parent.name == "chunks" for p in stored), \
        "whole chunks only: no manifest, no temporary file under objects/"
    for path in stored:
        assert path.name in expected, f"{path.name} is not a chunk of the file"
        store.read_chunk(path.name, expected[path.name])  # decodes and matches its name
    assert len(stored) < len(expected), "the kill came before the clean ended"

    git(repo, "add", "model.safetensors")  # the same file again, over the partial cache
    git(repo, "commit", "-q", "-m", "after kill")
    assert gm(repo, "fsck").returncode == 0
    assert {c for c, _ in manifest_chunks(repo, "model.safetensors")} == expected.keys()
    (repo / "model.safetensors").unlink()
    git(repo, "checkout", "--", "model.safetensors")
    assert (repo / "model.safetensors").read_bytes() == source.read_bytes()


def test_gc_deletes_only_unreferenced_objects(repo, workload):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    commit_file(repo, workload / "v1_head.safetensors", "model.safetensors", "v1")
    committed = cache_bytes(repo)
    copy(workload / "v2_full.safetensors", repo / "model.safetensors")
    git(repo, "add", "model.safetensors")
    git(repo, "reset", "-q")  # staged once, now referenced by nothing
    git(repo, "checkout", "--", "model.safetensors")
    before = cache_bytes(repo)
    assert before > committed + 5_000_000  # v2_full's deltas against v1
    assert b"would free 0 B" in gm(repo, "gc", "--dry-run").stdout  # inside the grace period
    dry = gm(repo, "gc", "--dry-run", "--grace", "0").stdout
    assert b"would delete" in dry and cache_bytes(repo) == before
    gm(repo, "gc", "--grace", "0")
    assert cache_bytes(repo) <= committed, "every chunk only v2_full used is gone"
    assert gm(repo, "fsck").returncode == 0
    git(repo, "checkout", "-q", "HEAD~1")
    assert (repo / "model.safetensors").read_bytes() == (workload / "v0_base.safetensors").read_bytes()


def test_same_size_rewrite_right_after_checkout_is_seen(repo, workload):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    commit_file(repo, workload / "v1_head.safetensors", "model.safetensors", "v1")
    git(repo, "checkout", "-q", "HEAD~1")
    copy(workload / "v1_head.safetensors", repo / "model.safetensors")  # same size, same second
    assert git(repo, "status", "--porcelain").stdout.strip() == b"M model.safetensors"


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_racy_small_files_stay_checked_by_git(repo, workload, version):
    git(repo, "update-index", "--index-version", version)
    (repo / "params.json").write_text('{"lr": 1}')
    git(repo, "add", "params.json")
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    (repo / "params.json").write_text('{"lr": 2}')
    git(repo, "add", "params.json")
    commit_file(repo, workload / "v3_reorder.safetensors", "model.safetensors", "v1")
    git(repo, "checkout", "-q", "HEAD~1")
    (repo / "params.json").write_text('{"lr": 3}')  # same size, likely the same second
    assert git(repo, "status", "--porcelain").stdout.strip() == b"M params.json"
    assert git(repo, "fsck", "--no-progress").returncode == 0


def test_concurrent_adds_in_two_worktrees_share_the_cache_safely(repo, workload, tmp_path):
    commit_file(repo, workload / "v0_base.safetensors", "model.safetensors", "v0")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "other")
    copy(workload / "v1_head.safetensors", repo / "model.safetensors")
    copy(workload / "v4_vocab.safetensors", tmp_path / "wt/model.safetensors")
    procs = [subprocess.Popen(["git", "commit", "-qam", "parallel"], cwd=cwd)
             for cwd in (repo, tmp_path / "wt")]
    assert [p.wait() for p in procs] == [0, 0]
    assert gm(repo, "fsck").returncode == 0
    git(tmp_path / "wt", "checkout", "-q", "--detach", "main")
    assert (tmp_path / "wt/model.safetensors").read_bytes() == (workload / "v1_head.safetensors").read_bytes()


def test_checkout_paths_are_relative_to_where_the_user_stands(repo, workload, tmp_path):
    (repo / "sub").mkdir()
    copy(workload / "v0_base.safetensors", repo / "sub/model.safetensors")
    git(repo, "add", ".gitattributes", "sub/model.safetensors")
    git(repo, "commit", "-q", "-m", "v0")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
    gm(clone, "install", "--local")
    git(clone, "checkout", "-q", "main")
    shutil.copytree(repo / ".git/model/objects", clone / ".git/model/objects")
    assert b"restored 1 file" in gm(clone / "sub", "checkout", "model.safetensors").stdout
    assert (clone / "sub/model.safetensors").read_bytes() == (workload / "v0_base.safetensors").read_bytes()
