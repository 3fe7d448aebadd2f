"""Small files are packed: one `git add` of many small files writes one pack and its index,
not a chunk file and a manifest file per file; gc, fsck and old loose caches keep working."""
from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest

from conftest import git, gm
from gitmodel.store import layout, packs
from gitmodel.store.chunking import Chunk
from gitmodel.store.objects import Store, chunk_id
from test_faults import kill_at

OLD = 1_000_000_000  # a date long past every grace period


def _files(repo: Path, count: int, seed: int, size: int = 8 << 10) -> dict[str, bytes]:
    rng = random.Random(seed)
    out = {}
    for i in range(count):
        path = f"d{i % 4}/f{i}.bin"
        (repo / path).parent.mkdir(exist_ok=True)
        out[path] = rng.randbytes(size)
        (repo / path).write_bytes(out[path])
    return out


def _object_files(repo: Path) -> list[Path]:
    return [p for p in (repo / ".git/model/objects").rglob("*") if p.is_file()]


def _age(repo: Path) -> None:
    for path in (repo / ".git/model").rglob("*"):
        os.utime(path, (OLD, OLD), follow_symlinks=False)


def test_many_small_files_make_one_pack_and_read_back(repo: Path) -> None:
    files = _files(repo, 60, 1)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    stored = _object_files(repo)
    assert sorted(p.suffix for p in stored) == [".idx", ".pack"], stored
    for path in files:
        (repo / path).unlink()
    git(repo, "checkout", "--", ".")
    assert all((repo / p).read_bytes() == b for p, b in files.items())
    assert gm(repo, "fsck").returncode == 0
    assert "not cached" not in gm(repo, "status").stdout.decode()


def test_gc_drops_garbage_inside_packs(repo: Path) -> None:
    """Half the files replaced: the old pack is rewritten with what is still reachable
    (gc, without --grace, after the grace period); a pack of garbage only goes whole."""
    _files(repo, 20, 1)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    _files(repo, 14, 2)  # 14 of the 20 files replaced: 70% of the first pack is garbage
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--amend", "-m", "v2")  # v1 unreachable, once the reflog forgets
    (repo / "stray.bin").write_bytes(b"added, never committed")
    git(repo, "add", "stray.bin")
    git(repo, "reset", "-q", "--hard")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    before = Store(repo / ".git/model")
    assert len(before.packs.pack_names()) == 3
    _age(repo)
    gm(repo, "gc")
    after = Store(repo / ".git/model")
    assert len(after.packs.pack_names()) == 2  # v1 rewritten, v2 kept, the stray pack gone
    assert len(after.stored_names(layout.MANIFESTS)) == 20
    assert gm(repo, "fsck").returncode == 0
    head = {p.name: p.read_bytes() for p in repo.rglob("*.bin")}
    for path in repo.glob("d*/*.bin"):
        path.unlink()
    git(repo, "checkout", "--", ".")
    assert {p.name: p.read_bytes() for p in repo.rglob("*.bin")} == head


