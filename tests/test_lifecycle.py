"""Bounded shutdown and reuse of ``ResilientTransport`` on real loopback sockets.

``aclose()`` waits at most ``close_grace`` for requests in flight (an open response
body counts), then cancels them with ``ClientClosedError``; a closed stack serves a
second client, as ``httpx.AsyncHTTPTransport`` does.
"""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from httpx_resilient import (
    ClientClosedError,
    ConfigError,
    QueueConfig,
    RateLimitConfig,
    ResilientTransport,
    RetryConfig,
)
from tests.loopback import LoopbackServer
from tests.rawserver import RawServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

GRACE = 0.3
PARTIAL_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst"


async def test_aclose_cancels_a_hanging_request_after_the_grace() -> None:
    transport = ResilientTransport(retry=RetryConfig(max_retries=0), close_grace=GRACE)
    outcome: list[BaseException] = []
    with RawServer() as raw:  # reads the request, never answers
        client = httpx.AsyncClient(transport=transport, timeout=30)

        async def call() -> None:
            try:
                await client.get(raw.url + "/hangs")
            except httpx.HTTPError as exc:
                outcome.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                while not raw.requests:
                    await anyio.sleep(0.01)
                started = time.monotonic()
                await client.aclose()
                elapsed = time.monotonic() - started
    assert GRACE - 0.05 <= elapsed < GRACE + 0.5
    assert [type(e) for e in outcome] == [ClientClosedError]
    assert "close_grace" in str(outcome[0])


async def test_aclose_returns_at_once_when_nothing_is_in_flight(server: LoopbackServer) -> None:
    transport = ResilientTransport(close_grace=30.0)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(server.url + "/")).status_code == 200
        started = time.monotonic()
    assert time.monotonic() - started < 0.5


async def test_an_open_body_delays_close_up_to_the_grace() -> None:
    transport = ResilientTransport(close_grace=GRACE)
    closed_at: list[float] = []
    with RawServer(PARTIAL_BODY) as raw:  # headers and 5 of 100 bytes, then silence
        client = httpx.AsyncClient(transport=transport, timeout=30)
        async with client.stream("GET", raw.url + "/partial") as response:
            assert response.status_code == 200
            chunks = response.aiter_raw()
            assert await chunks.__anext__() == b"first"
            started = time.monotonic()
            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:

                    async def close() -> None:
                        await client.aclose()
                        closed_at.append(time.monotonic() - started)

                    tg.start_soon(close)
                    await anyio.sleep(GRACE / 2)
                    assert closed_at == []  # the open body holds the close
                    with pytest.raises(ClientClosedError):
                        await chunks.__anext__()  # the read hangs until the grace ends
    assert GRACE - 0.05 <= closed_at[0] < GRACE + 0.5


async def test_an_idle_open_body_is_closed_after_the_grace() -> None:
    transport = ResilientTransport(close_grace=GRACE)
    with RawServer(PARTIAL_BODY) as raw:
        client = httpx.AsyncClient(transport=transport, timeout=30)
        async with client.stream("GET", raw.url + "/partial") as response:
            started = time.monotonic()
            with anyio.fail_after(5):
                await client.aclose()  # nobody reads: closed when the grace ends
            assert GRACE - 0.05 <= time.monotonic() - started < GRACE + 0.5
            with pytest.raises(ClientClosedError):
                await response.aread()


async def test_a_body_closed_by_its_reader_lets_close_finish_early() -> None:
    transport = ResilientTransport(close_grace=30.0)
    done: list[float] = []
    with RawServer(PARTIAL_BODY) as raw:
        client = httpx.AsyncClient(transport=transport, timeout=30)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def close() -> None:
                    await client.aclose()
                    done.append(time.monotonic())

                async with client.stream("GET", raw.url + "/partial"):
                    tg.start_soon(close)
                    await anyio.sleep(0.1)
                    assert done == []  # the close waits for the open body
                    left = time.monotonic()
                # leaving stream() closes the body: the close finishes now
    assert done
    assert done[0] - left < 0.5


async def test_queued_waiters_fail_at_once_while_calls_in_flight_get_the_grace() -> None:
    transport = ResilientTransport(queue=QueueConfig(max_concurrency=1), close_grace=GRACE)
    outcomes: dict[str, object] = {}
    with RawServer() as raw:
        client = httpx.AsyncClient(transport=transport, timeout=30)

        async def call(path: str) -> None:
            try:
                outcomes[path] = (await client.get(raw.url + path)).status_code
            except httpx.HTTPError as exc:
                outcomes[path] = (type(exc), time.monotonic() - started)

        started = time.monotonic()
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, "/running")
                while not raw.requests:
                    await anyio.sleep(0.01)
                tg.start_soon(call, "/queued")
                await anyio.sleep(0.05)
                started = time.monotonic()
                tg.start_soon(client.aclose)
    queued, running = outcomes["/queued"], outcomes["/running"]
    assert isinstance(queued, tuple)
    assert queued[0] is ClientClosedError
    assert queued[1] < 0.1
    assert isinstance(running, tuple)
    assert running[0] is ClientClosedError
    assert running[1] >= GRACE - 0.05


async def test_a_closed_stack_serves_a_second_client(server: LoopbackServer) -> None:
    transport = ResilientTransport(
        rate_limit=RateLimitConfig(max_requests=100),
        retry=True,
        queue=True,
        dedup=True,
        cache=True,
    )
    async with httpx.AsyncClient(transport=transport, base_url=server.url) as first:
        assert (await first.get("/one")).status_code == 200
    async with httpx.AsyncClient(transport=transport, base_url=server.url) as second:
        assert (await second.get("/two")).status_code == 200
    third = httpx.AsyncClient(transport=transport, base_url=server.url)  # never entered
    assert (await third.get("/three")).status_code == 200
    await third.aclose()
    assert [seen.path for seen in server.log] == ["/one", "/two", "/three"]
    assert transport.get_metrics().total_requests == 3  # one stack, one set of metrics


async def test_a_request_racing_the_close_is_refused() -> None:
    transport = ResilientTransport(close_grace=GRACE)
    with RawServer() as raw:
        client = httpx.AsyncClient(transport=transport, timeout=30)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def hang() -> None:
                    with pytest.raises(ClientClosedError):
                        await client.get(raw.url + "/hangs")

                tg.start_soon(hang)
                while not raw.requests:
                    await anyio.sleep(0.01)
                tg.start_soon(transport.aclose)
                await anyio.sleep(0.05)
                with pytest.raises(ClientClosedError, match="closing"):
                    await transport.handle_async_request(httpx.Request("GET", raw.url))


@pytest.mark.parametrize("grace", [-1, float("nan"), True, "5"])
def test_bad_close_grace_is_a_config_error(grace: object) -> None:
    with pytest.raises(ConfigError) as info:
        ResilientTransport(close_grace=grace)  # type: ignore[arg-type]
    assert info.value.field == "ResilientTransport.close_grace"


def test_a_sync_client_is_told_to_use_async_client() -> None:
    transport: object = ResilientTransport()
    client = httpx.Client(transport=transport)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="use it with httpx.AsyncClient"):
        client.get("http://127.0.0.1:1/")
    client.close()  # closing the unused client is not an error
    with (
        pytest.raises(TypeError, match="use it with httpx.AsyncClient"),
        httpx.Client(transport=transport),  # type: ignore[arg-type]
    ):
        pass
