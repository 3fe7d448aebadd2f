"""Fast tier: the chunkers and the pointer parser on arbitrary input (property tests).

Git hands the clean filter a pipe in 64 KiB packets, and a repository may hold
any bytes, so two properties matter whatever arrives: the chunks of a stream
concatenate back to it, and they do not depend on how the stream was split
into reads (else the same file would be stored twice).
"""
from __future__ import annotations

import io
import itertools
import json
import random
import struct
import zipfile

import pyfastcdc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gitmodel.store import chunking, pointer

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Trickle(io.RawIOBase):
    """A stream that hands out its bytes in reads of the given sizes, like a pipe."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data, self._pos, self._sizes, self._turn = data, 0, sizes or [1 << 16], 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = self._sizes[self._turn % len(self._sizes)]
        self._turn += 1
        n = min(len(buffer), size, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


def cuts(data: bytes, name: str, sizes: list[int] | None = None) -> list[bytes]:
    stream = Trickle(data, sizes) if sizes else io.BytesIO(data)
    return [bytes(c.data) for c in chunking.chunk_stream(stream, name)]


def filler(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


@st.composite
def safetensors_files(draw) -> bytes:
    """Well-formed safetensors files, with tensors small and large (past SMALL and PIECE)."""
    sizes = draw(st.lists(st.sampled_from([0, 2, 6, 1000, chunking.SMALL - 2, chunking.SMALL,
                                           chunking.SMALL + 6, chunking.PIECE + 2]),
                          min_size=1, max_size=5))
    header, offset = {}, 0
    for i, size in enumerate(sizes):
        header[f"t{i}"] = {"dtype": "BF16", "shape": [size // 2], "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * draw(st.integers(0, 7))
    return struct.pack("<Q", len(text)) + text + filler(draw(st.integers(0, 9)), offset)


def damaged(data: bytes, at: int, garbage: bytes) -> bytes:
    at %= len(data) + 1
    return data[:at] + garbage + data[at + len(garbage):]


inputs = st.one_of(
    st.binary(max_size=4096),
    safetensors_files(),
    st.builds(damaged, safetensors_files(), st.integers(0, 1 << 30), st.binary(max_size=16)),
    st.builds(lambda rest: chunking.ZIP_MAGIC + rest, st.binary(max_size=512)),
    st.builds(lambda n, s: filler(s, n), st.integers(0, 3 << 20), st.integers(0, 9)),  # CDC
)
names = st.sampled_from(["model.safetensors", "model.bin", "ckpt.pt", ""])
read_sizes = st.lists(st.integers(100, 70_000), min_size=1, max_size=4)  # pipes: 64 KiB packets


@FAST
@given(inputs, names, read_sizes)
def test_chunks_concatenate_back_and_ignore_read_boundaries(data, name, sizes):
    whole = cuts(data, name)
    assert b"".join(whole) == data
    assert all(whole), "no empty chunk"
    assert cuts(data, name, sizes) == whole


@FAST
@given(safetensors_files())
def test_large_tensors_are_cut_from_their_own_start(data):
    """So a tensor that kept its bytes keeps its chunks, wherever the file moved it."""
    (length,) = struct.unpack("<Q", data[:8])
    start = 8 + length
    whole = cuts(data, "m.safetensors")
    assert whole[0] == data[:start]  # the header alone
    for begin, end, _width in chunking.safetensors_layout(data[8:start]) or []:
        tensor = data[start + begin:start + end]
        if len(tensor) >= chunking.SMALL:
            assert all(tensor[i:i + chunking.PIECE] in whole
                       for i in range(0, len(tensor), chunking.PIECE))


def _checkpoint(tensors: dict[str, bytes]) -> bytes:
    """A zip laid out as torch.save writes it: stored entries, archive/data/N records."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02pickle")
        for i, payload in enumerate(tensors.values()):
            archive.writestr(f"archive/data/{i}", payload)
    return out.getvalue()


record_sizes = st.sampled_from([0, 1, chunking.SMALL - 1, chunking.SMALL, 300_000,
                                chunking.PIECE, chunking.PIECE + 100])


@settings(FAST, max_examples=30)
@given(st.lists(record_sizes, min_size=1, max_size=3), st.integers(0, 9), read_sizes)
def test_zip_checkpoints_cut_at_records_whatever_the_reads(sizes, seed, reads):
    data = _checkpoint({f"t{i}": filler(seed + i, n) for i, n in enumerate(sizes)})
    whole = cuts(data, "ckpt.pt")
    assert b"".join(whole) == data
    assert cuts(data, "ckpt.pt", reads) == whole
    for i, n in enumerate(sizes):
        if n >= chunking.SMALL:  # a large record's first piece is a chunk of its own
            assert filler(seed + i, n)[:chunking.PIECE] in whole


