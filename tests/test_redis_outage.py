"""A hung Redis (SIGSTOP) costs one timeout window per backoff period, then recovers.

Each test starts its own ``redis-server`` on a free port (the shared one on 6379 is
never frozen), sends requests one after another through a rate limiter, a breaker and a
cache that all use one ``RedisBackend``, freezes the server, and measures each request's
latency on the wall clock (the timeouts are real socket timeouts, so is the backoff).
"""

from __future__ import annotations

import gc
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from httpx_resilient._breaker.config import CircuitBreakerConfig
from httpx_resilient._cache.config import CacheConfig
from httpx_resilient._core.errors import ConfigError
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._redis.backend import RedisBackend
from httpx_resilient._redis.outage import Outage
from httpx_resilient._redis.storage import RedisStorage
from httpx_resilient._stack import ResilientTransport
from httpx_resilient.testing import FakeClock

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.redis,
    # coredis 6.9 leaves the memory streams of a connection that failed unclosed.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

TIMEOUT = 0.2  # the client's operation timeout (stream_timeout in the URL)
BACKOFF = 0.6  # seconds Redis is skipped after a failure
FROZEN = 1.5  # seconds the server stays frozen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def own_redis() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A redis-server of this test's own, on a free port; resumed and stopped after."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: cannot freeze a Redis of our own")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    process = subprocess.Popen([*args, "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5.0
        while not ping(port):
            assert process.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server did not answer within 5 s"
            time.sleep(0.02)
        yield process, port
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=5)
        gc.collect()  # coredis's unclosed streams: collected here, not in a later test


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="ok")


async def timed(client: httpx.AsyncClient, url: str) -> float:
    start = time.perf_counter()
    response = await client.get(url)
    assert response.status_code == 200
    return time.perf_counter() - start


