"""Unit tests for the byte formats: pointers, chunk encoding, chunking, pkt-lines, manifests."""
from __future__ import annotations

import io
import json
import os
import random
import struct

import pytest

from gitmodel.git.pktline import PktReader, PktWriter
from gitmodel.store import chunking, codec, pointer
from gitmodel.store.objects import CorruptObject, Manifest

OID = "a" * 64


def test_pointer_round_trip_is_canonical():
    text = pointer.Pointer(OID, 1234).encode()
    assert text == (b"version https://git-lfs.github.com/spec/v1\n"
                    b"oid sha256:" + OID.encode() + b"\nsize 1234\n")
    assert pointer.parse(text) == pointer.Pointer(OID, 1234)


@pytest.mark.parametrize("text", [
    b"version https://git-lfs.github.com/spec/v1\noid sha256:../../etc/passwd\nsize 1\n",
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"A" * 64 + b"\nsize 1\n",
    b"version https://git-lfs.github.com/spec/v1\r\noid sha256:" + b"a" * 64 + b"\r\nsize 1\r\n",
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 01\n",
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize -1\n",
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 1\nx y\n",
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 1",
    b"oid sha256:" + b"a" * 64 + b"\nsize 1\n",
    b"x" * 2000,
])
def test_pointer_parse_rejects_anything_not_canonical(text):
    assert pointer.parse(text) is None


def test_empty_file_is_its_own_pointer():
    assert pointer.parse(b"") == pointer.EMPTY
    assert pointer.EMPTY.encode() == b""


@pytest.mark.parametrize("width", [1, 2, 4, 8])
def test_codec_round_trip(width):
    rng = random.Random(width)
    noise = bytes(rng.getrandbits(8) for _ in range(300_000))
    data = (b"\x3f\x00" * 150_000)[: len(noise)]
    mixed = bytes(a if i % 2 else b for i, (a, b) in enumerate(zip(noise, data)))
    for sample in (noise, data, mixed, b"", b"x"):
        blob = codec.encode(sample, width)
        assert codec.decode(blob, len(sample)) == sample


def test_codec_compresses_repetitive_bytes_and_keeps_noise_raw():
    assert len(codec.encode(b"\x01\x02" * 200_000, 2)) < 10_000
    noise = os.urandom(400_000)
    assert len(codec.encode(noise, 1)) <= len(noise) + 16


