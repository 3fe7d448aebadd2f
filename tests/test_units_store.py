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
