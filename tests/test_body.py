"""Bounded body buffering and chunked replay (``_body``), shared by retry, dedup, cache."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from httpx_resilient._core.body import (
    CHUNK_SIZE,
    PrefixedStream,
    ReplayStream,
    read_bounded,
    replay_response,
)

pytestmark = pytest.mark.anyio


class Chunks(httpx.AsyncByteStream):
    """A network-like stream: yields the given chunks, records whether it was closed."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.closed = False
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


async def collect(stream: httpx.AsyncByteStream) -> list[bytes]:
    return [chunk async for chunk in stream]


async def test_small_body_is_buffered_and_replayed() -> None:
    source = Chunks(b"ab", b"", b"cd")
    response = httpx.Response(200, stream=source)
    assert await read_bounded(response, 10) == b"abcd"
    assert source.closed
    assert isinstance(response.stream, ReplayStream)
    assert await response.aread() == b"abcd"


async def test_body_over_the_bound_is_handed_on_whole() -> None:
    source = Chunks(b"aaaa", b"bbbb", b"cccc")
    response = httpx.Response(200, stream=source)
    assert await read_bounded(response, 5) is None
    assert source.pulled == 2  # stopped reading as soon as the bound was passed
    assert isinstance(response.stream, PrefixedStream)
    assert await response.aread() == b"aaaabbbbcccc"


async def test_declared_length_over_the_bound_stops_early() -> None:
    source = Chunks(b"a", b"b", b"c", b"d")
    response = httpx.Response(200, headers={"Content-Length": "100"}, stream=source)
    assert await read_bounded(response, 50) is None
    assert source.pulled == 2
    assert await response.aread() == b"abcd"


async def test_closing_a_half_read_stream_closes_the_source() -> None:
    source = Chunks(b"aaaa", b"bbbb", b"cccc")
    response = httpx.Response(200, stream=source)
    assert await read_bounded(response, 3) is None
    await response.aclose()
    assert source.closed


async def test_in_memory_body_is_read_without_copying_the_stream() -> None:
    response = httpx.Response(200, content=b"hello")
    stream = response.stream
    assert await read_bounded(response, 5) == b"hello"
    assert response.stream is stream
    assert await read_bounded(httpx.Response(200, content=b"hello"), 4) is None


async def test_encoded_bodies_stay_encoded() -> None:
    import gzip

    raw = gzip.compress(b"x" * 1000)
    response = httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=Chunks(raw))
    assert await read_bounded(response, 10_000) == raw
    assert await response.aread() == b"x" * 1000  # httpx decodes, not the library


async def test_replay_is_chunked_and_repeatable() -> None:
    data = bytes(range(256)) * (CHUNK_SIZE // 256 * 2 + 3)
    stream = ReplayStream(data)
    first = await collect(stream)
    assert [len(c) for c in first[:-1]] == [CHUNK_SIZE] * (len(first) - 1)
    assert b"".join(first) == data
    assert await collect(stream) == first
    assert await collect(ReplayStream(b"")) == []


async def test_replay_response_is_independent() -> None:
    headers = httpx.Headers({"X-A": "1"})
    one = replay_response(200, headers, b"body")
    two = replay_response(200, headers, b"body")
    assert await one.aread() == await two.aread() == b"body"
    one.headers["X-A"] = "2"
    assert two.headers["X-A"] == "1"


async def test_closing_a_half_read_body_finishes_its_generator_at_once() -> None:
    finished: list[str] = []

    class Generator(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                for _ in range(10):
                    yield b"x" * 10
            finally:
                finished.append("closed")

    response = httpx.Response(200, stream=Generator())
    assert await read_bounded(response, 15) is None
    assert finished == []
    await response.aclose()
    assert finished == ["closed"]  # not left to the garbage collector


async def test_replay_chunk_is_16_kib() -> None:
    """DESIGN "Bodies and lifecycle": replays use 16 KiB chunks (a bomb stays small)."""
    assert CHUNK_SIZE == 16 * 1024
    chunks = await collect(ReplayStream(b"z" * 100_000))
    assert [len(c) for c in chunks] == [16 * 1024] * 6 + [100_000 - 6 * 16 * 1024]
