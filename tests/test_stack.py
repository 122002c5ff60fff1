"""The assembled stack: layer order, lifecycle, and effects across layers."""

from __future__ import annotations

import anyio
import httpx
import pytest

from httpx_resilient import (
    CacheTransport,
    CircuitBreakerConfig,
    CircuitBreakerTransport,
    CircuitOpenError,
    ConfigError,
    DedupTransport,
    MetricsTransport,
    PriorityQueueTransport,
    QueueConfig,
    RateLimitConfig,
    RateLimitStatistics,
    RateLimitTransport,
    ResilientTransport,
    RetryConfig,
    RetryTransport,
)
from httpx_resilient.testing import FakeClock, ScriptedTransport

pytestmark = pytest.mark.anyio

SLOW_RATE = RateLimitConfig(max_requests=10, window_seconds=3600)  # no refill to speak of


def full_stack(
    inner: httpx.AsyncBaseTransport, clock: FakeClock, *, failure_threshold: int = 5
) -> ResilientTransport:
    return ResilientTransport(
        rate_limit=SLOW_RATE,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=failure_threshold),
        retry=RetryConfig(max_retries=3, jitter="none", base_delay=0.1),
        cache=True,
        dedup=True,
        queue=QueueConfig(max_concurrency=4),
        inner=inner,
        clock=clock,
    )


def tokens(transport: ResilientTransport) -> float:
    layer = transport.get_layer(RateLimitTransport)
    assert layer is not None
    stats = layer.statistics()
    assert isinstance(stats, RateLimitStatistics)
    return sum(bucket.tokens for bucket in stats.buckets)


def test_layers_are_in_the_documented_order() -> None:
    stack = full_stack(ScriptedTransport(), FakeClock())
    assert [type(layer) for layer in stack.layers] == [
        MetricsTransport,
        CacheTransport,
        DedupTransport,
        PriorityQueueTransport,
        RetryTransport,
        CircuitBreakerTransport,
        RateLimitTransport,
    ]


def test_unconfigured_layers_are_left_out() -> None:
    stack = ResilientTransport(retry=RetryConfig(), metrics=False, inner=ScriptedTransport())
    assert [type(layer) for layer in stack.layers] == [RetryTransport]
    assert ResilientTransport(metrics=False, inner=ScriptedTransport()).layers == ()


def test_true_means_default_config() -> None:
    stack = ResilientTransport(cache=True, dedup=True, metrics=False, inner=ScriptedTransport())
    assert [type(layer) for layer in stack.layers] == [CacheTransport, DedupTransport]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rate_limit": 10}, "ResilientTransport.rate_limit"),
        ({"rate_limit": [SLOW_RATE, "x"]}, "ResilientTransport.rate_limit"),
        ({"retry": RateLimitConfig(1)}, "ResilientTransport.retry"),
        ({"cache": "yes"}, "ResilientTransport.cache"),
        ({"queue": 5}, "ResilientTransport.queue"),
        ({"inner": object()}, "ResilientTransport.inner"),
    ],
)
def test_bad_arguments_raise_config_error_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        ResilientTransport(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


async def test_lifecycle_is_forwarded_once_and_a_closed_transport_reopens() -> None:
    inner = ScriptedTransport(lambda request: httpx.Response(200))
    transport = full_stack(inner, FakeClock(autojump=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        assert inner.entered == 1
        assert (await client.get("/")).status_code == 200
    assert inner.exited == 1
    assert inner.closed == 1
    # As httpx.AsyncHTTPTransport: the next request (from another client) reopens it.
    response = await transport.handle_async_request(httpx.Request("GET", "http://api/"))
    assert response.status_code == 200
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        assert inner.entered == 2
        assert (await client.get("/")).status_code == 200
    assert inner.exited == 2


async def test_fresh_cache_hit_spends_no_token_and_no_network() -> None:
    inner = ScriptedTransport(
        lambda request: httpx.Response(200, headers={"Cache-Control": "max-age=60"}, text="hi")
    )
    transport = full_stack(inner, FakeClock(autojump=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        first = await client.get("/thing")
        spent = tokens(transport)
        second = await client.get("/thing")
    assert first.text == second.text == "hi"
    assert second.extensions.get("from_cache") is True
    assert inner.calls == 1
    assert tokens(transport) == pytest.approx(spent)
    metrics = transport.get_metrics()
    assert metrics.cache_hits == 1
    assert metrics.total_requests == 2
    assert metrics.successful_requests == 2


async def test_each_retry_attempt_pays_a_token() -> None:
    statuses = iter([503, 503, 200])
    inner = ScriptedTransport(lambda request: httpx.Response(next(statuses)))
    transport = full_stack(inner, FakeClock(autojump=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/flaky")
    assert response.status_code == 200
    assert response.extensions["attempts"] == 3
    assert tokens(transport) == pytest.approx(10 - 3, abs=0.01)
    assert transport.get_metrics().retry_count == 2


async def test_circuit_open_refusal_is_not_retried() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    inner = ScriptedTransport(refuse)
    transport = full_stack(inner, FakeClock(autojump=True), failure_threshold=1)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        # The first attempt fails and opens the breaker (threshold 1); the retry is
        # refused by the breaker, so the retry layer re-raises the error it had.
        with pytest.raises(httpx.ConnectError):
            await client.get("/down")
        assert inner.calls == 1
        with pytest.raises(CircuitOpenError) as info:
            await client.get("/down")
    assert inner.calls == 1
    assert info.value.retry_after is not None
    assert info.value.retry_after > 0
    metrics = transport.get_metrics()
    assert metrics.failed_requests == 1
    assert metrics.rejected_requests == 1
    assert metrics.circuit_breaker_opens == 1


async def test_concurrent_identical_gets_share_one_attempt_and_one_token() -> None:
    inner = ScriptedTransport()
    transport = full_stack(inner, FakeClock(autojump=True))
    bodies: list[bytes] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:

        async def get() -> None:
            bodies.append((await client.get("/same")).content)

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(get)
            pending = await inner.next_request()
            await anyio.wait_all_tasks_blocked()
            pending.respond(200, content=b"shared")
    assert bodies == [b"shared"] * 10
    assert inner.calls == 1
    assert tokens(transport) == pytest.approx(9, abs=0.01)
    assert transport.get_metrics().dedup_shared == 9


async def test_config_timeout_budget_covers_the_whole_request() -> None:
    clock = FakeClock(autojump=True)
    inner = ScriptedTransport(lambda request: httpx.Response(503))
    transport = ResilientTransport(
        retry=RetryConfig(max_retries=10, base_delay=1.0, jitter="none", timeout_budget=5.0),
        inner=inner,
        clock=clock,
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/")
    # Delays 1, 2 fit in 5 s; the next (4) would pass the deadline: the last 503 comes back.
    assert response.status_code == 503
    assert inner.calls == 3
    assert clock.now() <= 5.0
