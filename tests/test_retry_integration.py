"""RetryTransport over a real httpx.AsyncHTTPTransport and the loopback server."""

from __future__ import annotations

import itertools

import httpx
import pytest

from httpx_resilient._retry.config import RetryConfig
from httpx_resilient._retry.transport import RetryTransport
from httpx_resilient.testing import FakeClock
from tests.loopback import LoopbackServer, Reply, Reset, Seen

pytestmark = pytest.mark.anyio


def fails_then_succeeds(failures: int, failure: Reply | type[Exception]) -> object:
    counter = itertools.count()

    def route(seen: Seen) -> Reply:
        if next(counter) < failures:
            if isinstance(failure, Reply):
                return failure
            raise failure
        return Reply(200, {"Content-Type": "text/plain"}, b"finally")

    return route


def retrying_client(server: LoopbackServer, clock: FakeClock, **kw: object) -> httpx.AsyncClient:
    kw.setdefault("jitter", "none")
    kw.setdefault("budget", None)
    transport = RetryTransport(
        httpx.AsyncHTTPTransport(),
        RetryConfig(**kw),  # type: ignore[arg-type]
        clock=clock,
    )
    return httpx.AsyncClient(transport=transport, base_url=server.url)


async def test_two_503_then_success(server: LoopbackServer) -> None:
    server.route("/flaky", fails_then_succeeds(2, Reply(503, {}, b"busy")))  # type: ignore[arg-type]
    clock = FakeClock(autojump=True)
    async with retrying_client(server, clock) as client:
        response = await client.get("/flaky")
    assert response.status_code == 200
    assert response.text == "finally"
    assert response.extensions["attempts"] == 3
    assert server.hits("/flaky") == 3
    assert clock.now() == pytest.approx(0.5 + 1.0)


async def test_connection_drop_then_success(server: LoopbackServer) -> None:
    server.route("/drop", fails_then_succeeds(1, Reset))  # type: ignore[arg-type]
    clock = FakeClock(autojump=True)
    async with retrying_client(server, clock) as client:
        response = await client.get("/drop")
    assert response.status_code == 200
    assert response.extensions["attempts"] == 2
    assert server.hits("/drop") == 2


async def test_connection_drop_every_time_reraises_the_httpx_error(
    server: LoopbackServer,
) -> None:
    server.route("/down", fails_then_succeeds(100, Reset))  # type: ignore[arg-type]
    clock = FakeClock(autojump=True)
    async with retrying_client(server, clock, max_retries=2) as client:
        with pytest.raises(httpx.TransportError) as info:
            await client.get("/down")
    assert type(info.value).__module__.startswith("httpx")
    assert server.hits("/down") == 3


async def test_retry_after_from_the_server(server: LoopbackServer) -> None:
    server.route(
        "/later",
        fails_then_succeeds(1, Reply(429, {"Retry-After": "4"}, b"slow down")),  # type: ignore[arg-type]
    )
    clock = FakeClock(autojump=True)
    async with retrying_client(server, clock) as client:
        response = await client.get("/later")
    assert response.status_code == 200
    assert clock.now() == pytest.approx(4.0)


async def test_post_is_sent_once_without_opt_in(server: LoopbackServer) -> None:
    clock = FakeClock(autojump=True)
    async with retrying_client(server, clock) as client:
        response = await client.post("/status/503", content=b"order")
        keyed = await client.post(
            "/status/503", content=b"order", headers={"Idempotency-Key": "k-1"}
        )
    assert response.status_code == 503
    assert keyed.extensions["attempts"] == 4
    assert server.hits("/status/503") == 1 + 4


async def test_large_body_is_streamed_intact(server: LoopbackServer) -> None:
    clock = FakeClock(autojump=True)
    async with retrying_client(server, clock, max_buffer_bytes=1000) as client:
        small = await client.get("/bytes/500")
        large = await client.get("/bytes/300000")
        async with client.stream("GET", "/bytes/300000") as streamed:
            total = 0
            async for chunk in streamed.aiter_raw():
                total += len(chunk)
    assert small.content == b"x" * 500
    assert large.content == b"x" * 300000
    assert total == 300000


async def test_many_sequential_requests_reuse_connections(server: LoopbackServer) -> None:
    clock = FakeClock(autojump=True)
    async with retrying_client(server, clock) as client:
        for i in range(3):
            response = await client.get(f"/echo/{i}")
            assert response.text == f"GET /echo/{i}"
            assert response.extensions["attempts"] == 1
