"""Property tests (hypothesis): parsers of untrusted bytes give a value or their own
one-line error type, never another exception."""
from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gitmodel.commands import settled
from gitmodel.git.pktline import PktReader, ProtocolError
from gitmodel.git.repo import Repo
from gitmodel.store import chunking, pointer
from gitmodel.store.objects import MAX_CHUNK, CorruptObject, Manifest, Store
from gitmodel.store.pointer import is_oid
from gitmodel.transfer import remotes

FAST = settings(max_examples=300, deadline=None)
POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %s\n"
oids = st.text("0123456789abcdef", min_size=64, max_size=64).map(str.encode)
sizes = st.one_of(st.integers(0, 2**70), st.text("0123456789", min_size=1, max_size=22))


@FAST
@given(st.one_of(st.binary(max_size=300), st.builds(lambda o, s: POINTER % (o, str(s).encode()),
                                                     oids, sizes)))
def test_pointer_parse_never_raises(data):
    found = pointer.parse(data)
    if found is not None:
        assert 0 <= found.size <= pointer.MAX_SIZE
        assert found.size or found.oid == pointer.EMPTY_OID


@FAST
@given(st.binary(max_size=400))
def test_pktline_reader_gives_packets_or_protocol_errors(data):
    reader = PktReader(io.BytesIO(data))
    try:
        while True:
            reader.text_list()
    except (EOFError, ProtocolError):
        pass


@FAST
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
       .map(lambda v: __import__("json").dumps(v).encode()) | st.binary(max_size=200))
def test_safetensors_layout_and_chunking_are_total(header):
    chunking.safetensors_layout(header)
    data = struct.pack("<Q", len(header)) + header + b"\0" * 64
    chunks = list(chunking.chunk_stream(io.BytesIO(data), "x.safetensors"))
    assert b"".join(c.data for c in chunks) == data
    assert all(len(c.data) <= MAX_CHUNK for c in chunks)


@FAST
@given(st.lists(st.tuples(st.integers(0, 2**40), st.sampled_from(["BF16", "U8", "x"])), max_size=4),
       st.binary(max_size=300), st.one_of(st.none(), st.integers(0, 2**41)),
       st.lists(st.booleans(), min_size=1, max_size=8))
def test_a_header_as_a_hint_is_total_whatever_it_and_the_store_claim(ends, body, size, answers):
    """A `.bin` whose header declares anything, with any size hint and any store answers."""
    header, start = {}, 0
    for i, (end, dtype) in enumerate(sorted(ends)):
        header[f"t{i}"] = {"dtype": dtype, "shape": [1], "data_offsets": [start, max(start, end)]}
        start = max(start, end)
    text = __import__("json").dumps(header).encode()
    data = struct.pack("<Q", len(text)) + text + body
    turns = iter(answers * 1000)
    chunks = list(chunking.chunk_stream(io.BytesIO(data), "x.bin", lambda _: next(turns, False), size))
    assert b"".join(c.data for c in chunks) == data
    assert all(0 < len(c.data) <= MAX_CHUNK for c in chunks)


@FAST
@given(st.binary(max_size=300).map(lambda b: chunking.ZIP_MAGIC + b))
def test_torch_zip_chunking_is_total(data):
    chunks = list(chunking.chunk_stream(io.BytesIO(data), "x.pt"))
    assert b"".join(c.data for c in chunks) == data


@FAST
@given(st.one_of(st.binary(max_size=200), st.builds(
    lambda size, chunks: __import__("json").dumps(
        {"version": 1, "oid": "a" * 64, "size": size, "chunks": chunks}).encode(),
    st.integers(-5, 2**64), st.lists(st.tuples(st.text("0123456789abcdef", min_size=32,
                                                        max_size=32), st.integers(-1, 2**31)),
                                     max_size=3))))
def test_manifest_decode_gives_a_manifest_or_corrupt_object(data):
    try:
        manifest = Manifest.decode("a" * 64, data)
    except CorruptObject:
        return
    assert all(0 < n <= MAX_CHUNK for _, n in manifest.chunks)
    assert manifest.pointer.size == manifest.size


def _record(tmp: Path, pack: str, listing: str, loose: str, packed: list[str]) -> str:
    return "".join([f"{settled.MAGIC}\n{tmp / 'remote'}\n0\n{pack}\n{listing}\n1\n{loose}\n",
                    *(f"{b}\n" for b in packed)])


@FAST
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 80), st.text("0af \n-x", max_size=3)),
                max_size=4))
def test_a_settled_record_damaged_anywhere_is_read_or_ignored(edits):
    """A record (commands/settled.py) cut, spliced or overwritten anywhere: reading it and
    asking it never raise, a loose entry is trusted only with a valid oid (it names a file),
    and it claims a listing settled whole only on the line that names it."""
    blob, oid, listing = "1" * 40, "2" * 64, "3" * 32
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        repo = Repo(tmp, tmp / ".git", tmp / ".git")
        store = Store(repo.model_dir)
        store.packs.dir.mkdir(parents=True, exist_ok=True)
        (store.packs.dir / "pack-a.pack").write_bytes(b"")
        (store.packs.dir / "pack-a.idx").write_bytes(b"")
        store.manifest_path(oid).parent.mkdir(parents=True)
        store.manifest_path(oid).write_bytes(b"")
        lines = _record(tmp, "pack-a", listing, f"{blob} {oid}", ["4" * 40, "5" * 64]).split("\n")
        for line, at, text in edits:
            if line < len(lines):
                lines[line] = lines[line][:at] + text + lines[line][at + len(text):]
        (repo.model_dir / f"settled-{remotes.url_digest(str(tmp / 'remote'))}").write_text("\n".join(lines))
        record = settled.Settled(repo, store, str(tmp / "remote"))
        assert all(is_oid(o) for o in record.loose.values())
        assert not record.whole(listing) or lines[4] == listing
        assert record.among({blob, "4" * 40, "6" * 40}) <= {blob, "4" * 40}
        if not edits:
            assert record.whole(listing) and record.among({blob, "4" * 40}) == {blob, "4" * 40}