def test_fsck_finds_and_repairs_a_damaged_packed_chunk(repo: Path) -> None:
    files = _files(repo, 5, 3)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    store = Store(repo / ".git/model")
    (pack,) = store.packs.pack_names()
    cid = chunk_id(files["d1/f1.bin"])
    offset, length = store.packs.entries(pack)[(layout.CHUNKS, cid)]
    path = store.packs.path(pack)
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.seek(offset + length // 2)
        handle.write(b"\xff\x00\xff")
    report = gm(repo, "fsck", check=False)
    assert report.returncode == 1 and "d1/f1.bin" in report.stdout.decode()
    gm(repo, "fsck", "--repair")
    assert gm(repo, "fsck").returncode == 0
    assert list((repo / ".git/model/bad").glob("pack-*.pack"))  # the damaged pack, set aside
    (repo / "d1/f1.bin").unlink()
    git(repo, "checkout", "--", ".")
    assert (repo / "d1/f1.bin").read_bytes() == files["d1/f1.bin"]


def test_add_killed_while_publishing_its_pack_leaves_a_valid_store(repo: Path) -> None:
    """Killed after the pack is in place, before its index (git may have recorded the
    pointers already): the open pack's journal still names the objects, and the next
    add, gc or fsck publishes them; the left-over pack goes with gc."""
    files = _files(repo, 10, 4)
    kill_at(repo, ["git", "add", "-A"], "pack")
    assert list((repo / ".git/model/objects/packs").glob("open-*.jrn")), "nothing to recover"
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    assert gm(repo, "fsck").returncode == 0  # whether git recorded the pointers or not
    for path in files:
        (repo / path).unlink()
    git(repo, "checkout", "--", ".")
    assert all((repo / p).read_bytes() == b for p, b in files.items())
    _age(repo)
    gm(repo, "gc")
    assert len(list((repo / ".git/model/objects/packs").iterdir())) == 2  # the orphan pack went


def test_a_loose_cache_and_a_packed_one_read_alike(tmp_path: Path) -> None:
    """Old caches hold loose chunks and manifests; new ones packs: both are read, and a
    chunk stored both ways is the same object."""
    store = Store(tmp_path / "cache")
    data = os.urandom(5000)
    cid = chunk_id(data)
    store.put_chunk(cid, Chunk(data))  # no batch: loose, as every older version wrote
    assert store.chunk_path(cid).is_file()
    other = os.urandom(7000)
    with store.batch():
        store.put_chunk(chunk_id(other), Chunk(other), packed=True)
        assert store.read_chunk(chunk_id(other), 7000) == other  # readable before publishing
        assert not Store(tmp_path / "cache").has_chunk(chunk_id(other))  # others: not yet
    assert Store(tmp_path / "cache").read_chunk(chunk_id(other), 7000) == other
    assert store.read_chunk(cid, 5000) == data


@pytest.mark.parametrize("damage", ["checksum", "outside", "kind", "count"])
def test_a_hostile_pack_index_is_refused(damage: str) -> None:
    entries = {(layout.CHUNKS, "ab" * 16): (8, 100), (layout.MANIFESTS, "cd" * 32): (108, 50)}
    data = bytearray(packs.encode_index(entries))
    assert packs.decode_index(bytes(data), 158) == entries
    head = len(packs.IDX_MAGIC) + 4
    if damage == "checksum":
        data[head + 20] ^= 1
    else:
        if damage == "outside":
            struct.pack_into("<Q", data, head + 33, 1 << 40)
        elif damage == "kind":
            data[head] = ord("x")
        else:
            struct.pack_into("<I", data, len(packs.IDX_MAGIC), 3)
        data[-16:] = packs.xxhash.xxh3_128_digest(bytes(data[:-16]))
    with pytest.raises(packs.BadIndex):
        packs.decode_index(bytes(data), 158)


def test_a_pack_lookup_checks_the_entry_it_finds(tmp_path: Path) -> None:
    """Lookups check an entry's bounds when they find it (not every entry up front); the
    listings gc and fsck use still drop a pack with any unsound entry."""
    good, bad = (layout.CHUNKS, "ab" * 16), (layout.MANIFESTS, "cd" * 32)
    data = bytearray(packs.encode_index({good: (8, 100), bad: (108, 50)}))
    head = len(packs.IDX_MAGIC) + 4
    struct.pack_into("<Q", data, head + packs.ENTRY.size + 33, 1 << 40)  # `bad` points outside
    data[-16:] = packs.xxhash.xxh3_128_digest(bytes(data[:-16]))
    name = "pack-" + "0" * 32
    (tmp_path / f"{name}.pack").write_bytes(packs.MAGIC + bytes(150))
    (tmp_path / f"{name}.idx").write_bytes(bytes(data))
    found = packs.Packs(tmp_path)
    assert found.locate(good) == (name, 8, 100)
    assert found.locate(bad) is None and found.present(layout.MANIFESTS, [bad[1]]) == set()
    assert found.present(layout.CHUNKS, [good[1], bad[1]]) == {good[1]}
    assert found.locate((layout.CHUNKS, "cd" * 32)) is None  # a manifest's name as a chunk's
    assert found.pack_names() == [] and found.locate(good) is None
    found.refresh(force=True)
    assert found.locate(good) is None  # until the pack is gone, or rewritten under a new name


@pytest.mark.parametrize("order", ["ours", "reversed"])
def test_a_pack_index_in_any_order_decodes_alike(order: str) -> None:
    """Ours is sorted (chunks, then manifests) and decoded in bulk; another order is
    decoded entry by entry, to the same result; a chunk name past its 16 bytes is refused
    either way."""
    entries = {(layout.CHUNKS, f"{i:02x}" * 16): (8 + 10 * i, 10) for i in range(3)}
    entries.update({(layout.MANIFESTS, f"{i:02x}" * 32): (38 + 5 * i, 5) for i in range(2)})
    data = bytearray(packs.encode_index(entries))
    head, size = len(packs.IDX_MAGIC) + 4, packs.ENTRY.size
    if order == "reversed":
        rows = [data[head + i * size:head + (i + 1) * size] for i in range(len(entries))]
        data[head:head + len(rows) * size] = b"".join(reversed(rows))
    data[-16:] = packs.xxhash.xxh3_128_digest(bytes(data[:-16]))
    assert packs.decode_index(bytes(data), 48) == entries
    chunk_row = head if order == "ours" else head + 4 * size
    data[chunk_row + 1 + 20] = 1  # a byte of the chunk name's zero padding
    data[-16:] = packs.xxhash.xxh3_128_digest(bytes(data[:-16]))
    with pytest.raises(packs.BadIndex):
        packs.decode_index(bytes(data), 48)


def _pushed(repo: Path, tmp_path: Path, count: int) -> tuple[dict[str, bytes], Path, Path]:
    """COUNT small files committed and pushed (git and model remote); the model remote's path."""
    origin, store = tmp_path / "origin.git", tmp_path / "models"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    gm(repo, "remote", "add", "shared", str(store))
    files = _files(repo, count, 5)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "push", "-q", "origin", "main")  # the pre-push hook uploads the objects
    return files, origin, store