# -- content-defined tiers ------------------------------------------------------------
SPAN = 1 << 20  # tiers end at 1, 2, 4 and 8 MiB: every tier within a few MiB
TIERS = chunking.cdc_tiers(SPAN)


def cdc(data: bytes, reads: list[int] | None = None) -> list[bytes]:
    stream = Trickle(data, reads) if reads else io.BytesIO(data)
    return [bytes(c.data) for c in chunking.cdc_chunks(stream, SPAN)]


def tier_at(offset: int) -> tuple[int | None, int, int, int]:
    return next(t for t in TIERS if t[0] is None or offset < t[0])


def test_tiers_grow_from_fine_to_the_old_coarse_cuts():
    means = [4 * avg // 3 for _, avg, _, _ in TIERS[:-1]]
    assert means == [chunking.FINE << i for i in range(len(means))]
    assert TIERS[-1] == (None, chunking.CDC_AVG, chunking.CDC_MIN, chunking.CDC_MAX)
    assert all(high <= chunking.MAX_CHUNK for _, _, _, high in TIERS)


stream_sizes = st.one_of(st.integers(0, 1 << 20), st.integers(1 << 20, 12 << 20))


@settings(FAST, max_examples=12)
@given(stream_sizes, st.integers(0, 9), read_sizes)
def test_tiered_cuts_are_total_deterministic_and_bounded_by_their_tier(size, seed, reads):
    data = filler(seed, size)
    whole = cdc(data)
    assert b"".join(whole) == data and all(whole)
    assert cdc(data, reads) == whole  # read boundaries change nothing
    at = 0
    for chunk in whole[:-1]:
        _, _, low, high = tier_at(at)  # the tier where it starts cuts it
        assert low <= len(chunk) <= high
        at += len(chunk)
    assert len(whole[-1] if whole else b"") <= tier_at(at)[3]


@settings(FAST, max_examples=12)
@given(st.integers(0, 12 << 20), st.integers(1, 5000), st.integers(0, 9))
def test_an_insertion_costs_a_few_chunks_of_its_tier(at, length, seed):
    """Cuts fall in step again a few chunks after the insertion; a tier switch that
    moves costs a few chunks of the next tier."""
    data = filler(seed, 12 << 20)
    at = min(at, len(data))
    edited = data[:at] + filler(seed + 100, length) + data[at:]
    before = set(cdc(data))
    novel = sum(len(c) for c in cdc(edited) if c not in before)
    end, _, _, high = tier_at(at)
    following = tier_at(end)[3] if end is not None else high
    assert novel <= length + 2 * high + 2 * following


def test_past_the_fine_tiers_cuts_fall_where_the_old_chunker_put_them():
    """Stores written before the tiers cut every opaque byte with the coarse cutter:
    a file's bytes past its fine tiers (256 MiB, here 8 MiB) still dedup with them."""
    data = filler(4, 40 << 20)
    old = {bytes(c.data) for c in pyfastcdc.FastCDC(
        chunking.CDC_AVG, min_size=chunking.CDC_MIN, max_size=chunking.CDC_MAX).cut_buf(data)}
    shared = sum(len(c) for c in cdc(data) if c in old)
    assert shared >= len(data) - TIERS[-2][0] - 4 * chunking.CDC_MAX


def test_an_edit_of_a_small_opaque_file_stores_about_its_size():
    """The history benchmark's edit: 256 KiB rewritten in a 4 MiB opaque file."""
    rng = random.Random(3)
    data = bytearray(rng.randbytes(4 << 20))
    before = {bytes(c.data) for c in chunking.chunk_stream(io.BytesIO(bytes(data)), "model.bin")}
    data[1_000_000:1_000_000 + (256 << 10)] = rng.randbytes(256 << 10)
    after = [bytes(c.data) for c in chunking.chunk_stream(io.BytesIO(bytes(data)), "model.bin")]
    novel = sum(len(c) for c in after if c not in before)
    assert novel < (256 << 10) + 4 * chunking.FINE  # 1 MiB cuts stored ~1.45 MiB here


# -- a safetensors header under another name: a hint, checked against the store ------
def _tensors_file(seed: int) -> bytes:
    sizes = [chunking.PIECE + 4096, 1000, chunking.SMALL, 2 * chunking.PIECE, 300, chunking.PIECE // 2]
    header, offset = {}, 0
    for i, size in enumerate(sizes):
        header[f"t{i}"] = {"dtype": "BF16", "shape": [size // 2], "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + filler(seed, offset)


BASE = _tensors_file(1)
STORED = set(cuts(BASE, "v0.safetensors"))


def hinted(data: bytes, reads: list[int] | None = None, size: int | None = -1) -> list[bytes]:
    stream = Trickle(data, reads) if reads else io.BytesIO(data)
    return [bytes(c.data) for c in chunking.chunk_stream(
        stream, "model.bin", lambda piece: bytes(piece) in STORED, len(data) if size == -1 else size)]


DATA_START = 8 + struct.unpack("<Q", BASE[:8])[0]


T3 = DATA_START + chunking.PIECE + 4096 + 1000 + chunking.SMALL  # where t3's two pieces begin


@settings(FAST, max_examples=15)
@given(st.integers(DATA_START, len(BASE)), st.integers(-5000, 5000),
       st.lists(st.integers(20_000, 70_000), min_size=1, max_size=3))
@example(DATA_START + chunking.PIECE - 1, -2, [30_000])  # across the end of a piece
@example(DATA_START + chunking.PIECE + 100, -5000, [30_000])  # a 4 KiB piece whole, and more
@example(T3 + chunking.PIECE - 2500, -5000, [30_000])
@example(T3 - 100, -200, [30_000])
def test_an_edited_copy_under_another_name_finds_the_stored_pieces(at, shift, reads):
    """One insertion or deletion anywhere past the header: the piece holding it is new (and
    the next ones a deletion reaches into), then the pieces fall in step again (content-defined
    cuts found none of them)."""
    edited = BASE[:at] + filler(2, shift) + BASE[at:] if shift >= 0 else BASE[:at] + BASE[at - shift:]
    whole = hinted(edited)
    assert b"".join(whole) == edited and all(len(c) <= chunking.MAX_CHUNK for c in whole)
    assert hinted(edited, reads) == whole
    starts = itertools.accumulate((len(c) for c in whole), initial=0)
    novel = [(start, len(c)) for start, c in zip(starts, whole) if c not in STORED]
    assert sum(n for _, n in novel) <= 2 * chunking.PIECE + max(shift, 0)
    assert all(start >= at - chunking.PIECE for start, _ in novel)  # all before it was found


def test_without_the_size_the_first_piece_not_stored_ends_the_hint():
    half = len(BASE) // 2
    edited = BASE[:half] + filler(2, 4096) + BASE[half:]
    whole = hinted(edited, size=None)
    assert b"".join(whole) == edited
    found = sum(len(c) for c in whole if c in STORED)
    assert half - chunking.PIECE - chunking.GROUP <= found <= half  # up to the insertion only
    unstored = [bytes(c.data) for c in chunking.chunk_stream(io.BytesIO(edited), "model.bin")]
    assert max(len(c) for c in unstored) <= 4 * chunking.FINE  # no store: content-defined cuts


# -- pointers -------------------------------------------------------------------------
oids = st.text("0123456789abcdef", min_size=64, max_size=64)
sizes = st.integers(1, 2**63 - 1)


@FAST
@given(oids, sizes)
def test_pointer_round_trip(oid, size):
    text = pointer.Pointer(oid, size).encode()
    assert pointer.parse(text) == pointer.Pointer(oid, size)


@FAST
@given(oids, sizes, st.integers(0, 200), st.binary(min_size=1, max_size=3), st.booleans())
def test_only_the_canonical_text_is_a_pointer(oid, size, at, edit, insert):
    """Any edit of a pointer's text is content, unless it is itself another canonical pointer."""
    text = pointer.Pointer(oid, size).encode()
    at %= len(text) + 1
    mutated = text[:at] + edit + text[at + (0 if insert else len(edit)):]
    parsed = pointer.parse(mutated)
    assert parsed is None or (parsed.size > 0 and parsed.encode() == mutated)


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_a_pointer_only_when_canonical(data):
    parsed = pointer.parse(data)
    assert parsed is None or parsed.encode() == data


def test_size_zero_text_is_content_not_the_empty_pointer():
    """Else `git add` of a file holding this text would commit an empty file in its place."""
    text = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 0\n"
    assert pointer.parse(text) is None
    assert pointer.parse(b"") == pointer.EMPTY


# -- small opaque files -----------------------------------------------------------------
@settings(FAST, max_examples=20)
@given(st.integers(1, chunking.WHOLE_BELOW - 1), st.lists(st.integers(1, 70_000), max_size=3))
def test_a_small_opaque_file_is_one_chunk(size, reads):
    data = filler(size, size)
    assert cuts(data, "shard.bin", reads) == [data]


@pytest.mark.parametrize("name", ["", "shard.bin", "model.safetensors"])
def test_a_small_file_that_starts_like_safetensors_but_is_not_is_one_chunk(name):
    data = bytearray(filler(9, 100_000))
    data[8:9] = b"{"  # a ninth byte of one random file in 256, its header malformed
    assert cuts(bytes(data), name) == [bytes(data)]


def test_an_opaque_file_from_whole_below_on_is_cut_by_content():
    data = filler(8, chunking.WHOLE_BELOW)
    pieces = cuts(data, "shard.bin")
    assert len(pieces) > 1 and b"".join(pieces) == data
    assert pieces == [bytes(c.data) for c in chunking.cdc_chunks(io.BytesIO(data))]
    assert cuts(b"", "empty.bin") == []
