"""CircuitBreakerTransport over a real httpx.AsyncHTTPTransport and the loopback server."""

from __future__ import annotations

import socket

import anyio
import httpx
import pytest

from httpx_resilient._breaker.config import CircuitBreakerConfig
from httpx_resilient._breaker.transport import CircuitBreakerTransport
from httpx_resilient._core.errors import CircuitOpenError
from httpx_resilient._core.snapshots import CircuitState
from httpx_resilient.testing import FakeClock
from tests.loopback import LoopbackServer, Reply, Seen

pytestmark = pytest.mark.anyio


def client_for(
    server: LoopbackServer, config: CircuitBreakerConfig, clock: FakeClock | None = None
) -> tuple[httpx.AsyncClient, CircuitBreakerTransport]:
    breaker = CircuitBreakerTransport(httpx.AsyncHTTPTransport(), config, clock=clock)
    return httpx.AsyncClient(base_url=server.url, transport=breaker), breaker


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_5xx_opens_then_fails_fast_then_recovers(server: LoopbackServer) -> None:
    healthy = False

    def flaky(seen: Seen) -> Reply:
        return Reply(200, body=b"ok") if healthy else Reply(500, body=b"down")

    server.route("/flaky", flaky)
    clock = FakeClock()
    config = CircuitBreakerConfig(failure_threshold=3, recovery_timeout=10.0)
    client, breaker = client_for(server, config, clock)
    key = server.url.removeprefix("http://")
    async with client:
        for _ in range(3):
            assert (await client.get("/flaky")).status_code == 500
        assert breaker.state(key) is CircuitState.OPEN
        for _ in range(5):
            with pytest.raises(CircuitOpenError) as refused:
                await client.get("/flaky")
        assert refused.value.retry_after == 10.0
        assert server.hits("/flaky") == 3  # nothing reached the server while open
        healthy = True
        clock.advance(10.0)
        response = await client.get("/flaky")
        assert (response.status_code, response.content) == (200, b"ok")
        assert breaker.state(key) is CircuitState.CLOSED
        assert server.hits("/flaky") == 4
    stats = breaker.statistics()
    assert (stats.opens, stats.rejected, stats.calls_in_flight) == (1, 5, 0)


async def test_4xx_and_429_do_not_open(server: LoopbackServer) -> None:
    client, breaker = client_for(server, CircuitBreakerConfig(failure_threshold=1))
    async with client:
        for path in ("/status/404", "/status/429", "/status/400"):
            assert (await client.get(path)).status_code == int(path[-3:])
    assert server.hits() == 3
    assert set(breaker.statistics().states.values()) == {CircuitState.CLOSED}


async def test_refused_connection_is_a_failure_per_host(server: LoopbackServer) -> None:
    port = closed_port()
    client, breaker = client_for(server, CircuitBreakerConfig(failure_threshold=2))
    async with client:
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/")
        with pytest.raises(CircuitOpenError, match=f"127.0.0.1:{port}"):
            await client.get(f"http://127.0.0.1:{port}/")
        # the server's own port is another key: unaffected
        assert (await client.get("/hello")).status_code == 200
    assert breaker.state(f"127.0.0.1:{port}") is CircuitState.OPEN
    assert server.hits("/hello") == 1


async def test_read_timeout_is_a_failure(server: LoopbackServer) -> None:
    server.route("/slow", lambda seen: Reply(200, body=b"late", delay=0.5))
    breaker = CircuitBreakerTransport(
        httpx.AsyncHTTPTransport(), CircuitBreakerConfig(failure_threshold=1)
    )
    timeout = httpx.Timeout(5.0, read=0.03)
    async with httpx.AsyncClient(base_url=server.url, transport=breaker, timeout=timeout) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/slow")
        with pytest.raises(CircuitOpenError):
            await c.get("/slow")
    assert server.hits("/slow") == 1


async def test_cancelled_real_probe_frees_its_slot(server: LoopbackServer) -> None:
    server.route("/slow", lambda seen: Reply(200, delay=0.2))
    clock = FakeClock()
    client, breaker = client_for(server, CircuitBreakerConfig(recovery_timeout=1.0), clock)
    key = server.url.removeprefix("http://")
    async with client:
        breaker.force_open(key)
        clock.advance(1.0)
        with anyio.move_on_after(0.03) as scope:  # cancelled while connected, waiting
            await client.get("/slow")
        assert scope.cancelled_caught
        stats = breaker.statistics()
        assert (stats.probes_in_flight, stats.calls_in_flight) == (0, 0)
        assert stats.states == {key: CircuitState.HALF_OPEN}
        assert (await client.get("/fast")).status_code == 200  # the next probe goes
    assert breaker.state(key) is CircuitState.CLOSED
