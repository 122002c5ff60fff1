"""RateLimitTransport over a real HTTP/1.1 server on loopback (virtual time for waits)."""

from __future__ import annotations

import anyio
import httpx
import pytest

from httpx_resilient._core.errors import RateLimitExceeded
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._ratelimit.transport import RateLimitTransport
from httpx_resilient.testing import FakeClock
from tests._ratelimit_support import settle
from tests.loopback import LoopbackServer, Reply, Seen

pytestmark = pytest.mark.anyio


def client(server: LoopbackServer, clock: FakeClock, **config: object) -> httpx.AsyncClient:
    config.setdefault("max_requests", 100)
    transport = RateLimitTransport(
        httpx.AsyncHTTPTransport(),
        RateLimitConfig(**config),  # type: ignore[arg-type]
        clock=clock,
    )
    return httpx.AsyncClient(transport=transport, base_url=server.url)


def first_then_ok(status: int, headers: dict[str, str]) -> object:
    def route(seen: Seen) -> Reply:
        route.calls += 1  # type: ignore[attr-defined]
        if route.calls == 1:  # type: ignore[attr-defined]
            return Reply(status, headers, b"slow down")
        return Reply(200, {}, b"ok")

    route.calls = 0  # type: ignore[attr-defined]
    return route


@pytest.mark.parametrize(
    ("status", "headers", "pause"),
    [
        (429, {"Retry-After": "2"}, 2.0),
        (503, {"Retry-After": "3"}, 3.0),
        (429, {"Retry-After": "Tue, 14 Nov 2023 22:13:25 GMT"}, 5.0),  # wall start + 5 s
        (200, {"RateLimit": '"default";r=0;t=4', "RateLimit-Policy": '"default";q=5;w=60'}, 4.0),
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "6"}, 6.0),
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000007"}, 7.0),
        (429, {"Retry-After": "soon"}, 0.0),
        (429, {"Retry-After": "-5"}, 0.0),
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "never"}, 0.0),
    ],
)
async def test_server_hint_pauses_the_next_request(
    server: LoopbackServer, status: int, headers: dict[str, str], pause: float
) -> None:
    server.route("/api", first_then_ok(status, headers))  # type: ignore[arg-type]
    clock = FakeClock(autojump=True, wall_start=1_700_000_000.0)
    async with client(server, clock) as http:
        first = await http.get("/api")
        assert first.status_code == status
        second = await http.get("/api")
    assert second.status_code == 200
    assert second.text == "ok"
    assert second.extensions["rate_limit_wait"] == pytest.approx(pause)
    assert server.hits("/api") == 2


async def test_a_burst_beyond_capacity_waits_its_turn(server: LoopbackServer) -> None:
    clock = FakeClock(autojump=True)
    waits: list[float] = []
    async with client(server, clock, max_requests=10, burst=3) as http:

        async def get(i: int) -> None:
            response = await http.get(f"/echo/{i}")
            assert response.status_code == 200
            waits.append(response.extensions["rate_limit_wait"])

        async with anyio.create_task_group() as group:
            for i in range(6):
                group.start_soon(get, i)
    assert sorted(waits) == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])
    assert server.hits() == 6


async def test_max_wait_refuses_before_anything_reaches_the_server(server: LoopbackServer) -> None:
    async with client(server, FakeClock(), max_requests=1, max_wait=0.5) as http:
        await http.get("/one")
        with pytest.raises(RateLimitExceeded) as info:
            await http.get("/two")
    assert info.value.retry_after == pytest.approx(1.0)
    assert server.hits("/two") == 0


async def test_cancelled_waiters_leak_nothing_over_a_real_connection(
    server: LoopbackServer,
) -> None:
    clock = FakeClock()
    transport = RateLimitTransport(
        httpx.AsyncHTTPTransport(), RateLimitConfig(max_requests=1), clock=clock
    )
    async with httpx.AsyncClient(transport=transport, base_url=server.url) as http:
        await http.get("/first")
        async with anyio.create_task_group() as group:
            for i in range(3):
                group.start_soon(http.get, f"/waiting/{i}")
            await settle()
            assert transport.statistics().waiters == 3
            group.cancel_scope.cancel()
        stats = transport.statistics()
        assert stats.waiters == 0
        clock.advance(1.0)
        assert (await http.get("/after")).extensions["rate_limit_wait"] == 0.0
    assert [s.path for s in server.log] == ["/first", "/after"]
