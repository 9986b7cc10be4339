"""Socket I/O helpers of the server and client, against fake sockets (no network)."""

from __future__ import annotations

import array
import random
import socket
from collections.abc import Sequence
from typing import Any, cast

import pytest

from kyuubi_py.protocol.dispatch import Buffer
from kyuubi_py.transport.server import frame_parts, open_reader, send_parts

pytestmark = pytest.mark.timeout(30)


class TrickleSocket:
    """Accepts at most ``per_call`` bytes per sendmsg; records what was sent and how."""

    def __init__(self, per_call: int) -> None:
        self.per_call = per_call
        self.sent = bytearray()
        self.buffer_counts: list[int] = []

    def sendmsg(self, buffers: Sequence[Buffer]) -> int:
        self.buffer_counts.append(len(buffers))
        budget = self.per_call
        for buffer in buffers:
            chunk = bytes(memoryview(buffer).cast("B")[:budget])
            self.sent += chunk
            budget -= len(chunk)
            if not budget:
                break
        return self.per_call - budget


class ChunkSocket:
    """recv_into returns the given chunks one by one, then EOF."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    def recv_into(self, buffer: Any) -> int:
        if not self.chunks:
            return 0
        chunk = self.chunks.pop(0)
        n = min(len(chunk), len(buffer))
        buffer[:n] = chunk[:n]
        if n < len(chunk):
            self.chunks.insert(0, chunk[n:])
        return n


def as_socket(fake: object) -> socket.socket:
    return cast(socket.socket, fake)


@pytest.mark.parametrize("per_call", [1, 3, 7, 1000, 1 << 20])
def test_send_parts_survives_partial_sends(per_call: int) -> None:
    parts: list[Buffer] = [b"head", b"", bytearray(b"middle"), memoryview(b"0123456789")[2:], b"x"]
    fake = TrickleSocket(per_call)
    send_parts(as_socket(fake), parts)
    assert bytes(fake.sent) == b"headmiddle23456789x"


def test_send_parts_handles_wide_item_views() -> None:
    numbers = array.array("i", [1, 2, 3, 4])
    fake = TrickleSocket(5)
    send_parts(as_socket(fake), [memoryview(numbers)])
    assert bytes(fake.sent) == numbers.tobytes()


def test_send_parts_batches_more_buffers_than_iov_max() -> None:
    parts: list[Buffer] = [bytes([i % 256]) for i in range(3000)]
    fake = TrickleSocket(1 << 20)
    send_parts(as_socket(fake), parts)
    assert bytes(fake.sent) == b"".join(bytes(part) for part in parts)
    assert max(fake.buffer_counts) <= 1024


def test_frame_parts_prefixes_the_total_length() -> None:
    parts = frame_parts([b"ab", memoryview(array.array("i", [1, 2])), bytearray(b"c")])
    assert bytes(parts[0]) == (2 + 8 + 1).to_bytes(4, "big")


def test_reader_yields_the_prefix_then_the_socket() -> None:
    reader = open_reader(as_socket(ChunkSocket([b"world", b"!"])), prefix=b"hello ")
    assert reader.read(3) == b"hel"
    assert reader.read(9) == b"lo world!"
    assert reader.read(1) == b""


def test_reader_assembles_large_reads_from_small_chunks() -> None:
    rng = random.Random(7)
    data = rng.randbytes(300_000)
    chunks = []
    position = 0
    while position < len(data):
        size = rng.randint(1, 70_000)
        chunks.append(data[position : position + size])
        position += size
    reader = open_reader(as_socket(ChunkSocket(chunks)), prefix=b"")
    assert reader.read(4) == data[:4]
    assert reader.read(len(data) - 4) == data[4:]


def test_reader_returns_short_read_at_eof() -> None:
    reader = open_reader(as_socket(ChunkSocket([b"abc"])))
    assert reader.read(10) == b"abc"