@pytest.mark.parametrize("size", [4096, 5002, 65536, (1 << 20) + 4])
def test_codec_groups_an_opaque_chunk_of_float_noise_by_its_element_size(size):
    """Issue 17's small files: float16 noise of unknown width stores 85% of its size
    grouped by 2, 92% as plain zstd; text and random bytes are not grouped."""
    rng = random.Random(size)
    halves = [struct.pack("<e", rng.gauss(0, 0.02)) for _ in range(size // 2)]
    noise16 = b"".join(halves)
    blob = codec.encode(noise16, 1)
    assert blob[:2] == bytes([codec.CODEC_ZSTD_GROUPED, 2])
    assert len(blob) < 0.88 * size
    assert codec.decode(blob, size) == noise16
    text = b"".join(b"line %d of some source text\n" % i for i in range(size // 20))
    assert codec.encode(text, 1)[0] == codec.CODEC_ZSTD
    assert codec.encode(os.urandom(size), 1)[0] == codec.CODEC_RAW


@pytest.mark.parametrize("width", [2, 4, 8])
def test_codec_slices_and_numpy_group_alike(width, monkeypatch):
    """Large chunks are grouped by slicing until numpy pays for its import, then by numpy:
    both must write and read the same bytes."""
    rng = random.Random(width)
    data = b"".join(struct.pack("<e", rng.gauss(0, 0.02)) for _ in range(1 << 20))
    encoded = {}
    for sliced in (0, codec._SLICED_BUDGET):
        monkeypatch.setattr(codec, "_sliced", sliced)
        monkeypatch.setattr(codec, "_np", None)  # as in a process that has not imported it
        encoded[sliced] = blob = codec.encode(data, width)
        assert codec.decode(blob, len(data)) == data
    assert encoded[0] == encoded[codec._SLICED_BUDGET]


@pytest.mark.parametrize("blob", [b"", b"\x09abc", b"\x01garbage", b"\x02\x02\x01\xff\xff\xff\x7f"])
def test_codec_rejects_damaged_chunks(blob):
    with pytest.raises(codec.CorruptChunk):
        codec.decode(blob, 10)


def _safetensors(tensors: dict[str, bytes], order=None) -> bytes:
    header, offset = {"__metadata__": {"k": "v"}}, 0
    for name in order or tensors:
        data = tensors[name]
        header[name] = {"dtype": "BF16", "shape": [len(data) // 2], "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(tensors[n] for n in order or tensors)


def _cut(data: bytes) -> list[chunking.Chunk]:
    chunks = list(chunking.chunk_stream(io.BytesIO(data)))
    assert b"".join(c.data for c in chunks) == data
    return chunks


def test_safetensors_cut_on_tensor_boundaries_survives_reordering():
    rng = random.Random(1)
    tensors = {f"t{i}": bytes(rng.getrandbits(8) for _ in range(size))
               for i, size in enumerate([5 << 20, 100, 200_000, 300])}
    first = {bytes(c.data) for c in _cut(_safetensors(tensors))[1:]}
    reordered = _cut(_safetensors(tensors, order=["t2", "t0", "t1", "t3"]))
    big = {bytes(c.data) for c in reordered if len(c.data) >= chunking.SMALL}
    assert big <= first  # every large-tensor piece is shared
    assert max(len(c.data) for c in reordered) <= chunking.PIECE
    assert reordered[1].width == 2


def test_content_defined_chunking_absorbs_an_insertion():
    data = os.urandom(8 << 20)
    edited = data[: 3 << 20] + b"inserted" * 512 + data[3 << 20:]
    before = {bytes(c.data) for c in _cut(data)}
    after = [bytes(c.data) for c in _cut(edited)]
    assert sum(len(c) for c in after if c not in before) < 3 * chunking.CDC_MAX


@pytest.mark.parametrize("data", [
    b"", b"\x00" * 9, struct.pack("<Q", 10) + b"{not json}", struct.pack("<Q", 2**40) + b"{",
    struct.pack("<Q", 8) + b'{"a":1} ' + b"rest",
    b"PK\x03\x04" + b"\x00" * 10, b"PK\x03\x04" + os.urandom(100_000),
])
def test_chunking_is_total_on_malformed_input(data):
    _cut(data)


def test_safetensors_layout_rejects_holes_and_overlaps():
    good = json.dumps({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                       "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})
    assert chunking.safetensors_layout(good.encode()) == [(0, 4, 4), (4, 8, 4)]
    hole = good.replace("[4, 8]", "[5, 9]")
    assert chunking.safetensors_layout(hole.encode()) is None


def test_pktline_content_round_trip(tmp_path):
    with open(tmp_path / "packets", "wb") as out:
        writer = PktWriter(out.fileno())
        writer.text("command=clean", "pathname=a b")
        writer.flush()
        payload = os.urandom(200_000)
        writer.write(payload)
        writer.flush()
    reader = PktReader(io.BytesIO((tmp_path / "packets").read_bytes()))
    assert reader.text_list() == ["command=clean", "pathname=a b"]
    reader.start_content()
    got = chunking.Reader(reader).read(300_000)
    assert bytes(got) == payload


def test_manifest_decode_validates_untrusted_input():
    good = Manifest(OID, 3, (("0" * 32, 3),))
    assert Manifest.decode(OID, good.encode()) == good
    for bad in [b"{}", b"not json", good.encode().replace(b'"size":3', b'"size":4'),
                good.encode().replace(b"0" * 32, b"../" + b"0" * 29)]:
        with pytest.raises(CorruptObject):
            Manifest.decode(OID, bad)
    with pytest.raises(CorruptObject):
        Manifest.decode("b" * 64, good.encode())


def test_torch_checkpoint_cut_at_storage_records(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"big": torch.randn(1024, 1024), "small": torch.randn(10),
             "exact": torch.zeros(chunking.PIECE // 4)}
    torch.save(state, tmp_path / "a.pt")
    state["small"] = torch.randn(10)
    state["big"][0, 0] += 1.0
    torch.save(state, tmp_path / "b.pt")
    first = _cut((tmp_path / "a.pt").read_bytes())
    second = _cut((tmp_path / "b.pt").read_bytes())
    sizes = [len(c.data) for c in first]
    assert sizes.count(chunking.PIECE) == 2  # both 4 MiB storages, on their own
    old = {bytes(c.data) for c in first}
    novel = sum(len(c.data) for c in second if bytes(c.data) not in old)
    assert chunking.PIECE <= novel < chunking.PIECE + (64 << 10)  # the edited storage only


def test_zip_descriptor_signature_inside_tensor_bytes_does_not_cut(tmp_path):
    torch = pytest.importorskip("torch")
    payload = torch.frombuffer(bytearray(b"PK\x07\x08" + b"\x01" * 12) * 65536, dtype=torch.uint8)
    torch.save({"t": payload.clone()}, tmp_path / "c.pt")
    chunks = _cut((tmp_path / "c.pt").read_bytes())
    assert bytes(payload.numpy()) in {bytes(c.data) for c in chunks}
