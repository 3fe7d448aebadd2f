"""Issue 10: a committed model is never lost, and bad input gives one line, not a traceback.

One regression test per item of the issue, through the real git binary.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import git, gm
from gitmodel.store.objects import Store
from gitmodel.store.pointer import parse

OLD = time.time() - 30 * 86400


def _random(path: Path, mib: float, seed: int) -> bytes:
    data = hashlib.shake_256(f"seed {seed}".encode()).digest(int(mib * (1 << 20)))
    path.write_bytes(data)
    return data


def _commit(repo: Path, name: str, data_seed: int, mib: float = 2, message: str = "v") -> bytes:
    data = _random(repo / name, mib, data_seed)
    git(repo, "add", ".gitattributes", name)
    git(repo, "commit", "-qm", message)
    return data


def _store(repo: Path) -> Store:
    return Store(repo / ".git" / "model")


def _pointer(repo: Path, rev_path: str):
    return parse(git(repo, "show", rev_path).stdout)


def _age_cache(repo: Path) -> None:
    for path in (repo / ".git" / "model" / "objects").rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    return err


def _commit_blob(repo: Path, path: str, blob: bytes, message: str) -> None:
    """Commit `blob` at `path` as it is, past the clean filter (what a hostile clone holds)."""
    oid = git(repo, "hash-object", "-w", "--stdin", input=blob).stdout.decode().strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{oid},{path}")
    git(repo, "commit", "-q", "--no-verify", "-m", message)  # our hook refuses raw blobs


def _remote(repo: Path, tmp_path: Path, name: str = "store") -> Path:
    store = tmp_path / name
    gm(repo, "remote", "add", "origin", str(store))
    git(repo, "add", ".gitmodel")
    git(repo, "commit", "-qm", "remote")
    return store


# -- 1. gc when the reachability walk fails -------------------------------------------------
def test_gc_deletes_nothing_when_git_cannot_walk_the_history(repo):
    data = _commit(repo, "m.bin", 1)
    _age_cache(repo)
    (repo / ".git" / "refs" / "heads" / "x").write_text("1" * 40 + "\n")  # a missing commit
    before = sorted((repo / ".git" / "model" / "objects").rglob("*"))
    proc = gm(repo, "gc", "--grace", "0", check=False)
    err = _one_line_error(proc)
    assert proc.returncode == 1 and "nothing was deleted" in err and len(err.splitlines()) == 1
    assert sorted((repo / ".git" / "model" / "objects").rglob("*")) == before
    (repo / "m.bin").unlink()
    git(repo, "checkout", "--", "m.bin")
    assert (repo / "m.bin").read_bytes() == data


# -- 2. gc during an add that reuses an old manifest ------------------------------------------
def _drop_from_history(repo: Path) -> None:
    git(repo, "rm", "-q", "--cached", "m.bin")
    git(repo, "commit", "-qm", "drop")
    git(repo, "reset", "-q", "--hard", "HEAD~2")
    git(repo, "reflog", "expire", "--expire=now", "--all")


@pytest.mark.parametrize("shortcut", [False, True], ids=["full-add", "stat-cache-shortcut"])
def test_gc_during_add_keeps_what_the_add_reuses(repo, shortcut):
    """The clean filter has run (the objects are in the cache) but git has not written the
    index yet: a default gc then must not delete the manifest the pointer names."""
    (repo / "base.txt").write_text("base\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    data = _commit(repo, "m.bin", 2)
    _drop_from_history(repo)
    (repo / "m.bin").write_bytes(data)
    if shortcut:  # the stat cache knows this file: the add takes the expected manifest
        gm(repo, "clean", "m.bin", input=data)
    _age_cache(repo)
    pointer = gm(repo, "clean", "m.bin", input=data).stdout  # the filter's work in `git add`
    gm(repo, "gc")  # default grace period
    (repo / "m.bin").unlink()  # nothing may re-clean it: the cache alone must hold it
    _commit_blob(repo, "m.bin", pointer, "re-add")
    assert gm(repo, "fsck", check=False).returncode == 0
    git(repo, "checkout", "--", "m.bin")
    assert (repo / "m.bin").read_bytes() == data


def test_an_add_writes_again_what_gc_deleted_under_it(repo, tmp_path):
    """gc won the race (deleted the objects before the add dated them): the add rewrites them."""
    data = _random(tmp_path / "f.bin", 3, 3)
    store = _store(repo)
    with open(tmp_path / "f.bin", "rb") as handle:
        manifest = store.add_stream(handle)
    for path in (repo / ".git" / "model" / "objects").rglob("*"):
        if path.is_file():
            path.unlink()
    with open(tmp_path / "f.bin", "rb") as handle:
        assert store.add_stream(handle, expected=manifest) == manifest
    out = bytearray()

    class Sink:
        def write(self, block):
            out.extend(block)
    store.write_to(manifest.pointer, Sink())
    assert bytes(out) == data


# -- 4, 5. pointers that match the pattern but name impossible objects ------------------------
HOSTILE = {
    "huge": b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64
            + b"\nsize 9999999999999999999\n",
    "zero": b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"b" * 64 + b"\nsize 0\n",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_impossible_pointer_is_content_and_breaks_nothing(repo, tmp_path, kind):
    blob = HOSTILE[kind]
    data = _commit(repo, "good.bin", 4)
    _remote(repo, tmp_path)
    (repo / "bad.bin").write_bytes(blob)
    _commit_blob(repo, "bad.bin", blob, "hostile")
    git(repo, "status")
    for args in (["fsck"], ["ls-files"], ["gc", "--dry-run"], ["push", "--all"], ["status"]):
        proc = gm(repo, *args, check=False)
        _one_line_error(proc)
        # fsck names the blob as what it is: content stored raw for a tracked path
        assert proc.returncode == (1 if args == ["fsck"] else 0), (args, proc.stderr)
        assert args != ["fsck"] or b"raw: bad.bin" in proc.stdout
    cleaned = parse(gm(repo, "clean", "bad.bin", input=blob).stdout)
    assert cleaned is not None and cleaned.size == len(blob)  # stored as content, not emptied
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    gm(clone, "install", "--local")
    gm(clone, "pull")
    git(clone, "checkout", "-q", "-B", "other")
    assert (clone / "bad.bin").read_bytes() == blob  # content, never an empty file
    assert (clone / "good.bin").read_bytes() == data
    git(clone, "status")


# -- 7. a hostile remote does not decide how much memory a fetch takes --------------------------
def _max_rss_mib(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    code = ("import resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
            "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
            "sys.stderr.buffer.write(p.stderr)\n"
            "sys.exit(p.returncode)\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True)
    return proc, int(proc.stdout or 0) / 1024


def _hostile_object(repo: Path, store_dir: Path, chunks: list[tuple[str, int]]) -> str:
    """A pointer in HEAD for an object whose manifest on the remote lists `chunks`."""
    size = sum(n for _, n in chunks)
    oid = hashlib.sha256(b"hostile").hexdigest()
    body = {"version": 1, "oid": oid, "size": size, "chunks": [list(c) for c in chunks]}
    path = store_dir / "manifests" / oid[:2] / oid
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    _commit_blob(repo, "h.bin", f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\n"
                 f"size {size}\n".encode(), "hostile object")
    return oid


def test_remote_declaring_huge_chunks_is_refused(repo, tmp_path):
    store_dir = _remote(repo, tmp_path)
    _hostile_object(repo, store_dir, [(f"{i:032x}", 1 << 30) for i in range(96)])
    proc, rss = _max_rss_mib(["git", "model", "fetch"], repo)
    err = _one_line_error(proc)
    assert proc.returncode == 1 and "bad manifest" in err, err
    assert rss < 300, rss


def test_oversized_chunk_file_is_not_read_whole(repo, tmp_path):
    store_dir = _remote(repo, tmp_path)
    cid = "0" * 32
    _hostile_object(repo, store_dir, [(cid, 1 << 20)])
    chunk = store_dir / "chunks" / cid[:2] / cid
    chunk.parent.mkdir(parents=True, exist_ok=True)
    with open(chunk, "wb") as handle:  # 3 GiB, sparse: costs no disk
        handle.truncate(3 << 30)
    proc, rss = _max_rss_mib(["git", "model", "fetch"], repo)
    err = _one_line_error(proc)
    assert proc.returncode == 1 and "oversized" in err, err
    assert rss < 300, rss


# -- 10. push does not trust its memory of the remote -----------------------------------------
def test_push_uploads_again_what_the_remote_lost(repo, tmp_path):
    data = _commit(repo, "m.bin", 5)
    store_dir = _remote(repo, tmp_path)
    gm(repo, "push")
    for args in (["push"], ["push", "--all"]):
        shutil.rmtree(store_dir)  # wiped, restored from an old backup, expired...
        out = gm(repo, *args).stdout.decode()
        assert "pushed 1 object" in out, (args, out)
    chunks = sorted((store_dir / "chunks").rglob("*/*"))
    chunks[0].unlink()  # a lost chunk under a manifest that is still there
    assert "nothing to transfer" in gm(repo, "push").stdout.decode()  # the cheap check
    out = gm(repo, "push", "--verify").stdout.decode()
    assert "pushed 1 object" in out and "in 1 chunk" in out, out
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    gm(clone, "install", "--local")
    gm(clone, "pull")
    assert (clone / "m.bin").read_bytes() == data


def test_push_uploads_again_what_a_restored_backup_lacks(repo, tmp_path):
    """A push takes what it saw on the remote a moment ago as still there only while the
    remote's generation token is the one it left: a remote restored from a backup taken
    before the last push has an older token, and the objects are asked for again."""
    _commit(repo, "m.bin", 5)
    store_dir = _remote(repo, tmp_path)
    gm(repo, "push")
    backup = tmp_path / "backup"
    shutil.copytree(store_dir, backup)
    _commit(repo, "n.bin", 6)
    assert "pushed 1 object" in gm(repo, "push").stdout.decode()
    assert "nothing to transfer" in gm(repo, "push").stdout.decode()
    shutil.rmtree(store_dir)
    shutil.copytree(backup, store_dir)  # restored: m.bin's object only, and the old token
    out = gm(repo, "push").stdout.decode()
    assert "pushed 1 object" in out and "1 already up to date" in out, out
    # deleted by hand, the token left: found once what this clone saw is an hour old
    for manifest in (store_dir / "manifests").rglob("*/*"):
        manifest.unlink()
    assert "nothing to transfer" in gm(repo, "push").stdout.decode()
    import sqlite3
    with sqlite3.connect(repo / ".git" / "model" / "remotes.sqlite") as db:
        db.execute("UPDATE seen SET at = at - 3601")  # an hour later, for the objects
        db.execute("UPDATE pushed SET at = at - 3601")  # and for the commits pushed whole
    assert "pushed 2 objects" in gm(repo, "push").stdout.decode()


def test_pre_push_hook_uploads_again_what_the_remote_lost(repo, tmp_path):
    _commit(repo, "m.bin", 6)
    store_dir = _remote(repo, tmp_path)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    gm(repo, "push")  # this clone now remembers the remote has the object
    shutil.rmtree(store_dir)
    git(repo, "push", "-q", "origin", "main")  # the hook checks the commits' objects
    assert list((store_dir / "manifests").rglob("*/*")), "the hook pushed the objects again"


# -- 11. fsck --repair does not trust a damaged, well-formed local manifest --------------------
@pytest.mark.parametrize("damage", ["digit", "swap"])
def test_fsck_repair_takes_the_remote_manifest_over_a_lying_local_one(repo, tmp_path, damage):
    data = _random(repo / "m.bin", 6, 7)  # opaque: content-defined chunks of varied lengths
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v")
    _remote(repo, tmp_path)
    gm(repo, "push")
    pointer = _pointer(repo, "HEAD:m.bin")
    path = repo / ".git" / "model" / "objects" / "manifests" / pointer.oid[:2] / pointer.oid
    body = json.loads(path.read_text())
    chunks = body["chunks"]
    assert len(chunks) >= 2 and chunks[0][1] != chunks[1][1]
    if damage == "digit":
        cid = chunks[1][0]
        chunks[1][0] = cid[:5] + ("0" if cid[5] != "0" else "1") + cid[6:]
    else:
        chunks[0][1], chunks[1][1] = chunks[1][1], chunks[0][1]
    path.write_text(json.dumps(body))
    (repo / "m.bin").write_bytes(b"edited")  # the working tree cannot repair it
    assert gm(repo, "fsck", check=False).returncode == 1
    proc = gm(repo, "fsck", "--repair", check=False)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    bad = repo / ".git" / "model" / "bad"
    assert not [p for p in bad.iterdir() if len(p.name) == 32], "a good chunk was quarantined"
    gm(repo, "fsck")
    git(repo, "checkout", "--", "m.bin")
    assert (repo / "m.bin").read_bytes() == data


# -- 12. one-line errors, the rest of the command carries on -----------------------------------
def test_damaged_manifest_in_checkout_and_post_checkout_hook(repo):
    _commit(repo, "m.bin", 8)
    git(repo, "checkout", "-q", "-b", "side")
    _commit(repo, "m.bin", 9)
    pointer = _pointer(repo, "main:m.bin")
    manifest = repo / ".git" / "model" / "objects" / "manifests" / pointer.oid[:2] / pointer.oid
    manifest.write_bytes(b"{not json")
    proc = git(repo, "checkout", "-q", "main", check=False)  # smudge, then post-checkout
    _one_line_error(proc)
    assert proc.returncode != 0 or (repo / "m.bin").read_bytes() == pointer.encode()
    git(repo, "checkout", "-q", "-f", "main")
    proc = gm(repo, "checkout", check=False)
    err = _one_line_error(proc)
    assert proc.returncode == 1 and "m.bin" in err


def _without_root_override() -> list[str]:
    """Root ignores permission bits; without CAP_DAC_OVERRIDE it obeys them like anyone."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.fail("running as root needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_read_only_cache_serves_a_checkout(repo):
    data = _commit(repo, "m.bin", 10)
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "m.bin").unlink()
    git(repo, "commit", "-qam", "gone")
    model = repo / ".git" / "model"
    for path in [model, *model.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        proc = subprocess.run([*_without_root_override(), "git", "checkout", "-q", "main"],
                              cwd=repo, capture_output=True)
        _one_line_error(proc)
        assert proc.returncode == 0, proc.stderr
        assert (repo / "m.bin").read_bytes() == data
        (repo / "m.bin").write_bytes(pointer_text := _pointer(repo, "HEAD:m.bin").encode())
        proc = subprocess.run([*_without_root_override(), "git", "model", "checkout"],
                              cwd=repo, capture_output=True)
        _one_line_error(proc)
        assert proc.returncode == 0 and (repo / "m.bin").read_bytes() == data, pointer_text
    finally:
        for path in [model, *model.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


def _limited(max_bytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def test_disk_full_gives_one_line_and_leaves_no_half_file(repo, tmp_path):
    """RLIMIT_FSIZE makes a write fail as a full disk would (EFBIG; Python ignores SIGXFSZ);
    the limit is below the 64 KiB content-defined chunks of a small opaque file."""
    data = _commit(repo, "m.bin", 11, mib=6)
    store_dir = _remote(repo, tmp_path)
    gm(repo, "push")
    for path in store_dir.rglob("*"):  # group-writable: copied, not hard-linked (a link
        path.chmod(0o775 if path.is_dir() else 0o664)  # writes nothing that could fail)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    gm(clone, "install", "--local")
    for args in (["model", "fetch"], ["model", "pull"]):
        proc = subprocess.run(["git", *args], cwd=clone, capture_output=True,
                              preexec_fn=_limited(32 << 10))
        err = _one_line_error(proc)
        assert proc.returncode == 1 and "space" in err, err
    gm(clone, "fetch")
    proc = subprocess.run(["git", "model", "checkout"], cwd=clone, capture_output=True,
                          preexec_fn=_limited(32 << 10))
    err = _one_line_error(proc)
    assert proc.returncode == 1 and "space" in err, err
    gm(clone, "checkout")
    assert (clone / "m.bin").read_bytes() == data
    assert store_dir.exists()


def _safetensors(header: bytes, data: bytes = b"\0" * 4) -> bytes:
    return struct.pack("<Q", len(header)) + header + data


MALFORMED = {
    "shape-text": _safetensors(b'{"t":{"dtype":"F32","shape":"ab","data_offsets":[0,4]}}'),
    "shape-dict": _safetensors(b'{"t":{"dtype":"F32","shape":{"a":1},"data_offsets":[0,4]}}'),
    "metadata-list": _safetensors(b'{"__metadata__":[1],"t":{"dtype":"F32","shape":[1],'
                                  b'"data_offsets":[0,4]}}'),
    "not-utf8": _safetensors(b'{"t\xff":1}'),
    "deep": _safetensors(b'{"a":' * 100_000 + b'1' + b'}' * 100_000),
    "length-past-end": struct.pack("<Q", 1 << 40) + b"{}",
}


def test_malformed_safetensors_headers_in_show_diff_and_git_diff(repo):
    good = _safetensors(b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
    for name in MALFORMED:
        (repo / f"{name}.safetensors").write_bytes(good)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "good")
    for name, blob in MALFORMED.items():
        (repo / f"{name}.safetensors").write_bytes(blob)
    proc = git(repo, "add", "-A", check=False)  # the clean filter reads the headers
    assert proc.returncode == 0, proc.stderr
    git(repo, "commit", "-qm", "malformed")
    for name, blob in MALFORMED.items():
        file = f"{name}.safetensors"
        for args in (["model", "show", file], ["model", "show", f"HEAD:{file}"],
                     ["model", "diff", "HEAD~1", "HEAD", "--", file],
                     ["diff", "HEAD~1", "HEAD", "--", file], ["log", "-p", "--", file],
                     ["model", "textconv", file]):
            proc = git(repo, *args, check=False)
            _one_line_error(proc)
            assert proc.returncode == 0, (name, args, proc.stderr)
        assert (repo / file).read_bytes() == blob
    git(repo, "checkout", "-q", "HEAD~1")
    git(repo, "checkout", "-q", "main")
    for name, blob in MALFORMED.items():
        assert (repo / f"{name}.safetensors").read_bytes() == blob


# -- 14. empty model files ---------------------------------------------------------------------
def test_empty_model_file_passes_fsck(repo):
    (repo / "empty.bin").write_bytes(b"")
    _commit(repo, "m.bin", 12)
    git(repo, "add", "empty.bin")
    git(repo, "commit", "-qm", "empty")
    proc = gm(repo, "fsck", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- 15. stale partial uploads on the remote ---------------------------------------------------
def test_push_removes_stale_partial_uploads(repo, tmp_path):
    store_dir = _remote(repo, tmp_path)
    tmp = store_dir / "tmp"
    tmp.mkdir(parents=True)
    stale, fresh = tmp / "dead.part", tmp / "running.part"
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y")
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    _commit(repo, "m.bin", 13)
    gm(repo, "push")
    assert not stale.exists() and fresh.exists()


# -- 16. SHA-256 repositories ------------------------------------------------------------------
def test_branch_deletion_in_a_sha256_repository(tmp_path):
    work, origin = tmp_path / "w", tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "--object-format=sha256", str(origin))
    git(tmp_path, "init", "-q", "--object-format=sha256", str(work))
    gm(work, "install", "--local")
    gm(work, "track", "*.bin")
    gm(work, "remote", "add", "store", str(tmp_path / "store"))
    git(work, "add", ".")
    git(work, "commit", "-qm", "setup")
    data = _commit(work, "m.bin", 14)
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "origin", "main", "main:topic")
    proc = git(work, "push", "-q", "origin", "--delete", "topic", check=False)
    assert proc.returncode == 0, proc.stderr
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    gm(clone, "install", "--local")
    gm(clone, "pull")
    assert (clone / "m.bin").read_bytes() == data