def test_push_uploads_packs_and_clone_pull_reads_them(repo: Path, tmp_path: Path) -> None:
    files, origin, store = _pushed(repo, tmp_path, 40)
    uploaded = sorted(p.relative_to(store).parts[0] for p in store.rglob("*") if p.is_file())
    assert uploaded.count("packs") == 2 and not {"chunks", "manifests"} & set(uploaded), \
        uploaded  # one pack and its index, nothing loose
    assert "nothing to transfer" in gm(repo, "push", "--all").stdout.decode()
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    gm(clone, "install", "--local")
    gm(clone, "pull")
    assert all((clone / p).read_bytes() == b for p, b in files.items())
    assert sorted(p.suffix for p in _object_files(clone)) == [".idx", ".pack"]


def test_a_push_past_one_pack_splits_it_and_clone_pull_reads_all(repo: Path, tmp_path: Path) -> None:
    """More than PACK_LIMIT of small files (random, so stored at full size) go up as two
    packs, none longer than a fetch accepts (the buffer of each is sized before it is filled)."""
    count = packs.PACK_LIMIT // (64 << 10) + 40
    origin, store = tmp_path / "origin.git", tmp_path / "models"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    gm(repo, "remote", "add", "shared", str(store))
    files = _files(repo, count, 7, size=64 << 10)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "push", "-q", "origin", "main")
    sizes = sorted(p.stat().st_size for p in (store / "packs").glob("*.pack"))
    assert len(sizes) == 2 and sizes[1] <= packs.PACK_LIMIT + packs.MAX_ENTRY, sizes
    assert sizes[1] >= packs.PACK_LIMIT, sizes  # the first is closed at the limit, not before
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    gm(clone, "install", "--local")
    gm(clone, "pull")
    assert all((clone / p).read_bytes() == b for p, b in files.items())


