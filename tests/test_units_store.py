"""The store as a library: its sweep lists only its own files, never through a symbolic link."""
from __future__ import annotations

import os
from pathlib import Path

from conftest import git, gm
from gitmodel.store import layout
from gitmodel.store.objects import Store

CID = "ab" + "0" * 30
OID = "cd" + "0" * 62


def test_files_lists_each_kind_and_follows_no_link(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / CID).write_bytes(b"someone else's file")
    chunks = tmp_path / "cache/objects/chunks"
    (chunks / "ab").mkdir(parents=True)
    (chunks / "ab" / CID).write_bytes(b"a chunk")
    os.symlink(outside, chunks / "zz")                   # a linked fan-out folder
    os.symlink(outside / CID, chunks / "ab" / ("ab" + "1" * 30))  # a linked file
    (tmp_path / "cache/objects/manifests/cd").mkdir(parents=True)
    (tmp_path / "cache/objects/manifests/cd" / OID).write_bytes(b"{}")
    os.symlink(outside, tmp_path / "cache/tmp")          # a linked tmp/
    assert [n for n, _ in store.files(layout.CHUNKS)] == [CID]
    assert [n for n, _ in store.files(layout.MANIFESTS)] == [OID]
    assert list(store.files("tmp")) == []
    assert list(Store(tmp_path / "nothing").files(layout.CHUNKS)) == []


def test_gc_never_deletes_through_a_link_in_the_cache(repo: Path, tmp_path: Path) -> None:
    (repo / "m.bin").write_bytes(os.urandom(1 << 16))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / ("ef" + "2" * 30)
    victim.write_bytes(b"keep me")
    os.utime(victim, (0, 0))
    (repo / ".git/model/objects/chunks").mkdir(exist_ok=True)  # a small file is packed
    os.symlink(outside, repo / ".git/model/objects/chunks/ef")
    os.symlink(outside, repo / ".git/model/objects/packs/ef.pack")
    listing = gm(repo, "gc", "--dry-run", "--grace", "0").stdout.decode()
    assert str(outside) not in listing and victim.name not in listing
    gm(repo, "gc", "--grace", "0")
    assert victim.read_bytes() == b"keep me"
    assert gm(repo, "fsck").returncode == 0


def test_matches_is_true_only_for_the_very_bytes(tmp_path: Path) -> None:
    """`matches` (the settle's check of a file git wrote) reads by the manifest's chunk
    lengths: one byte changed, one more or one less is a mismatch."""
    store = Store(tmp_path / "cache")
    data = os.urandom(3 << 20)  # several chunks
    with open(tmp_path / "m.bin", "wb") as out:
        out.write(data)
    with open(tmp_path / "m.bin", "rb") as handle:
        manifest = store.add_stream(handle, name="m.bin")
    assert len(manifest.chunks) > 1 and store.matches(tmp_path / "m.bin", manifest)
    for variant in (data[:-1] + bytes([data[-1] ^ 1]), data + b"\0", data[:-1]):
        (tmp_path / "v.bin").write_bytes(variant)
        assert not store.matches(tmp_path / "v.bin", manifest)
    assert not store.matches(tmp_path / "missing.bin", manifest)


def test_read_ahead_closed_early_waits_for_the_work_still_running() -> None:
    """A fetch's workers write into the caller's file: once the reader closes the generator
    (an error, a sha256 mismatch), the file may be closed, so no work may still be running."""
    import concurrent.futures
    import threading

    from gitmodel.store.objects import read_ahead

    started, release, finished = threading.Event(), threading.Event(), []

    def work(n: int) -> int:
        if n == 1:
            started.set()
            release.wait()
        finished.append(n)
        return n

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        chunks = read_ahead(pool, work, [(n,) for n in range(50)], 2)
        assert next(chunks) == 0
        started.wait()
        threading.Timer(0.2, release.set).start()  # while close() waits, if it does
        chunks.close()
        assert 1 in finished  # the running one is done; the queued ones never start
        assert len(finished) < 50


def test_a_small_file_stored_in_two_chunks_is_recleaned_without_writes(tmp_path: Path) -> None:
    """A small file stored before it became one chunk (chunking.WHOLE_BELOW) is matched
    against its old cuts when the stat cache expects it: same manifest, nothing written."""
    import hashlib
    import io

    from gitmodel.store.chunking import Chunk
    from gitmodel.store.objects import Manifest, chunk_id
    store = Store(tmp_path / "cache")
    data = os.urandom(100_000)
    halves = (data[:40_000], data[40_000:])
    for half in halves:
        store.put_chunk(chunk_id(half), Chunk(half))
    old = Manifest(hashlib.sha256(data).hexdigest(), len(data),
                   tuple((chunk_id(h), len(h)) for h in halves))
    store.put_manifest(old)
    before = sorted(p.name for _, p in store.files(layout.CHUNKS))
    assert store.add_stream(io.BytesIO(data), expected=old, size=len(data)) == old
    assert sorted(p.name for _, p in store.files(layout.CHUNKS)) == before
    changed = data[:-1] + bytes([data[-1] ^ 1])
    fresh = store.add_stream(io.BytesIO(changed), expected=old, size=len(changed))
    assert fresh.oid == hashlib.sha256(changed).hexdigest() and len(fresh.chunks) == 1


def test_a_chunk_stored_twice_has_the_size_of_what_is_read(tmp_path: Path) -> None:
    """A chunk both packed and loose, encoded differently (byte grouping of another width):
    the size a push plans its pack with is the length of the bytes it then reads."""
    from gitmodel.store import codec
    from gitmodel.store.objects import chunk_id
    data = bytes(range(256)) * 256
    cid = chunk_id(data)
    store = Store(tmp_path / "cache")
    with store.batch():
        store.put_encoded(cid, len(data), codec.encode(data, 1), packed=True)
    loose = codec.encode(data, 2)
    path = store.chunk_path(cid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(loose)
    read = store.read_encoded(cid, len(data))
    assert len(read) != len(loose)  # both copies are there, and the packed one is read
    assert store.stored_size(cid) == len(read)
