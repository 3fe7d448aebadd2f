"""Plain git commands write large models in bounded memory (deferred smudge, filter/process.py).

Git collects a smudged file whole in memory before writing it; for a model of at least
`model.checkout.deferAbove` bytes the filter answers with the pointer and writes the file
itself after git closes the pipe. What a user sees must not change: the bytes, a clean
`git status`, and every command that needs the bytes (archive, stash) getting them.
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import filter_in, git, gm
from gitmodel.git import caller
from gitmodel.store import layout
from gitmodel.store.objects import Store

MIB = 1 << 20
SIZE = 128 * MIB  # above what the filter process itself takes (~65 MB), so git's buffer shows


def write_model(path: Path, seed: int, size: int = SIZE) -> str:
    """Random bytes (incompressible, so nothing is small by accident); returns the sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        block = hashlib.sha256(str(seed).encode()).digest() * (MIB // 32)
        for i in range(size // MIB):
            data = bytes(b ^ (i & 0xFF) for b in block[:64]) + block[64:]
            out.write(data)
            digest.update(data)
    return digest.hexdigest()


def sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def peak_rss(cwd: Path, *args: str) -> int:
    """Largest RSS (bytes) of `git ARGS` and everything it started (its filter among them)."""
    code = ("import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, "git", *args], cwd=cwd, check=True,
                         capture_output=True, text=True).stdout
    return int(out) * 1024


@pytest.fixture
def two_versions(repo: Path) -> tuple[Path, str, str]:
    first = write_model(repo / "m.bin", 1)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    second = write_model(repo / "m.bin", 2)
    git(repo, "commit", "-qam", "v2")
    return repo, first, second


def test_checkout_writes_the_model_without_git_holding_it(two_versions) -> None:
    repo, first, second = two_versions
    rss = peak_rss(repo, "checkout", "-q", "HEAD~1")
    assert sha(repo / "m.bin") == first
    assert git(repo, "status", "--porcelain").stdout == b""
    assert rss < SIZE * 0.8, f"{rss / MIB:.0f} MiB peak for a {SIZE // MIB} MiB model"
    assert b"all committed, all in the cache" in gm(repo, "status").stdout
    # The same switch streamed through git, for contrast: git holds the whole file.
    streamed = peak_rss(repo, "-c", "model.checkout.deferAbove=-1", "checkout", "-q", "main")
    assert sha(repo / "m.bin") == second and streamed > SIZE


def test_reset_hard_and_restore_write_the_model_too(two_versions) -> None:
    repo, first, second = two_versions
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    assert sha(repo / "m.bin") == first
    (repo / "m.bin").write_bytes(b"scribbled over")
    git(repo, "restore", "m.bin")
    assert sha(repo / "m.bin") == first
    assert git(repo, "status", "--porcelain").stdout == b""


def test_commands_that_need_the_bytes_get_them(two_versions) -> None:
    """archive streams (it is no work-tree writer); stash's inner reset is driven by git."""
    repo, first, second = two_versions
    tar = git(repo, "archive", "--format=tar", "HEAD~1").stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        member = archive.extractfile("m.bin")
        assert member is not None
        assert hashlib.sha256(member.read()).hexdigest() == first
    with open(repo / "m.bin", "r+b") as handle:
        handle.write(b"local edit")
    edited = sha(repo / "m.bin")
    git(repo, "stash", "-q")
    assert sha(repo / "m.bin") == second
    git(repo, "stash", "pop", "-q")
    assert sha(repo / "m.bin") == edited


def test_a_clone_restores_models_through_the_deferred_path(two_versions, tmp_path: Path) -> None:
    repo, first, second = two_versions
    gm(repo, "remote", "add", "shared", str(tmp_path / "remote"))
    git(repo, "add", ".gitmodel")
    git(repo, "commit", "-qm", "remote")
    gm(repo, "push", "--all")
    clone = tmp_path / "clone"
    # No memory bound here: the filter's own download peaks at 110-140 MB, too near the
    # model's 128 MiB to tell from git's buffer (bench/ measures clone RSS at 1 GiB).
    git(tmp_path, "-c", "filter.model.process=git-model filter-process",
        "-c", "filter.model.required=true", "clone", "-q", str(repo), str(clone))
    assert sha(clone / "m.bin") == second
    assert git(clone, "-c", "filter.model.process=git-model filter-process",
               "status", "--porcelain").stdout == b""


def test_a_post_checkout_hook_of_your_own_sees_the_model(two_versions) -> None:
    repo, first, second = two_versions
    hook = repo / ".git/hooks/post-checkout.before-git-model"
    hook.write_text('#!/bin/sh\nsha256sum m.bin > seen.txt\n')
    hook.chmod(0o755)
    git(repo, "checkout", "-q", "HEAD~1")
    assert (repo / "seen.txt").read_text().split()[0] == first


def test_the_hook_leaves_a_deferred_checkout_to_the_filter(two_versions, tmp_path: Path) -> None:
    """The post-checkout shim starts no Python when the filter writes the files itself: only
    the filter reads git's config (GIT_TRACE to a file sees every git run; git-model finds
    a plain repository without asking git when git started it at the top)."""
    repo, first, second = two_versions
    trace = tmp_path / "trace"
    env = {**os.environ, "GIT_TRACE": str(trace)}
    git(repo, "checkout", "-q", "HEAD~1", env=env)
    assert sha(repo / "m.bin") == first and git(repo, "status", "--porcelain").stdout == b""
    assert trace.read_text().count("config -z --list") == 1
    assert not list((repo / ".git").glob("model-deferred-*"))  # the note goes with its filter
    trace.unlink()
    git(repo, "-c", "model.checkout.deferAbove=-1", "checkout", "-q", "main", env=env)
    assert sha(repo / "m.bin") == second and git(repo, "status", "--porcelain").stdout == b""
    assert trace.read_text().count("config -z --list") == 2  # streamed: the hook settles


@pytest.fixture
def small_versions(repo: Path) -> tuple[Path, dict[str, bytes]]:
    """Three 64 KiB models (under deferAbove: git writes them) in two commits."""
    first = {f"s{i}.bin": os.urandom(64 << 10) for i in range(3)}
    for name, data in first.items():
        (repo / name).write_bytes(data)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    for name in first:
        (repo / name).write_bytes(os.urandom(64 << 10))
    git(repo, "commit", "-qam", "v2")
    return repo, first


def test_small_models_are_settled_by_the_filter_not_the_hook(small_versions, tmp_path: Path) -> None:
    """Git writes small models itself and its index in the same second (racily clean); the
    filter settles them once git closes its pipe, so the hook starts no Python and the
    next `git status` starts no filter to re-clean them."""
    repo, first = small_versions
    trace = tmp_path / "trace"
    env = {**os.environ, "GIT_TRACE": str(trace)}
    git(repo, "checkout", "-q", "HEAD~1", env=env)
    assert {n: (repo / n).read_bytes() for n in first} == first
    assert trace.read_text().count("config -z --list") == 1  # the filter's: no git in the hook
    trace.unlink()
    assert git(repo, "status", "--porcelain", env=env).stdout == b""
    assert "filter-process" not in trace.read_text()
    assert not list((repo / ".git").glob("model-deferred-*"))


def test_a_damaged_small_model_fails_its_checkout_whole(small_versions) -> None:
    """A small file is answered in one piece, after every chunk is verified: a damaged one
    makes git's checkout fail and name the file, and no damaged bytes reach the work tree."""
    repo, first = small_versions
    store = Store(repo / ".git/model")
    oid = git(repo, "show", "HEAD~1:s1.bin").stdout.split(b"sha256:")[1].split()[0].decode()
    cid, _ = store.read_manifest(oid).chunks[0]
    pack, offset, length = store.packs.locate((layout.CHUNKS, cid)) or ("", 0, 0)
    with open(store.packs.path(pack), "r+b") as handle:
        handle.seek(offset + length - 1)
        last = handle.read(1)[0]
        handle.seek(offset + length - 1)
        handle.write(bytes([last ^ 0xFF]))
    result = git(repo, "checkout", "-q", "HEAD~1", check=False)
    assert result.returncode != 0
    assert b"s1.bin" in result.stderr and b"git model fsck" in result.stderr
    assert not (repo / "s1.bin").exists()  # git removed the old version, wrote nothing


def test_a_model_your_hook_changes_after_a_checkout_shows_as_modified(small_versions) -> None:
    """The filter settles only files that still hold what it streamed: one rewritten (same
    size) after git wrote it, in the same second, stays visible to `git status`."""
    repo, first = small_versions
    hook = repo / ".git/hooks/post-checkout.before-git-model"
    hook.write_text("#!/bin/sh\nhead -c 65536 /dev/zero > s0.bin\n")
    hook.chmod(0o755)
    git(repo, "checkout", "-q", "HEAD~1")
    assert (repo / "s0.bin").read_bytes() == bytes(64 << 10)
    assert git(repo, "status", "--porcelain").stdout == b" M s0.bin\n"


@pytest.mark.parametrize("argv, name", [
    (["git", "checkout", "main"], "checkout"),
    (["/usr/bin/git", "-c", "a=b", "-C", "dir", "--no-pager", "switch", "x"], "switch"),
    (["git", "--git-dir", "/x", "archive", "HEAD"], "archive"),
    (["git", "--git-dir=/x", "-p"], None),
    (["python3", "checkout"], None),
    ([], None),
])
def test_the_calling_git_command_is_read_from_its_argv(argv: list[str], name: str | None) -> None:
    assert caller.subcommand(argv) == name


def test_a_process_git_did_not_start_never_defers() -> None:
    assert caller.git_command(os.getpid()) is None
    assert not caller.writes_worktree_only()


@pytest.fixture
def one_region_apart(repo: Path) -> tuple[Path, str, str]:
    """Two versions that differ in 1 KiB near the start (one chunk of the 128 MiB)."""
    first = write_model(repo / "m.bin", 3)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    with open(repo / "m.bin", "r+b") as handle:
        handle.seek(5 * MIB)
        handle.write(os.urandom(1024))
    git(repo, "commit", "-qam", "v2")
    return repo, first, sha(repo / "m.bin")


def test_a_switch_rewrites_only_what_differs(one_region_apart) -> None:
    """After one full write, later switches patch the same inode in place."""
    repo, first, second = one_region_apart
    git(repo, "checkout", "-q", "HEAD~1")
    inode = (repo / "m.bin").stat().st_ino
    for rev, digest in (("main", second), ("main~1", first), ("main", second)):
        git(repo, "checkout", "-q", rev)
        assert sha(repo / "m.bin") == digest
        assert (repo / "m.bin").stat().st_ino == inode
    assert git(repo, "status", "--porcelain").stdout == b""


def test_a_file_changed_in_place_is_never_patched(one_region_apart) -> None:
    repo, first, second = one_region_apart
    git(repo, "checkout", "-q", "HEAD~1")
    with open(repo / "m.bin", "r+b") as handle:  # same size, another region than the commits
        handle.seek(64 * MIB)
        handle.write(b"x" * 4096)
    git(repo, "checkout", "-q", "-f", "main")
    assert sha(repo / "m.bin") == second


def test_a_model_removed_from_the_work_tree_frees_its_space(one_region_apart) -> None:
    repo, first, second = one_region_apart
    git(repo, "checkout", "-q", "HEAD~1")
    links = repo / ".git/model-links"
    assert any(links.iterdir())
    git(repo, "checkout", "-q", "main")
    git(repo, "rm", "-q", "m.bin")
    git(repo, "commit", "-qm", "drop")
    git(repo, "checkout", "-q", "main~1")  # a checkout that writes a model prunes stale links
    git(repo, "checkout", "-q", "main")
    assert not [p for p in links.iterdir() if p.suffix == ".json"]


def test_a_hard_link_of_your_own_keeps_its_bytes(one_region_apart, tmp_path: Path) -> None:
    repo, first, second = one_region_apart
    git(repo, "checkout", "-q", "HEAD~1")
    os.link(repo / "m.bin", tmp_path / "backup.bin")
    git(repo, "checkout", "-q", "main")
    assert sha(repo / "m.bin") == second and sha(tmp_path / "backup.bin") == first


@pytest.fixture
def saved_anew(repo: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """Two versions each saved as a new file renamed into place (as most training code
    does), so the first version's inode outlives its name."""
    first = write_model(repo / "m.bin", 1)
    os.utime(repo / "m.bin", (1e9, 1e9))  # not "racily clean": git trusts its stat data
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    second = write_model(repo / "new.tmp", 2)
    os.utime(repo / "new.tmp", (1e9, 1e9))
    os.replace(repo / "new.tmp", repo / "m.bin")
    git(repo, "commit", "-qam", "v2")
    return repo, first, second


def test_a_version_added_lately_is_linked_back_not_decoded(saved_anew, tmp_path: Path) -> None:
    """`git add` keeps the file it hashed whole (a hard link); checking that version out
    again links it into place. The index records the link's ctime: status re-cleans nothing."""
    repo, first, second = saved_anew
    kept = repo / ".git/model-whole" / pointer_oid(repo, "HEAD~1")
    trace = tmp_path / "trace"
    git(repo, "status", "--porcelain", env={**os.environ, "GIT_TRACE": str(trace)})
    assert "filter-process" not in trace.read_text()
    git(repo, "checkout", "-q", "HEAD~1")
    assert (repo / "m.bin").stat().st_ino == kept.stat().st_ino and sha(repo / "m.bin") == first
    assert git(repo, "status", "--porcelain").stdout == b""


def test_a_kept_version_changed_in_place_is_never_linked_back(saved_anew) -> None:
    """Even a write that puts the mtime back (the kept copy is the file you had) is found:
    a copy whose ctime moved is checked against the version's chunks before it is used."""
    repo, first, second = saved_anew
    kept = repo / ".git/model-whole" / pointer_oid(repo, "HEAD~1")
    st = kept.stat()
    with open(kept, "r+b") as handle:
        handle.seek(64 * MIB)
        handle.write(b"x" * 4096)
    os.utime(kept, ns=(st.st_atime_ns, st.st_mtime_ns))
    git(repo, "checkout", "-q", "HEAD~1")
    assert sha(repo / "m.bin") == first  # decoded: the kept copy has 4 KiB of x
    assert git(repo, "status", "--porcelain").stdout == b""


def test_keeping_versions_whole_can_be_turned_off(two_versions) -> None:
    repo, first, second = two_versions
    git(repo, "config", "model.checkout.keepWhole", "0")
    write_model(repo / "m.bin", 5)
    git(repo, "commit", "-qam", "v3")
    git(repo, "checkout", "-q", "HEAD~1")
    assert sha(repo / "m.bin") == second
    assert not (repo / ".git/model-whole" / pointer_oid(repo, "main")).exists()


def pointer_oid(repo: Path, rev: str) -> str:
    return git(repo, "show", f"{rev}:m.bin").stdout.split(b"sha256:")[1].split()[0].decode()


def test_a_checkout_killed_while_the_filter_writes_leaves_a_pointer_that_checkout_restores(
        two_versions) -> None:
    """kill -9 when the filter's temporary file appears (an observed event, not a timer).
    No post-checkout hook here (as after a global install), so the filter is the writer."""
    repo, first, second = two_versions
    (repo / ".git/hooks/post-checkout").unlink()
    proc = subprocess.Popen(["git", "checkout", "-q", "HEAD~1"], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed = False
    tmp = repo / ".git/model/tmp"
    while proc.poll() is None and not killed:
        if tmp.is_dir() and any(p.name.startswith(".tmp-") for p in tmp.iterdir()):
            pid = filter_in(repo)
            if pid is not None:
                os.kill(pid, 9)
                killed = True
    proc.wait()
    assert killed, "the filter finished before its temporary file was seen"
    target = repo / "m.bin"
    assert target.stat().st_size < 200 or sha(target) == first  # the pointer, or the whole file
    assert git(repo, "rev-parse", "HEAD").stdout == git(repo, "rev-parse", "main~1").stdout
    gm(repo, "checkout")
    assert sha(target) == first
    assert git(repo, "status", "--porcelain").stdout == b""
    assert gm(repo, "fsck").returncode == 0


def test_the_index_records_the_stat_data_the_file_ends_with(two_versions) -> None:
    """Everything that changes the file's inode (its hard link, its date) happens before the
    index records it: git compares ctime, so a later change would make `git status` re-read
    the model whenever a second boundary fell in between."""
    repo, first, second = two_versions
    for rev in ("HEAD~1", "main"):
        git(repo, "checkout", "-q", rev)
        debug = git(repo, "ls-files", "--debug", "m.bin").stdout.decode()
        fields = dict(line.strip().split(": ", 1) for line in debug.splitlines()[1:3])
        st = (repo / "m.bin").stat()
        assert fields["ctime"] == f"{st.st_ctime_ns // 10**9}:{st.st_ctime_ns % 10**9}"
        assert fields["mtime"] == f"{st.st_mtime_ns // 10**9}:{st.st_mtime_ns % 10**9}"


def test_only_files_from_one_mib_are_linked_or_kept_whole(repo: Path) -> None:
    """A file under 1 MiB is written again rather than linked for patching or kept whole
    (its link and record cost more than the write); a larger one gets both."""
    (repo / "small.bin").write_bytes(os.urandom(64 << 10))
    write_model(repo / "large.bin", 2, size=2 * MIB)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "both")
    for name in ("small.bin", "large.bin"):  # back to their pointers, as a clone without
        (repo / name).write_bytes(git(repo, "show", f"HEAD:{name}").stdout)  # its objects
    assert (repo / "small.bin").read_bytes().startswith(b"version https://git-lfs")
    assert gm(repo, "checkout").returncode == 0
    kept = {p.name for p in (repo / ".git/model-whole").iterdir() if p.suffix == ".json"}
    large = git(repo, "show", "HEAD:large.bin").stdout.split(b"sha256:")[1].split()[0].decode()
    assert kept == {large + ".json"}
    assert len([p for p in (repo / ".git/model-links").iterdir() if p.suffix == ".json"]) == 1
    assert git(repo, "status", "--porcelain").stdout == b""
