"""Delta chunks: a changed tensor piece stored as the XOR against the same piece of the
parent version; chains bounded; every chunk still verified against its id."""
from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import git, gm
from gitmodel.store import codec
from gitmodel.store.objects import CorruptObject, FileChunks, Store, chunk_id


def _bf16(values: np.ndarray) -> bytes:
    return (values.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()


def safetensors(tensors: dict[str, bytes]) -> bytes:
    meta, pos = {}, 0
    for name, data in tensors.items():
        meta[name] = {"dtype": "BF16", "shape": [len(data) // 2],
                      "data_offsets": [pos, pos + len(data)]}
        pos += len(data)
    header = json.dumps(meta).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"".join(tensors.values())


def versions(count: int, n: int = 3 << 20) -> list[bytes]:
    """A model fine-tuned in small steps: most bf16 elements keep their bits."""
    rng = np.random.default_rng(7)
    weights = rng.standard_normal(n).astype("<f4")
    out = []
    for _ in range(count):
        out.append(safetensors({"w": _bf16(weights), "b": _bf16(weights[:4096])}))
        weights = weights + rng.standard_normal(n).astype("<f4") * 1e-3
    return out


def test_codec_delta_round_trip_and_needs_its_base() -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, 1 << 18, dtype=np.uint8).tobytes()
    data = bytearray(base)
    data[::97] = bytes(len(data[::97]))
    blob = codec.encode_delta(data, 2, base, chunk_id(base), 0)
    assert codec.delta_base(blob) == (chunk_id(base), 1)
    assert len(blob) < len(data) // 4
    assert codec.raw_size(blob) == len(data)
    assert codec.decode(blob, len(data), base) == data
    with pytest.raises(codec.CorruptChunk):
        codec.decode(blob, len(data))
    with pytest.raises(ValueError):
        codec.encode_delta(data, 2, base, chunk_id(base), codec.MAX_DEPTH)
    plain = codec.encode(data, 2)  # the formats before deltas read as before
    assert codec.delta_base(plain) is None and codec.decode(plain, len(data)) == data


# Written by the codec before deltas (grouped bf16-like, then plain zstd): a cache or
# remote filled by an older git-model must keep decoding.
OLD_GROUPED = bytes.fromhex(
    "0202019600000028b52ffda000000200550400040800020406080a0c0e10121416181a1c1e2022242628"
    "2a2c2e30323436383a3c3e40424446484a4c4e50525456585a5c5e60626466686a6c6e70727476787a7c"
    "7e80828486888a8c8e90929496989a9c9ea0a2a4a6a8aaacaeb0b2b4b6b8babcbec0c2c4c6c8caccced0"
    "d2d4d6d8dadcdee0e2e4e6e8eaeceef0f2f4f6f8fafcfe010080beff416ea4019600000028b52ffda000"
    "000200550400040801030507090b0d0f11131517191b1d1f21232527292b2d2f31333537393b3d3f4143"
    "4547494b4d4f51535557595b5d5f61636567696b6d6f71737577797b7d7f81838587898b8d8f91939597"
    "999b9d9fa1a3a5a7a9abadafb1b3b5b7b9bbbdbfc1c3c5c7c9cbcdcfd1d3d5d7d9dbdddfe1e3e5e7e9eb"
    "edeff1f3f5f7f9fbfdff010080beff416ea4")
OLD_PLAIN = bytes.fromhex("0128b52ffd60f400650000286d6f64656c0100ec508b16")


def test_chunks_from_before_deltas_still_decode() -> None:
    assert codec.decode(OLD_GROUPED, 1 << 18) == bytes(range(256)) * 1024
    assert codec.decode(OLD_PLAIN, 500) == b"model" * 100
    assert codec.delta_base(OLD_GROUPED) is None and codec.raw_size(OLD_GROUPED) == 1 << 18


def _difference_pair(n: int, scale: float, jumps: int, seed: int = 3) -> tuple[bytes, bytes]:
    """A bf16 piece and a version of it whose elements move by a few units in the last
    place (scale), `jumps` of them by far more."""
    rng = np.random.default_rng(seed)
    base = np.frombuffer(_bf16(rng.standard_normal(n).astype("<f4")), "<u2")
    step = np.round(rng.standard_normal(n) * scale).astype(np.int64) * (rng.random(n) < 0.3)
    step[rng.integers(0, n, jumps)] += 20000
    return (base + step).astype("<u2").tobytes(), base.tobytes()


@pytest.mark.parametrize(("n", "scale", "bits"), [(1 << 18, 0.5, 2), (4099, 2.5, 4), (1 << 16, 30, 8)])
def test_difference_deltas_round_trip_in_each_code_width(n: int, scale: float, bits: int) -> None:
    data, base = _difference_pair(n, scale, jumps=5)
    blob = codec.encode_delta(data, 2, base, chunk_id(base), 1)
    assert blob[0] == codec.CODEC_DELTA_SUB and blob[codec.DELTA_HEAD + 1] == bits
    assert codec.delta_base(blob) == (chunk_id(base), 2)
    assert codec.raw_size(blob) == len(data)
    assert len(blob) < len(codec.encode_delta(data, 4, base, chunk_id(base), 1))  # the XOR form
    assert codec.decode(blob, len(data), base) == data
    own = bytearray(base)
    assert codec.decode(blob, len(data), own, in_place=True) is own and own == data
    with pytest.raises(codec.CorruptChunk):
        codec.decode(blob, len(data))


def test_pieces_that_differences_do_not_fit_keep_the_xor_form() -> None:
    rng = np.random.default_rng(4)
    base, data = (rng.integers(0, 256, 1 << 16, dtype=np.uint8).tobytes() for _ in range(2))
    blob = codec.encode_delta(data, 2, base, chunk_id(base), 0)  # noise: no small differences
    assert blob[0] == codec.CODEC_DELTA_XOR and codec.decode(blob, len(data), base) == data
    data, base = _difference_pair(1 << 14, 0.5, jumps=0)
    blob = codec.encode_delta(data, 4, base, chunk_id(base), 0)  # 4-byte elements
    assert blob[0] == codec.CODEC_DELTA_XOR and codec.decode(blob, len(data), base) == data


def test_a_damaged_difference_delta_is_refused() -> None:
    data, base = _difference_pair(1 << 14, 2.5, jumps=3)
    blob = codec.encode_delta(data, 2, base, chunk_id(base), 0)
    body = codec.DELTA_HEAD
    damaged = [blob[:body + 5], blob[:-1], blob + b"\0",  # truncated, or a byte too many
               blob[:body + 1] + b"\3" + blob[body + 2:],  # 3-bit codes do not exist
               blob[:body + 2] + (len(data) - 2).to_bytes(4, "little") + blob[body + 6:],
               blob[:body + 6] + (len(data)).to_bytes(4, "little") + blob[body + 10:]]  # escapes
    for bad in damaged:
        with pytest.raises(codec.CorruptChunk):
            codec.decode(bad, len(data), base)
    with pytest.raises(codec.CorruptChunk):
        codec.decode(blob, len(data), base[:-2])


def test_a_stream_declaring_a_huge_length_is_refused_before_any_allocation() -> None:
    """zstandard allocates what a frame header declares, whatever `max_output_size` says."""
    frame = bytes.fromhex("28b52ffd") + bytes([0xE0]) + struct.pack("<Q", 1 << 62) + bytes([1, 0, 0])
    grouped = bytes([codec.CODEC_ZSTD_GROUPED, 2]) + struct.pack("<BI", 1, len(frame)) + frame
    data, base = _difference_pair(1 << 12, 0.5, jumps=0)
    blob = codec.encode_delta(data, 2, base, chunk_id(base), 0)
    body = codec.DELTA_HEAD + 10
    sub = blob[:body] + struct.pack("<BI", 1, len(frame)) + frame
    for bad, base_bytes in ((bytes([codec.CODEC_ZSTD]) + frame, None), (grouped, None), (sub, base)):
        with pytest.raises(codec.CorruptChunk):
            codec.decode(bad, len(data), base_bytes)


def test_an_escape_beyond_the_piece_is_refused() -> None:
    words = np.arange(4096, dtype="<u2")
    base = words.tobytes()
    words[::3] += 1
    words[-1] ^= 0x8000  # one escape: the last element
    data = words.tobytes()
    blob = codec.encode_delta(data, 2, base, chunk_id(base), 0)
    gaps = blob.index(bytes([0]) + (4095).to_bytes(4, "little"))  # the raw gap list
    bad = blob[:gaps + 1] + (4096).to_bytes(4, "little") + blob[gaps + 5:]
    assert codec.decode(blob, len(data), base) == data
    with pytest.raises(codec.CorruptChunk, match="beyond"):
        codec.decode(bad, len(data), base)


# An XOR delta (format 3) and a difference delta (format 4) of 8 KiB over
# bytes(range(256)) * 32, as the codec wrote them: caches and remotes keep both.
OLD_XOR = bytes.fromhex(
    "0301cc9793551046aad5192da51815062f070202011300000028b52ffd60000f4d00001000000100fbf7"
    "0116016800000028b52ffd60000ff5020006101509f019035f6b57bb2853110011001100571357135713"
    "571357135713571357130157135713571357135713571357135713015713571357135713571357135713"
    "571301571357135713571357135713571357130180805402001b01")
FIRST_SUB = bytes.fromhex(
    "0401cc9793551046aad5192da51815062f0702020020000001000000014f00000028b52ffd6000032d02"
    "0066100f8220100d000d000d004992244992244992244992240959922449922449922449922409499224"
    "499224499224499224097f92244992244992244992247f5402000301050000000000080000000180")


def test_deltas_of_both_formats_decode_alone_and_chained(tmp_path: Path) -> None:
    base = bytes(range(256)) * 32
    old = bytearray(base)
    old[1::64] = bytes(len(old[1::64]))
    new = bytearray(base)
    new[0::64] = bytes((b + 1) % 256 for b in new[0::64])
    new[4097] ^= 0x80
    assert codec.decode(OLD_XOR, len(base), base) == old
    assert codec.decode(FIRST_SUB, len(base), base) == new
    store = Store(tmp_path / "cache")
    store.put_encoded(chunk_id(base), len(base), codec.encode(base, 2))
    store.put_encoded(chunk_id(old), len(old), OLD_XOR)
    on_old = codec.encode_delta(new, 2, old, chunk_id(old), 1)  # a difference over an XOR
    assert on_old[0] == codec.CODEC_DELTA_SUB
    store.put_encoded(chunk_id(new), len(new), on_old)
    assert store.read_chunk(chunk_id(new), len(new)) == new
    assert store.chunk_is_sound(chunk_id(new))


def _add(store: Store, data: bytes, parent=None, ancestors=None):
    return store.add_stream(io.BytesIO(data), None, "m.safetensors", parent, ancestors=ancestors)


def siblings(n: int = 3 << 20) -> tuple[bytes, bytes, bytes]:
    """v0; v1, its tensor retrained far from it; v2, a small fine-tune of v0 (the
    benchmark's v0_base, v1_head and v2_full)."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal(n).astype("<f4") * 0.02
    far = w + rng.standard_normal(n).astype("<f4") * 0.01
    near = w * (1 + 0.002 * rng.standard_normal(n).astype("<f4"))
    return tuple(safetensors({"w": _bf16(x)}) for x in (w, far, near))  # type: ignore[return-value]


def _stored(store: Store, manifest, before) -> tuple[int, set[str | None]]:
    """Bytes the version's new chunks take, and the bases they name."""
    new = [c for c, _ in manifest.chunks if c not in dict(before.chunks)]
    return sum(store.stored_size(c) for c in new), {store.chunk_base(c) for c in new}


def test_a_sibling_fine_tune_is_stored_against_the_shared_ancestor(tmp_path: Path) -> None:
    """v2 comes from v0, not from v1 (its parent in the history): with the older versions
    offered, its pieces are XORed against v0's, the smaller encoding."""
    v0, v1, v2 = siblings()
    sizes = {}
    for offered in (False, True):
        store = Store(tmp_path / str(offered))
        m0 = _add(store, v0)
        m1 = _add(store, v1, m0)
        assert all(store.chunk_base(c) is None for c, _ in m1.chunks)  # too far: stored whole
        m2 = _add(store, v2, m1, [m0].copy if offered else None)
        sizes[offered], bases = _stored(store, m2, m1)
        assert bases - {None} <= set(dict(m0.chunks) if offered else dict(m1.chunks))
        out = io.BytesIO()
        store.write_to(m2.pointer, out)
        assert out.getvalue() == v2
    assert sizes[True] < 0.7 * sizes[False]


def test_the_least_different_chunk_of_the_parents_chain_is_the_base(tmp_path: Path) -> None:
    """The parent's piece is a delta on v0's; the new piece is closer to v0's: it is
    stored against v0's (depth 1), not on top of the parent's (depth 2)."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal(3 << 20).astype("<f4")
    v0 = safetensors({"w": _bf16(w)})
    v1 = safetensors({"w": _bf16(w + (rng.random(w.size) < 0.3) * 0.05)})
    v2 = safetensors({"w": _bf16(w + (rng.random(w.size) < 0.05) * 0.05)})
    store = Store(tmp_path / "cache")
    m0 = _add(store, v0)
    m1 = _add(store, v1, m0)
    m2 = _add(store, v2, m1)
    assert _stored(store, m1, m0)[1] - {None} <= set(dict(m0.chunks))
    _, bases = _stored(store, m2, m1)
    assert bases - {None} and bases - {None} <= set(dict(m0.chunks))


def test_changed_pieces_are_stored_against_the_parent(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    v0, v1 = versions(2)
    m0 = _add(store, v0)
    m1 = _add(store, v1, m0)
    new = [c for c, _ in m1.chunks if c not in dict(m0.chunks)]
    deltas = [c for c in new if store.chunk_base(c) is not None]
    assert len(deltas) == 2  # the 6 MiB tensor's two pieces; header and bias are plain
    assert {store.chunk_base(c) for c in deltas} <= {c for c, _ in m0.chunks}
    stored = sum(store.stored_size(c) for c in deltas)
    assert stored < 0.4 * sum(n for c, n in m1.chunks if c in deltas)
    out = io.BytesIO()
    store.write_to(m1.pointer, out)
    assert out.getvalue() == v1
    assert store.with_bases(new) >= set(deltas) | {store.chunk_base(c) for c in deltas}
    assert all(store.chunk_is_sound(c) for c in new)


def test_chains_stay_bounded_and_a_damaged_base_is_caught(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    manifests, parent = [], None
    for data in versions(2 * codec.MAX_DEPTH + 2):
        parent = _add(store, data, parent)
        manifests.append(parent)
    depths = []
    for m in manifests:
        for cid, _ in m.chunks:
            depth, at = 0, cid
            while (at := store.chunk_base(at)) is not None:
                depth += 1
            depths.append(depth)
    assert max(depths) == codec.MAX_DEPTH  # past the limit: against the key frame, or whole
    last = manifests[-1]
    delta = next(c for c, _ in last.chunks if store.chunk_base(c) is not None)
    base = store.chunk_base(delta)
    assert base is not None
    path = store.chunk_path(base)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(CorruptObject):
        store.read_chunk(delta, dict(last.chunks)[delta])
    assert not store.chunk_is_sound(delta)


@pytest.mark.slow
def test_delta_versions_push_pull_gc_and_fsck(repo: Path, tmp_path: Path) -> None:
    """Through git: v1 is stored and pushed as deltas; a clone that pulls only v1 gets the
    bases it needs; gc of a history without v0 keeps v0's pieces that v1 is built on."""
    v0, v1 = versions(2)
    (repo / "m.safetensors").write_bytes(v0)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v0")
    gm(repo, "remote", "add", "shared", str(tmp_path / "models"))
    gm(repo, "push")
    before = sum(p.stat().st_size for p in (tmp_path / "models").rglob("*") if p.is_file())
    for db in (repo / ".git/model").glob("state.sqlite*"):
        db.unlink()  # no stat cache: the index then tells what the path held
    (repo / "m.safetensors").write_bytes(v1)
    git(repo, "commit", "-qam", "v1")
    storage = json.loads(gm(repo, "show", "HEAD:m.safetensors", "--json").stdout)["storage"]
    assert 0 < storage["delta_bytes"] < 0.4 * len(v1)
    gm(repo, "push")
    after = sum(p.stat().st_size for p in (tmp_path / "models").rglob("*") if p.is_file())
    assert after - before < 0.4 * len(v1), "v1 moves as deltas"

    git(repo, "checkout", "-q", "--orphan", "only-v1")  # a history without v0
    git(repo, "commit", "-qm", "v1 alone")
    git(repo, "branch", "-D", "main")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    gm(repo, "gc", "--grace", "0")
    assert gm(repo, "fsck").returncode == 0
    (repo / "m.safetensors").unlink()
    git(repo, "checkout", "--", "m.safetensors")
    assert (repo / "m.safetensors").read_bytes() == v1

    gm(repo, "remote", "add", "second", str(tmp_path / "second"))
    gm(repo, "push", "second")  # v1 alone: the bases go first, though no manifest names them
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "push", "-q", str(origin), "only-v1:main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "-c", "model.fetchOnCheckout=false", str(origin), str(clone))
    gm(clone, "install", "--local")
    gm(clone, "remote", "add", "second", str(tmp_path / "second"))
    gm(clone, "pull")
    assert (clone / "m.safetensors").read_bytes() == v1
    assert gm(clone, "fsck").returncode == 0
    manifest = Store(repo / ".git/model").read_manifest(
        json.loads(gm(repo, "show", "HEAD:m.safetensors", "--json").stdout)["oid"])
    store = Store(repo / ".git/model")
    delta = next(c for c, _ in manifest.chunks if store.chunk_base(c))
    base = store.chunk_base(delta)
    assert base is not None
    store.chunk_path(base).write_bytes(store.chunk_path(base).read_bytes()[:-1] + b"?")
    report = gm(repo, "fsck", check=False)
    assert report.returncode == 1 and f"the delta base of chunk {delta}" in report.stdout.decode()
    gm(repo, "fsck", "--repair")  # the damaged base goes aside; the file is re-added whole
    assert (repo / ".git/model/bad" / base).exists() and gm(repo, "fsck").returncode == 0


def test_torch_checkpoint_records_are_stored_against_the_parent(tmp_path: Path) -> None:
    """A torch .pt (a zip) keys its tensor records by name, found in the parent through its
    central directory: a fine-tuned bf16 checkpoint stores a fraction of what it did."""
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    weights = {f"l{i}": torch.randn(1024, 1024, generator=gen) * 0.02 for i in range(2)}
    for name, state in (("v0", weights), ("v1", {k: t * (1 + 0.002 * torch.randn(
            t.shape, generator=gen)) for k, t in weights.items()})):
        torch.save({k: t.to(torch.bfloat16) for k, t in state.items()}, tmp_path / f"{name}.pt")
    v0, v1 = ((tmp_path / f"{n}.pt").read_bytes() for n in ("v0", "v1"))
    stored = {}
    for with_parent in (False, True):
        store = Store(tmp_path / str(with_parent))
        m0 = store.add_stream(io.BytesIO(v0), name="m.pt")
        m1 = store.add_stream(io.BytesIO(v1), name="m.pt", parent=m0 if with_parent else None)
        stored[with_parent], bases = _stored(store, m1, m0)
        assert bases - {None} <= set(dict(m0.chunks)) and bool(bases - {None}) == with_parent
        out = io.BytesIO()
        store.write_to(m1.pointer, out)
        assert out.getvalue() == v1
    assert stored[True] < 0.4 * stored[False]


def test_torch_records_are_grouped_by_their_element_size(tmp_path: Path) -> None:
    """The element size of each storage comes from torch's pickle, read without running
    it; a pickle that is not torch's, or damaged, gives no sizes and no error."""
    torch = pytest.importorskip("torch")
    from gitmodel.store.chunking import chunk_stream, storage_widths
    state = {"a": torch.ones(1 << 17, dtype=torch.bfloat16), "b": torch.ones(1 << 17),
             "c": torch.ones(1 << 17, dtype=torch.int64), "d": torch.zeros(1 << 17, dtype=torch.bfloat16)}
    torch.save(state, tmp_path / "m.pt")
    with open(tmp_path / "m.pt", "rb") as handle:
        keyed = [(c.key, c.width) for c in chunk_stream(handle, "m.pt") if c.key]
    assert keyed == [("zip:data/0#0", 2), ("zip:data/1#0", 4), ("zip:data/2#0", 8), ("zip:data/3#0", 2)]
    assert storage_widths(b"\x80\x02cos\nsystem\nq\x00X\x01\x00\x00\x000q\x01") == {}
    assert storage_widths(b"\x80\x02ctorch\nFloatStorage\nq\x00X\x05") == {}


@pytest.mark.slow
def test_git_add_finds_the_shared_ancestor_in_history(repo: Path) -> None:
    """Through the clean filter: the version before the parent comes from HEAD's history."""
    v0, v1, v2 = siblings(1 << 20)
    for i, data in enumerate((v0, v1, v2)):
        (repo / "m.safetensors").write_bytes(data)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"v{i}")
    store = Store(repo / ".git/model")
    oids = [json.loads(gm(repo, "show", f"HEAD~{i}:m.safetensors", "--json").stdout)["oid"]
            for i in (2, 1, 0)]
    m0, m1, m2 = (store.read_manifest(oid) for oid in oids)
    bases = _stored(store, m2, m1)[1] - {None}
    assert bases and bases <= set(dict(m0.chunks))