@pytest.mark.parametrize("damage", ["entry", "index"])
def test_a_damaged_remote_pack_is_refused(repo: Path, tmp_path: Path, damage: str) -> None:
    files, origin, store = _pushed(repo, tmp_path, 3)
    (pack,) = (store / "packs").glob("*.pack")
    if damage == "entry":  # bytes changed inside an object: its id no longer matches
        data = bytearray(pack.read_bytes())
        data[len(packs.MAGIC) + 100] ^= 0xFF
        pack.write_bytes(bytes(data))
    else:  # an index that points past its pack's end
        index = pack.with_suffix(".idx")
        entries = packs.decode_index(index.read_bytes(), pack.stat().st_size)
        key = next(iter(entries))
        entries[key] = (entries[key][0] + (1 << 30), entries[key][1])
        index.write_bytes(packs.encode_index(entries))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    gm(clone, "install", "--local")
    proc = gm(clone, "pull", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "shared" in err and "Traceback" not in err, err
    written = {p: (clone / p).read_bytes() for p in files}
    assert all(data == files[p] or data.startswith(b"version https://git-lfs") for p, data in written.items())
    assert any(data != files[p] for p, data in written.items()), "the damaged file was not written"


def test_two_writers_at_once_and_a_dead_one_lose_nothing(tmp_path: Path) -> None:
    """Two stores (two `git add`s) write packs at once; a third dies before publishing
    (its lock released, its journal torn mid-entry): recovery publishes its whole entries."""
    blobs = [os.urandom(3000 + i) for i in range(6)]
    one, two, dead = (Store(tmp_path / "cache") for _ in range(3))
    with one.batch(), two.batch():
        one.put_chunk(chunk_id(blobs[0]), Chunk(blobs[0]), packed=True)
        two.put_chunk(chunk_id(blobs[1]), Chunk(blobs[1]), packed=True)
    with dead.batch():
        for data in blobs[2:]:
            dead.put_chunk(chunk_id(data), Chunk(data), packed=True)
        writer = dead._writer
        assert writer is not None
        os.ftruncate(writer.journal, 3 * packs.ENTRY.size + 7)  # the last entry torn
        writer._close()  # as a kill -9 would: the lock goes, the files stay
        dead._writer = None
    fresh = Store(tmp_path / "cache")
    assert fresh.recover() == 3
    assert not list((tmp_path / "cache/objects/packs").glob("open-*"))
    for data in blobs[:5]:
        assert fresh.read_chunk(chunk_id(data), len(data)) == data
    assert not fresh.has_chunk(chunk_id(blobs[5]))


def test_a_nested_batch_leaves_its_pack_to_the_outer_one(tmp_path: Path) -> None:
    """A fetch during a checkout opens a batch inside the filter's: its objects stay
    readable, and are published when the outer batch ends."""
    store = Store(tmp_path / "cache")
    data = os.urandom(1000)
    with store.batch():
        with store.batch():
            store.put_chunk(chunk_id(data), Chunk(data), packed=True)
        assert store.read_chunk(chunk_id(data), 1000) == data
        assert not store.packs.pack_names()
    assert Store(tmp_path / "cache").read_chunk(chunk_id(data), 1000) == data


def test_status_names_the_files_whose_packed_objects_are_gone(repo: Path) -> None:
    """`status` looks packed manifests up in one pass (Store.missing_manifests): present
    ones are cached, those of a pack gone missing are named, a loose one still counts."""
    import json
    files = _files(repo, 6, 3)
    (repo / "big.bin").write_bytes(random.Random(4).randbytes(packs.PACKED_BELOW + 1))
    for path in [*files, "big.bin"]:
        os.utime(repo / path, (OLD, OLD))  # not racily clean: git re-cleans none of them below
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    assert json.loads(gm(repo, "status", "--json").stdout)["not_cached"] == []  # index settled
    for path in (repo / ".git/model/objects/packs").glob("pack-*"):
        path.rename(repo / path.name)  # out of the cache
    missing = json.loads(gm(repo, "status", "--json").stdout)["not_cached"]
    assert sorted(m["path"] for m in missing) == sorted(files)


def test_merge_chooses_the_smallest_packs_past_the_limit() -> None:
    half, limit = packs.PACK_LIMIT // 2, packs.PACK_LIMIT
    few = {f"p{i}": 100 for i in range(packs.SMALL_PACKS)}
    assert packs.to_merge(few) == []
    assert packs.to_merge({**few, "big": half, "full": limit}) == []  # only small ones count
    many = {**few, "p8": 50, "big": half}
    assert packs.to_merge(many) == ["p8", *sorted(few)]
    large = {f"q{i}": half - 1 for i in range(packs.SMALL_PACKS + 1)}
    assert len(packs.to_merge(large)) == 2  # at least two, no more than fit in PACK_LIMIT


def _commit_one_at_a_time(repo: Path, count: int) -> list[bytes]:
    """COUNT commits, each a `git add` of one small new file: a pack each."""
    versions = []
    for i in range(count):
        versions.append(random.Random(i).randbytes(20 << 10))
        (repo / "s.bin").write_bytes(versions[-1])
        git(repo, "add", "s.bin")
        git(repo, "commit", "-qm", f"v{i}")
    return versions


def _pack_count(repo: Path) -> int:
    return len(list((repo / ".git/model/objects/packs").glob("*.idx")))


def test_adds_of_one_small_file_each_keep_few_packs(repo: Path) -> None:
    """Every `git add` publishes a pack; past SMALL_PACKS small ones they are merged, and
    every version still comes back."""
    versions = _commit_one_at_a_time(repo, 2 * packs.SMALL_PACKS + 3)
    assert _pack_count(repo) <= packs.SMALL_PACKS
    for back, content in enumerate(reversed(versions)):
        git(repo, "checkout", "-q", f"HEAD~{back}", "--", "s.bin")
        assert (repo / "s.bin").read_bytes() == content
    assert gm(repo, "fsck").returncode == 0


def test_add_killed_between_publishing_a_merged_pack_and_removing_the_old_ones(repo: Path) -> None:
    versions = _commit_one_at_a_time(repo, packs.SMALL_PACKS)
    (repo / "s.bin").write_bytes(b"last" * 5000)
    kill_at(repo, ["git", "add", "s.bin"], "merge")
    assert _pack_count(repo) == packs.SMALL_PACKS + 2  # the old ones, and the merged one
    assert gm(repo, "fsck").returncode == 0
    git(repo, "add", "s.bin")
    git(repo, "commit", "-qm", "last")
    for back, content in enumerate(reversed([*versions, b"last" * 5000])):
        git(repo, "checkout", "-q", f"HEAD~{back}", "--", "s.bin")
        assert (repo / "s.bin").read_bytes() == content
    assert gm(repo, "fsck").returncode == 0
