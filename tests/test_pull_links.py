"""Clone + pull from a directory remote: loose chunks are hard-linked into the cache (no copy),
only when that is safe, and still verified; many small files come back in a few ranged reads."""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest

from conftest import git, gm


def _pushed(repo: Path, tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, Path]:
    """FILES committed and pushed to a bare origin and a directory model remote."""
    origin, store = tmp_path / "origin.git", tmp_path / "models"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    gm(repo, "remote", "add", "shared", str(store))
    for path, data in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "push", "-q", "origin", "HEAD:refs/heads/main")  # the pre-push hook uploads
    git(origin, "symbolic-ref", "HEAD", "refs/heads/main")
    return origin, store


def _clone(origin: Path, tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    gm(clone, "install", "--local")
    return clone


def _inodes(folder: Path) -> set[int]:
    return {p.stat().st_ino for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def large(repo: Path, tmp_path: Path) -> tuple[bytes, Path, Path]:
    data = random.Random(3).randbytes(3 << 20)  # several loose chunks
    origin, store = _pushed(repo, tmp_path, {"model.bin": data})
    return data, origin, store


def test_pull_links_loose_chunks_of_a_directory_remote(large: tuple[bytes, Path, Path],
                                                        tmp_path: Path) -> None:
    data, origin, store = large
    clone = _clone(origin, tmp_path)
    gm(clone, "pull")
    assert (clone / "model.bin").read_bytes() == data
    remote, cache = _inodes(store / "chunks"), _inodes(clone / ".git/model/objects/chunks")
    assert len(remote) > 1 and cache == remote  # the same inodes: nothing copied
    assert not list((clone / ".git/model/tmp").glob(".link-*"))
    assert "all objects verified" in gm(clone, "fsck").stdout.decode()


def test_a_chunk_others_may_write_is_copied_not_linked(large: tuple[bytes, Path, Path],
                                                       tmp_path: Path) -> None:
    data, origin, store = large
    shared = sorted((store / "chunks").rglob("*"))[-1]
    os.chmod(shared, 0o666)  # anyone could change it after it was verified
    clone = _clone(origin, tmp_path)
    gm(clone, "pull")
    assert (clone / "model.bin").read_bytes() == data
    cache = _inodes(clone / ".git/model/objects/chunks")
    assert shared.stat().st_ino not in cache and len(cache & _inodes(store / "chunks")) >= 1


def test_a_damaged_linked_chunk_is_refused_and_not_kept(large: tuple[bytes, Path, Path],
                                                        tmp_path: Path) -> None:
    data, origin, store = large
    victim = sorted(p for p in (store / "chunks").rglob("*") if p.is_file())[0]
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    victim.write_bytes(bytes(blob))  # same inode, same owner: a link would be allowed
    clone = _clone(origin, tmp_path)
    proc = gm(clone, "pull", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "does not match its id" in err and "Traceback" not in err, err
    assert victim.stat().st_ino not in _inodes(clone / ".git/model/objects")
    assert not list((clone / ".git/model/tmp").glob(".link-*"))
    assert (clone / "model.bin").read_bytes() != data  # still the pointer


def _pull_counting_reads(clone: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`git model pull` of all 200 files in CLONE, in this process; the ranged reads it made."""
    from gitmodel.commands import sync
    from gitmodel.git.repo import Repo
    from gitmodel.transfer import remotes
    calls: list[str] = []
    real = remotes.Backend.read_range
    monkeypatch.setattr(remotes.Backend, "read_range",
                        lambda self, *a: calls.append(a[0]) or real(self, *a))
    monkeypatch.chdir(clone)
    _, stats, done, missing = sync.pull(Repo.discover(), None)
    assert stats.objects == 200 and len(done) == 200 and not missing
    return calls


def test_many_small_files_are_read_a_span_at_a_time(repo: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """200 packed files: the clone reads their manifests and chunks in a few ranged reads
    (one per file and per chunk before: 400 here, as many GETs on S3)."""
    rng = random.Random(9)
    files = {f"d{i % 7}/f{i}.bin": rng.randbytes(3000 + i) for i in range(200)}
    origin, _ = _pushed(repo, tmp_path, files)
    clone = _clone(origin, tmp_path)
    calls = _pull_counting_reads(clone, monkeypatch)
    assert 1 <= len(calls) <= 4, calls
    assert all((clone / p).read_bytes() == b for p, b in files.items())


def test_files_are_fetched_in_the_order_the_remote_packs_hold_them(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A push packs objects in the order it meets them, not by path; the pull takes the
    files in pack order, so each span read serves the files that follow and the stash
    stays small (in path order, 10,000 files of 64 KiB overflowed it: 9,356 reads of one
    chunk each). Spans and stash are made small here to show it with 200 small files.
    The pointers the pull replaced are deleted once it is done."""
    from gitmodel.transfer import engine
    rng = random.Random(5)
    files = {f"d{i % 7}/f{i:03d}.bin": rng.randbytes(3000 + i) for i in range(200)}
    origin, _ = _pushed(repo, tmp_path, files)
    clone = _clone(origin, tmp_path)
    monkeypatch.setattr(engine, "SPAN", 32 << 10)
    monkeypatch.setattr(engine, "STASH", 64 << 10)
    calls = _pull_counting_reads(clone, monkeypatch)
    packed = sum(len(b) for b in files.values())  # the chunks, then 200 small manifests
    assert len(calls) <= packed // (32 << 10) + 6, len(calls)
    assert all((clone / p).read_bytes() == b for p, b in files.items())
    assert list((clone / ".git/model/tmp").iterdir()) == []
    assert git(clone, "status", "--porcelain").stdout == b""


def test_fetched_chunks_land_at_their_offsets_whatever_order_they_finish_in(
        tmp_path: Path) -> None:
    """The fetch's workers write each chunk where it belongs while the caller hashes in
    order: a later chunk finishing first must not shift the file."""
    import concurrent.futures
    import hashlib
    import threading

    from gitmodel.store.objects import Manifest, chunk_id
    from gitmodel.transfer import engine

    parts = [random.Random(n).randbytes(1000 + n) for n in range(6)]
    manifest = Manifest(hashlib.sha256(b"".join(parts)).hexdigest(), sum(map(len, parts)),
                        tuple((chunk_id(p), len(p)) for p in parts))
    by_id = {chunk_id(p): p for p in parts}
    last_done = threading.Event()

    def chunk(cid: str, size: int) -> bytes:
        if cid == manifest.chunks[0][0]:
            last_done.wait()  # the first chunk is the last to arrive
        if cid == manifest.chunks[-1][0]:
            last_done.set()
        return by_id[cid]

    with concurrent.futures.ThreadPoolExecutor(3) as pool, \
            open(tmp_path / "out", "wb") as out:
        assert engine._sha256(manifest, chunk, pool, len(parts), out) == manifest.oid
    assert (tmp_path / "out").read_bytes() == b"".join(parts)


def test_a_large_fetched_file_is_written_direct_and_whole(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Large files skip the page cache (store/direct.py): each chunk's aligned middle is
    written directly, its unaligned ends through the cache; the file is the same bytes,
    whatever the chunks' offsets and the order they finish in."""
    import concurrent.futures
    import hashlib

    from gitmodel.store import direct
    from gitmodel.store.objects import Manifest, chunk_id
    from gitmodel.transfer import engine

    monkeypatch.setattr(direct, "DIRECT_FROM", 1)
    opened: list[direct.DirectWrites | None] = []
    real_open = direct.DirectWrites.open
    monkeypatch.setattr(direct.DirectWrites, "open",
                        lambda fd, size: opened.append(real_open(fd, size)) or opened[-1])
    sizes = [5, 4091, 4096, 12288 + 7, 100_000, 3, 8192, 65536 + 4095, 1]
    parts = [random.Random(n).randbytes(size) for n, size in enumerate(sizes)]
    manifest = Manifest(hashlib.sha256(b"".join(parts)).hexdigest(), sum(sizes),
                        tuple((chunk_id(p), len(p)) for p in parts))
    by_id = {chunk_id(p): p for p in parts}
    with concurrent.futures.ThreadPoolExecutor(3) as pool, \
            open(tmp_path / "out", "wb") as out:
        assert engine._sha256(manifest, lambda cid, size: by_id[cid], pool, 4, out) == manifest.oid
    assert (tmp_path / "out").read_bytes() == b"".join(parts)
    if opened[0] is not None:  # a file system that takes O_DIRECT (not tmpfs before 6.6)
        assert not opened[0].refused


def test_a_refused_direct_write_goes_through_the_page_cache(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A device that refuses the alignment (EINVAL) gets the same bytes, cached."""
    import errno

    from gitmodel.store import direct

    data = random.Random(9).randbytes(3 * direct.ALIGN + 100)
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        writes = direct.DirectWrites(fd, os.dup(fd))
        real = os.pwrite

        def pwrite(target: int, view: memoryview, offset: int) -> int:
            if target == writes.direct_fd:
                raise OSError(errno.EINVAL, "misaligned")
            return real(target, view, offset)
        monkeypatch.setattr(direct.os, "pwrite", pwrite)
        writes.pwrite(data, 17)
        writes.close()
    finally:
        os.close(fd)
    assert writes.refused
    assert (tmp_path / "out").read_bytes() == bytes(17) + data


def test_direct_writes_only_on_a_file_system_on_a_block_device(tmp_path: Path) -> None:
    """tmpfs, FUSE, NFS, overlay and btrfs (device numbers without a major) keep the page
    cache; a file on a disk of this machine is written direct."""
    from gitmodel.store import direct

    places = {"disk": tmp_path, "tmpfs": Path("/dev/shm")}
    if os.major(os.stat(tmp_path).st_dev) == 0 or not places["tmpfs"].is_dir() \
            or os.major(os.stat(places["tmpfs"]).st_dev) != 0:
        pytest.skip("needs the tests' temporary folder on a disk and /dev/shm on tmpfs")
    opened = {}
    for kind, folder in places.items():
        with tempfile.NamedTemporaryFile(dir=folder) as handle:
            writes = direct.DirectWrites.open(handle.fileno(), direct.DIRECT_FROM)
            opened[kind] = writes is not None
            if writes is not None:
                writes.close()
    assert opened == {"disk": True, "tmpfs": False}
