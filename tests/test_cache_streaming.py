"""A cold response streams to its first caller while the cache stores it (issue 9 item 12).

Raw anyio socket servers (they run under asyncio and trio) send a chunked body whose
second part waits for the test: a cache that buffered the whole body first would never
hand over the first bytes. Also: bounded by ``max_entry_bytes``, nothing stored when the
caller stops early or the body breaks, and a compression bomb read through the cache
stays small in memory.
"""

from __future__ import annotations

import gzip
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager

import anyio
import anyio.abc
import httpx
import pytest

from httpx_resilient._cache.config import CacheConfig
from httpx_resilient._cache.memory import MemoryStorage
from httpx_resilient._cache.transport import CacheTransport
from tests.loopback import LoopbackServer, Reply

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

HEAD = (
    b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Type: text/plain\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


Serve = Callable[[anyio.abc.SocketStream], Awaitable[None]]


@asynccontextmanager
async def raw_server(serve: Serve) -> AsyncIterator[str]:
    """A one-route HTTP/1.1 server on a raw socket; yields its base URL."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            received = b""
            while b"\r\n\r\n" not in received:
                data = await stream.receive()
                if not data:
                    return
                received += data
            await serve(stream)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


def cache(**config: object) -> CacheTransport:
    return CacheTransport(httpx.AsyncHTTPTransport(), CacheConfig(**config))  # type: ignore[arg-type]


async def test_first_bytes_arrive_before_the_body_is_complete() -> None:
    more = anyio.Event()
    served = 0

    async def serve(stream: anyio.abc.SocketStream) -> None:
        nonlocal served
        served += 1
        await stream.send(HEAD + chunk(b"first "))
        await more.wait()
        await stream.send(chunk(b"second") + chunk(b""))

    transport = cache()
    async with raw_server(serve) as url, httpx.AsyncClient(transport=transport) as client:
        with anyio.fail_after(5):  # a cache that buffers would wait here for ever
            async with client.stream("GET", url) as response:
                assert response.extensions["cache_status"] == "miss"
                async with aclosing(response.aiter_raw()) as parts:
                    assert await parts.__anext__() == b"first "
                    assert transport.statistics().stores == 0  # not stored before the end
                    more.set()
                    rest = b"".join([part async for part in parts])
        assert rest == b"second"
        assert transport.statistics().stores == 1
        hit = await client.get(url)
    assert hit.extensions["cache_status"] == "hit"
    assert hit.content == b"first second"
    assert served == 1


async def test_a_body_over_max_entry_bytes_is_delivered_whole_and_not_stored() -> None:
    body = [b"a" * 600, b"b" * 600]

    async def serve(stream: anyio.abc.SocketStream) -> None:
        await stream.send(HEAD + b"".join(chunk(part) for part in body) + chunk(b""))

    transport = cache(max_entry_bytes=1000)
    async with raw_server(serve) as url, httpx.AsyncClient(transport=transport) as client:
        first = await client.get(url)
        second = await client.get(url)
    assert first.content == second.content == b"".join(body)
    assert second.extensions["cache_status"] == "miss"
    assert transport.statistics().stores == 0


# Under trio, a partly read httpx response leaves httpx's and httpcore's own nested
# async generators to the garbage collector, which warns; plain httpx does the same
# without this library (checked), so that warning is not this test's subject.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_caller_that_closes_early_leaves_no_entry() -> None:
    more = anyio.Event()

    async def serve(stream: anyio.abc.SocketStream) -> None:
        await stream.send(HEAD + chunk(b"first "))
        with anyio.move_on_after(2):
            await more.wait()
        await stream.send(chunk(b"second") + chunk(b""))

    transport = cache()
    async with raw_server(serve) as url, httpx.AsyncClient(transport=transport) as client:
        async with (
            client.stream("GET", url) as response,
            aclosing(response.aiter_raw()) as parts,
        ):
            assert await parts.__anext__() == b"first "
        # closed after one chunk
        more.set()
        storage = transport.storage
        assert isinstance(storage, MemoryStorage)
        assert len(storage) == 0
        assert transport.statistics().stores == 0


async def test_a_caller_that_closes_without_reading_leaves_no_entry() -> None:
    async def serve(stream: anyio.abc.SocketStream) -> None:
        await stream.send(HEAD + chunk(b"first ") + chunk(b"second") + chunk(b""))

    transport = cache()
    async with raw_server(serve) as url, httpx.AsyncClient(transport=transport) as client:
        async with client.stream("GET", url) as response:
            assert response.status_code == 200
        assert transport.statistics().stores == 0
        again = await client.get(url)
        assert again.extensions["cache_status"] == "miss"
        assert again.content == b"first second"
        assert transport.statistics().stores == 1


async def test_a_body_that_breaks_leaves_no_entry() -> None:
    async def serve(stream: anyio.abc.SocketStream) -> None:
        await stream.send(HEAD + chunk(b"first "))  # then the connection closes

    transport = cache()
    async with raw_server(serve) as url, httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(url)
    storage = transport.storage
    assert isinstance(storage, MemoryStorage)
    assert len(storage) == 0


_BOMB: bytes | None = None
INFLATED = 100 * 1024 * 1024  # 100 MiB of zeros


def bomb() -> bytes:
    global _BOMB
    if _BOMB is None:
        _BOMB = gzip.compress(b"\0" * INFLATED, compresslevel=9)
    return _BOMB


async def test_a_compression_bomb_through_the_cache_stays_small(server: LoopbackServer) -> None:
    """About 100 KB of gzip inflating 1000x, streamed by the caller, cold then from cache.

    Each raw chunk the cache hands on is at most 16 KiB, so the caller's decoder never
    inflates more than about 16 MiB at once; 64 KiB chunks made that 64 MiB (140 MiB peak).
    """
    payload = bomb()
    assert 90_000 < len(payload) < 120_000
    headers = {"Content-Encoding": "gzip", "Cache-Control": "max-age=60"}
    server.route("/bomb", lambda seen: Reply(200, headers, payload))
    transport = cache()
    peaks = []
    async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
        for expected in ("miss", "hit"):
            tracemalloc.start()
            try:
                total = 0
                async with client.stream("GET", "/bomb") as response:
                    assert response.extensions["cache_status"] == expected
                    async for part in response.aiter_bytes():
                        total += len(part)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
            assert total == INFLATED
    assert transport.statistics().stores == 1
    # Measured: about 62 MiB (zlib grows its output buffer while inflating one 16 KiB
    # chunk to 16 MiB); with 64 KiB chunks the same read peaks near 145 MiB.
    assert max(peaks) < 96 * 1024 * 1024, [p // 2**20 for p in peaks]
