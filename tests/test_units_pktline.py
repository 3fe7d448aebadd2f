"""Fast tier: git's pkt-line framing and the filter protocol handshake, in process.

The filter process is driven over OS pipes by a client written here from
gitattributes(5) and gitprotocol-common(5), so a framing or handshake bug shows
without a git command around it.
"""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import git
from gitmodel.filter.process import serve
from gitmodel.git.pktline import MAX_PAYLOAD, PktReader, PktWriter, ProtocolError
from gitmodel.git.repo import Repo
from gitmodel.store.chunking import Reader
from gitmodel.store.pointer import parse


def framed(*packets: bytes | None) -> bytes:
    """Packets as git frames them; None is a flush."""
    return b"".join(b"0000" if p is None else b"%04x" % (len(p) + 4) + p for p in packets)


@pytest.mark.parametrize("header", [b"0x10", b" 1a ", b"+01a", b"-001", b"1_a0", b"00 8",
                                    b"zzzz", b"\xff\xff\xff\xff"])
def test_malformed_length_prefix_is_rejected(header):
    with pytest.raises(ProtocolError):
        PktReader(io.BytesIO(header + b"x" * 64)).packet()


@pytest.mark.parametrize("length", [1, 2, 3, MAX_PAYLOAD + 5, 0xFFFF])
def test_length_out_of_range_is_rejected(length):
    with pytest.raises(ProtocolError):
        PktReader(io.BytesIO(b"%04x" % length + b"x" * 0x10000)).packet()


def test_upper_case_hex_and_the_largest_packet_are_accepted():
    payload = b"p" * MAX_PAYLOAD
    reader = PktReader(io.BytesIO(b"000Ahello!" + b"%04X" % (MAX_PAYLOAD + 4) + payload + b"0000"))
    assert reader.packet() == b"hello!"
    assert reader.packet() == payload
    assert reader.packet() is None


def test_truncated_packet_is_end_of_stream():
    with pytest.raises(EOFError):
        PktReader(io.BytesIO(b"0009abc")).packet()


def _written(tmp_path: Path, emit) -> bytes:
    with open(tmp_path / "out", "wb") as out:
        emit(PktWriter(out.fileno()))
    return (tmp_path / "out").read_bytes()


def test_writer_splits_content_into_full_packets(tmp_path):
    data = os.urandom(2 * MAX_PAYLOAD + 7)
    out = _written(tmp_path, lambda w: (w.write(data), w.flush()))
    assert out == framed(data[:MAX_PAYLOAD], data[MAX_PAYLOAD:2 * MAX_PAYLOAD],
                         data[2 * MAX_PAYLOAD:], None)


@pytest.mark.parametrize("size", [0, 130, MAX_PAYLOAD, MAX_PAYLOAD + 1])
def test_a_whole_answer_in_one_write_is_framed_as_packet_by_packet(tmp_path, size):
    """The filter's answer to a clean (`answer`): the same bytes as its five writes."""
    data = os.urandom(size)
    one = _written(tmp_path, lambda w: w.answer("success", data))
    assert one == _written(tmp_path, lambda w: (w.text("status=success"), w.flush(), w.write(data),
                                                w.flush(), w.flush()))
    assert one == framed(b"status=success\n", None, *([data[:MAX_PAYLOAD]] if data else []),
                         *([data[MAX_PAYLOAD:]] if size > MAX_PAYLOAD else []), None, None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=3 * MAX_PAYLOAD // 2), max_size=4))
def test_content_round_trips_through_the_framing(tmp_path_factory, blocks):
    data = b"".join(blocks)
    out = _written(tmp_path_factory.mktemp("pkt"),
                   lambda w: ([w.write(b) for b in blocks], w.flush()))
    reader = PktReader(io.BytesIO(out + framed(b"next\n")))
    reader.start_content()
    assert bytes(Reader(reader).read(len(data) + 1)) == data
    assert reader.packet() == b"next\n"  # the reader stopped at the flush


# -- the long-running filter process over pipes ------------------------------------------
class Client:
    """git's side of the filter protocol, over two pipes to `serve` in a thread."""

    def __init__(self, repo: Repo) -> None:
        to_filter, self._to_filter = os.pipe()
        self._from_filter, from_filter = os.pipe()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, args=(repo, to_filter, from_filter))
        self.thread.start()
        self.writer = PktWriter(self._to_filter)
        self.reader = PktReader(open(self._from_filter, "rb", closefd=False))  # noqa: SIM115 - lives as long as the client

    def _serve(self, repo: Repo, fd_in: int, fd_out: int) -> None:
        try:
            serve(repo, fd_in, fd_out)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            os.close(fd_in)
            os.close(fd_out)

    def send(self, *lines: str) -> None:
        self.writer.text(*lines)
        self.writer.flush()

    def request(self, command: str, path: str, content: bytes) -> tuple[list[str], bytes, list[str]]:
        """(status lines, content, trailing status lines) of one clean or smudge."""
        self.send(f"command={command}", f"pathname={path}")
        self.writer.write(content)
        self.writer.flush()
        status = self.reader.text_list()
        if status != ["status=success"]:
            return status, b"", []
        self.reader.start_content()
        out = bytearray()
        while block := Reader(self.reader).read(1 << 20):
            out += block
        return status, bytes(out), self.reader.text_list()

    def close(self) -> list[BaseException]:
        os.close(self._to_filter)
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the filter did not end when git closed the pipe"
        os.close(self._from_filter)
        return self.errors


@pytest.fixture
def filter_repo(tmp_path) -> Iterator[Repo]:
    git(tmp_path, "init", "-q")
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the filter, like git's, runs at the top of the work tree
    try:
        yield Repo.discover(tmp_path)
    finally:
        os.chdir(cwd)


def test_handshake_clean_smudge_and_shutdown(filter_repo):
    client = Client(filter_repo)
    client.send("git-filter-client", "version=2")
    assert client.reader.text_list() == ["git-filter-server", "version=2"]
    client.send("capability=clean", "capability=smudge", "capability=delay")
    assert client.reader.text_list() == ["capability=clean", "capability=smudge"]  # no delay

    content = os.urandom(300_000)
    status, pointer_text, trailer = client.request("clean", "model.bin", content)
    assert (status, trailer) == (["status=success"], [])
    pointer = parse(pointer_text)
    assert pointer is not None and pointer.size == len(content)

    status, back, trailer = client.request("smudge", "model.bin", pointer_text)
    assert (status, back, trailer) == (["status=success"], content, [])
    status, passed, _ = client.request("smudge", "notes.bin", b"not a pointer")
    assert (status, passed) == (["status=success"], b"not a pointer")
    status, _, _ = client.request("unknown", "x", b"")
    assert status == ["status=error"]
    assert client.close() == []  # EOF after a request is a clean shutdown


def test_wrong_handshake_is_a_protocol_error(filter_repo):
    client = Client(filter_repo)
    client.send("git-filter-client", "version=1")
    errors = client.close()
    assert len(errors) == 1 and isinstance(errors[0], ProtocolError)