async def test_a_frozen_redis_costs_one_timeout_per_backoff_period(
    own_redis: tuple[subprocess.Popen[bytes], int], caplog: pytest.LogCaptureFixture
) -> None:
    process, port = own_redis
    caplog.set_level(logging.INFO, logger="httpx_resilient")
    prefix = f"t:{uuid.uuid4().hex}:"
    url = f"redis://127.0.0.1:{port}/0?stream_timeout={TIMEOUT}&connect_timeout={TIMEOUT}"
    backend = RedisBackend(url, prefix=prefix, backoff=BACKOFF)
    storage = RedisStorage(backend, prefix=f"{prefix}cache:")
    transport = ResilientTransport(
        rate_limit=RateLimitConfig(10_000, 1.0, backend=backend),
        circuit_breaker=CircuitBreakerConfig(backend=backend),
        cache=CacheConfig(storage=storage),
        inner=httpx.MockTransport(ok),
    )
    async with httpx.AsyncClient(transport=transport) as client:
        warm = [await timed(client, "http://a.test/") for _ in range(5)]
        assert max(warm[1:]) < TIMEOUT / 2  # Redis answers: no timeout anywhere
        assert backend.statistics().available

        os.kill(process.pid, signal.SIGSTOP)
        frozen: list[float] = []
        start = time.perf_counter()
        while time.perf_counter() - start < FROZEN:
            frozen.append(await timed(client, "http://a.test/"))
            await anyio.sleep(0.005)
        elapsed = time.perf_counter() - start

        os.kill(process.pid, signal.SIGCONT)
        resumed = time.perf_counter()
        after: list[float] = []
        while not backend.statistics().available:
            assert time.perf_counter() - resumed < BACKOFF + 4 * TIMEOUT + 1.0, "no recovery"
            after.append(await timed(client, "http://a.test/"))
            await anyio.sleep(0.005)
        recovery = time.perf_counter() - resumed
        back = [await timed(client, "http://a.test/") for _ in range(5)]

    slow = [latency for latency in frozen if latency > TIMEOUT / 2]
    fast = sorted(latency for latency in frozen if latency <= TIMEOUT / 2)
    # A frozen Redis costs one timeout window per backoff period: the first request
    # after the freeze, then one probe per period (a period starts after its timeout).
    periods = 1 + math.ceil(elapsed / (BACKOFF + TIMEOUT))
    assert 1 <= len(slow) <= periods, (slow, elapsed)
    # One window, not one per adapter: limiter, breaker and cache share the outage.
    assert max(slow) < 2 * TIMEOUT, slow
    # Meanwhile requests cost what a local bucket costs.
    assert len(fast) >= 20
    assert fast[len(fast) // 2] < 0.02, fast
    assert sum(frozen) <= len(slow) * 2 * TIMEOUT + 0.02 * len(fast)
    stats = backend.statistics()
    assert stats.outages == 1
    assert stats.errors <= periods  # one failed call per period, whoever made it
    assert recovery <= BACKOFF + 2 * TIMEOUT + 0.5, recovery
    assert max(back) < TIMEOUT / 2
    # One WARNING in all: the cache saw misses, not a storage failure per request.
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "unreachable" in warnings[0]
    print(
        f"\nfrozen {elapsed:.2f} s: {len(frozen)} requests, {len(slow)} slow "
        f"({', '.join(f'{s * 1000:.0f}' for s in slow)} ms), median fast "
        f"{fast[len(fast) // 2] * 1e3:.2f} ms; recovery {recovery:.2f} s after SIGCONT "
        f"({len(after)} requests); errors {stats.errors}"
    )


async def test_a_killed_redis_still_fails_open_quickly(
    own_redis: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = own_redis
    url = f"redis://127.0.0.1:{port}/0?stream_timeout={TIMEOUT}&connect_timeout={TIMEOUT}"
    prefix = f"t:{uuid.uuid4().hex}:"
    backend = RedisBackend(url, prefix=prefix, backoff=BACKOFF)
    transport = ResilientTransport(
        rate_limit=RateLimitConfig(10_000, 1.0, backend=backend),
        circuit_breaker=CircuitBreakerConfig(backend=backend),
        cache=CacheConfig(storage=RedisStorage(backend, prefix=f"{prefix}cache:")),
        inner=httpx.MockTransport(ok),
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await timed(client, "http://a.test/")
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=5)
        latencies = [await timed(client, "http://a.test/") for _ in range(20)]
    assert max(latencies) < TIMEOUT, latencies  # refused at once: never a timeout
    assert not backend.statistics().available
    assert backend.statistics().errors <= 2


def test_the_backoff_runs_from_the_failure_and_one_caller_probes() -> None:
    """Sans-IO: the period starts when the failure is seen, after the timeout."""
    clock = FakeClock()
    outage = Outage(backoff=5.0, timeout=1.0, clock=clock, description="redis://x")
    started = outage.started()
    assert not outage.skip()
    clock.advance(1.0)  # the call timed out
    outage.failed(TimeoutError("timed out"), "timed out", "rate limit")
    clock.advance(4.9)
    assert outage.skip()  # 5.9 s after the call started: still within the period
    clock.advance(0.1)
    assert not outage.skip()  # this caller probes...
    assert outage.skip()  # ...and the others wait for it
    clock.advance(1.5)
    assert not outage.skip()  # a probe that never reported frees the turn
    outage.succeeded(started)  # an answer to a call older than the failure
    assert outage.down
    outage.succeeded(outage.started())
    assert not outage.down
    assert not outage.skip()
    assert (outage.errors, outage.outages) == (1, 1)


def test_backoff_must_be_longer_than_the_timeout() -> None:
    url = "redis://127.0.0.1:6379/0?stream_timeout=2"
    with pytest.raises(ConfigError) as raised:
        RedisBackend(url, backoff=2.0)
    assert raised.value.field == "RedisBackend.backoff"
    with pytest.raises(ConfigError) as raised:
        RedisStorage(url, backoff=0.5)
    assert raised.value.field == "RedisStorage.backoff"
    assert RedisBackend(url).outage.backoff == 10.0  # five timeouts when over 5 s
    assert RedisBackend("redis://127.0.0.1:6379/0").outage.backoff == 5.0
    backend: Any = RedisBackend(url, backoff=3.0)
    assert RedisStorage(backend).connection.outage is backend.outage


def test_the_timeout_is_read_from_the_client(caplog: pytest.LogCaptureFixture) -> None:
    coredis = pytest.importorskip("coredis")
    own = coredis.Redis(host="127.0.0.1", port=6379, stream_timeout=2.5)
    assert RedisBackend(own).outage.timeout == 2.5
    assert RedisBackend(own).outage.backoff == 12.5
    with pytest.raises(ConfigError):
        RedisBackend(own, backoff=2.0)
    shared: Any = RedisBackend(own)
    assert RedisStorage(own).connection.outage is shared.outage  # one client, one state
    caplog.set_level(logging.WARNING, logger="httpx_resilient")
    RedisBackend(coredis.Redis(host="127.0.0.1", port=6379))
    assert any("no stream_timeout" in r.getMessage() for r in caplog.records)