@pytest.mark.slow
def test_migrate_import_stores_later_versions_as_deltas(plain_repo: Path) -> None:
    repo = plain_repo
    v0, v1 = versions(2)
    for i, data in enumerate((v0, v1)):
        (repo / "m.safetensors").write_bytes(data)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"v{i}")
    gm(repo, "install", "--local")
    gm(repo, "migrate", "import", "--everything", "--include=*.safetensors")
    storage = json.loads(gm(repo, "show", "HEAD:m.safetensors", "--json").stdout)["storage"]
    assert 0 < storage["delta_bytes"] < 0.4 * len(v1)
    (repo / "m.safetensors").unlink()
    git(repo, "checkout", "--", "m.safetensors")
    assert (repo / "m.safetensors").read_bytes() == v1


def test_a_remote_delta_chain_that_loops_is_refused(tmp_path: Path) -> None:
    """A hostile remote: a delta chunk naming itself as its base ends in one error, not a
    loop, and nothing it sent is kept."""
    from gitmodel.store.pointer import Pointer
    from gitmodel.transfer import engine, remotes

    source = Store(tmp_path / "source")
    v0, v1 = versions(2, n=1 << 19)
    m1 = _add(source, v1, _add(source, v0))
    backend = remotes.open_backend(tmp_path, remotes.Remote("r", str(tmp_path / "remote")))
    engine.push(source, backend, engine.Known(tmp_path / "known", str(tmp_path / "remote")),
                {m1.pointer: "m.safetensors"})
    delta = next(c for c, _ in m1.chunks if source.chunk_base(c))
    path = next((tmp_path / "remote").rglob(delta))
    blob = path.read_bytes()
    path.write_bytes(blob[:2] + bytes.fromhex(delta) + blob[18:])  # its own base
    target = Store(tmp_path / "target")
    with pytest.raises(remotes.RemoteError, match="damaged"):
        engine.fetch(target, backend, {Pointer(m1.oid, m1.size): "m.safetensors"})
    assert not target.has_chunk(delta) and not target.has_manifest(m1.oid)


