"""Per-key state stays bounded: breaker records (LRU of idle CLOSED ones) and buckets.

20,000 hosts go through each layer on ``MockTransport``; the layer keeps at most its
bound, never drops state that matters (an OPEN breaker, a partial bucket), and a key
in use keeps its record.
"""

from __future__ import annotations

import time

import httpx
import pytest

from httpx_resilient._breaker.config import CircuitBreakerConfig
from httpx_resilient._breaker.policy import NOT_ADMITTED, BreakerPolicy
from httpx_resilient._breaker.transport import CircuitBreakerTransport
from httpx_resilient._core.errors import CircuitOpenError, ConfigError, RateLimitExceeded
from httpx_resilient._core.snapshots import CircuitState
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._ratelimit.transport import RateLimitTransport
from httpx_resilient.testing import FakeClock

HOSTS = 20_000


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503 if request.url.host == "bad.test" else 200)


async def send(transport: httpx.AsyncBaseTransport, host: str) -> int:
    response = await transport.handle_async_request(httpx.Request("GET", f"http://{host}/"))
    await response.aread()
    return response.status_code


@pytest.mark.anyio
async def test_twenty_thousand_hosts_leave_at_most_max_keys_breaker_records() -> None:
    clock = FakeClock()
    config = CircuitBreakerConfig(failure_threshold=1, recovery_timeout=3600)
    transport = CircuitBreakerTransport(httpx.MockTransport(answer), config, clock=clock)
    assert config.max_keys == 10_000
    assert await send(transport, "bad.test") == 503  # opens its breaker
    for i in range(HOSTS):
        await send(transport, f"h{i}.test")
    states = transport.statistics().states
    assert len(states) <= config.max_keys
    assert states["bad.test"] is CircuitState.OPEN  # kept until it closes
    with pytest.raises(CircuitOpenError):
        await send(transport, "bad.test")
    assert f"h{HOSTS - 1}.test" in states
    assert "h0.test" not in states  # the least recently used went first


def test_a_key_in_use_keeps_its_record_and_an_idle_one_is_dropped() -> None:
    policy = BreakerPolicy(CircuitBreakerConfig(failure_threshold=3, max_keys=100))
    for key in ("hot", "cold"):
        for _ in range(2):
            policy.failure(key, policy.admit(key, 0.0), 0.0)
    for i in range(1_000):
        policy.admit_closed(f"k{i}")
        if i % 50 == 0:
            policy.release("hot", policy.admit_closed("hot"))
    hot = policy.record("hot")
    assert hot is not None
    assert hot.failures == 2  # not restarted: it stayed in use
    assert policy.record("cold") is None
    assert len(policy.states(0.0)) == 100
    policy.failure("hot", policy.admit("hot", 1.0), 1.0)
    assert policy.state("hot", 1.0) is CircuitState.OPEN


def test_open_and_half_open_records_are_kept_past_the_bound() -> None:
    policy = BreakerPolicy(
        CircuitBreakerConfig(failure_threshold=1, recovery_timeout=10, max_keys=10)
    )
    for i in range(10):
        policy.failure(f"open{i}", policy.admit(f"open{i}", 0.0), 0.0)
    probe = policy.admit("open0", 10.0)  # HALF_OPEN, probe in flight
    assert probe != NOT_ADMITTED
    for i in range(50):
        policy.admit_closed(f"new{i}")
    states = policy.states(5.0)
    assert all(f"open{i}" in states for i in range(10))
    probing = policy.record("open0")
    assert probing is not None
    assert probing.probes == 1
    policy.success("open0", probe, 10.0)
    assert policy.state("open0", 10.0) is CircuitState.CLOSED


def test_max_keys_is_validated() -> None:
    with pytest.raises(ConfigError) as raised:
        CircuitBreakerConfig(max_keys=0)
    assert raised.value.field == "CircuitBreakerConfig.max_keys"


@pytest.mark.anyio
async def test_full_buckets_are_dropped_and_their_count_stays_bounded() -> None:
    clock = FakeClock()
    transport = RateLimitTransport(
        httpx.MockTransport(answer), RateLimitConfig(10, 1.0), clock=clock
    )
    for i in range(4_000):
        await send(transport, f"h{i}.test")
        clock.advance(0.01)  # a bucket is full again 0.1 s (10 hosts) later
    assert len(transport.statistics().buckets) <= 1024 + 2 * 10


@pytest.mark.anyio
async def test_a_partial_bucket_is_never_dropped() -> None:
    """Dropping it would hand out a fresh burst: the limit must hold across 3,000 hosts."""
    clock = FakeClock()
    transport = RateLimitTransport(
        httpx.MockTransport(answer), RateLimitConfig(1, 3600, max_wait=0), clock=clock
    )
    assert await send(transport, "a.test") == 200
    for i in range(3_000):
        await send(transport, f"h{i}.test")
        clock.advance(0.001)
    with pytest.raises(RateLimitExceeded):
        await send(transport, "a.test")
    assert len(transport.statistics().buckets) == 3_001  # none full: none dropped


def test_admitting_a_new_key_costs_the_same_at_the_bound() -> None:
    """O(1) per call: a full table (every record open, so none can go) costs a new key
    about what an empty one does; a scan of the table would cost ~1,000x more."""

    def per_key(policy: BreakerPolicy, count: int) -> float:
        best = float("inf")
        for attempt in range(3):
            start = time.perf_counter()
            for i in range(count):
                policy.admit_closed(f"n{attempt}-{i}")
            best = min(best, time.perf_counter() - start)
        return best / count

    full = BreakerPolicy(CircuitBreakerConfig(failure_threshold=1, max_keys=10_000))
    for i in range(10_000):
        full.failure(f"open{i}", full.admit(f"open{i}", 0.0), 0.0)
    empty = BreakerPolicy(CircuitBreakerConfig(max_keys=10**9))
    assert per_key(full, 3_000) < 10 * per_key(empty, 3_000)
    states = full.states(0.0)
    assert sum(state is CircuitState.OPEN for state in states.values()) == 10_000  # all kept