def test_a_delta_takes_its_base_from_a_file_holding_it(tmp_path: Path) -> None:
    """The version a checkout replaces holds the bases of the next one's deltas: read there,
    each verified, instead of decoded; a base changed in the file is decoded instead."""
    store = Store(tmp_path / "cache")
    v0, v1 = versions(2)
    m0 = _add(store, v0)
    m1 = _add(store, v1, m0)
    delta, size = next((c, n) for c, n in m1.chunks if store.chunk_base(c))
    base = store.chunk_base(delta)
    assert base is not None
    held = tmp_path / "v0"
    held.write_bytes(v0)
    bases = FileChunks(held, m0)
    try:
        assert bases(base, size) == store.read_chunk(base, size)
        assert bases(delta, size) is None and bases(base, size - 2) is None
        assert store.read_chunk(delta, size, bases) == store.read_chunk(delta, size)
        offset = sum(n for _, n in m0.chunks[:[c for c, _ in m0.chunks].index(base)])
        with open(held, "r+b") as handle:  # changed in place since it was written
            handle.seek(offset + size // 2)
            handle.write(bytes(8))
        assert bases(base, size) is None
        out = io.BytesIO()
        store.write_to(m1.pointer, out, bases)
        assert out.getvalue() == v1
    finally:
        bases.close()


def test_checking_out_a_delta_version_over_a_changed_base(repo: Path) -> None:
    """Through git: v0's file, changed in place after its checkout, is not trusted for
    v1's bases where it changed; v1 comes out right."""
    v0, v1 = versions(2)
    model = repo / "m.safetensors"
    for data, tag in ((v0, "v0"), (v1, "v1")):
        model.write_bytes(data)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", tag)
        git(repo, "tag", tag)
    keep = ("-c", "model.checkout.keepWhole=0")
    git(repo, *keep, "checkout", "-q", "v0")
    assert model.read_bytes() == v0
    with open(model, "r+b") as handle:  # the same inode as the link the checkout kept
        handle.seek(len(v0) // 2)
        handle.write(bytes(8))
    git(repo, *keep, "checkout", "-qf", "v1")
    assert model.read_bytes() == v1
    git(repo, *keep, "checkout", "-q", "v0")
    git(repo, *keep, "checkout", "-q", "v1")
    assert model.read_bytes() == v1


def test_small_pieces_stop_trying_deltas_that_never_pay_but_keep_those_that_do(tmp_path):
    """Noise gains nothing from a delta: after SMALL_DELTA_TRIES misses in a process a small
    piece is stored plain without reading its base; a fine-tune's small pieces stay deltas."""
    from gitmodel.store.chunking import Chunk
    from gitmodel.store.objects import SMALL_DELTA_TRIES
    rng = np.random.default_rng(3)

    def put(store: Store, data: bytes, base: bytes) -> None:
        store.put_chunk(chunk_id(base), Chunk(base, 2, "p"))
        store.put_chunk(chunk_id(data), Chunk(data, 2, "p"), chunk_id(base))

    noise = Store(tmp_path / "noise")
    for _ in range(SMALL_DELTA_TRIES):
        assert noise.small_deltas_pay()
        put(noise, rng.bytes(8192), rng.bytes(8192))
    assert not noise.small_deltas_pay()
    tuned = Store(tmp_path / "tuned")
    weights = rng.standard_normal(4096).astype("<f4")
    for _ in range(2 * SMALL_DELTA_TRIES):
        nudged = weights + rng.standard_normal(4096).astype("<f4") * 1e-3
        put(tuned, _bf16(nudged), _bf16(weights))
        assert tuned.small_deltas_pay()
        assert codec.delta_base(tuned.read_encoded(chunk_id(_bf16(nudged)), 8192)) is not None
