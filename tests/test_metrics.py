"""MetricsTransport: outcome accounting, response-time histogram, chain walk, alerts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import random
import sys
import tracemalloc

import anyio
import httpx
import pytest

from httpx_resilient._core.errors import (
    CircuitOpenError,
    ClientClosedError,
    ConfigError,
    QueueFullError,
    QueueTimeoutError,
    RateLimitExceeded,
    TimeoutBudgetExceeded,
)
from httpx_resilient._core.layer import Layer
from httpx_resilient._core.snapshots import (
    BreakerStatistics,
    CacheStatistics,
    CircuitState,
    DedupStatistics,
    QueueStatistics,
    RateLimitStatistics,
    RetryStatistics,
)
from httpx_resilient._metrics.config import AlertThresholds
from httpx_resilient._metrics.health import HealthState, HealthStatus
from httpx_resilient._metrics.histogram import BUCKETS, SUB_BUCKETS, LatencyHistogram
from httpx_resilient._metrics.transport import ClientMetrics, MetricsTransport, collect_metrics
from httpx_resilient._queue.config import QueueConfig
from httpx_resilient._queue.transport import PriorityQueueTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport
from tests.loopback import LoopbackServer

pytestmark = pytest.mark.anyio

DESIGN_FIELDS = (
    "total_requests",
    "successful_requests",
    "failed_requests",
    "rejected_requests",
    "cancelled_requests",
    "success_rate",
    "error_rate",
    "average_response_time",
    "p50_response_time",
    "p95_response_time",
    "p99_response_time",
    "retry_count",
    "circuit_breaker_opens",
    "circuit_states",
    "cache_hits",
    "cache_misses",
    "dedup_shared",
    "queue_size",
    "rate_limit_waits",
    "active_requests",
    "concurrency_limit",
)


class Snapshot(Layer):
    """A pass-through layer whose statistics() is whatever the test sets."""

    def __init__(self, inner: httpx.AsyncBaseTransport, stats: object) -> None:
        super().__init__(inner)
        self.stats = stats

    def statistics(self) -> object:
        return self.stats

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)


def invariant(m: ClientMetrics) -> bool:
    return m.total_requests == (
        m.successful_requests
        + m.failed_requests
        + m.rejected_requests
        + m.cancelled_requests
        + m.active_requests
    )


# --- the histogram -------------------------------------------------------------------------


def test_histogram_percentiles_within_bucket_error() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(-3.0, 1.2) for _ in range(20_000)]  # ~50 ms median
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    ordered = sorted(values)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        exact = ordered[max(0, int(q * len(values) + 0.999999) - 1)]
        assert h.percentile(q) == pytest.approx(exact, rel=1 / SUB_BUCKETS)
    assert h.average == pytest.approx(sum(values) / len(values))
    assert h.percentile(1.0) == max(values)
    assert h.percentile(0.0) >= min(values)


def test_histogram_edges_and_empty() -> None:
    h = LatencyHistogram()
    assert h.percentiles((0.5, 0.99)) == [0.0, 0.0]
    assert h.average == 0.0
    for v in (0.0, -1.0, 1e-9, 1e9):
        h.record(v)
    assert h.count == 4
    assert h.percentile(0.25) == 0.0
    assert h.percentile(1.0) == 1e9  # clamped to the exact maximum, never a bucket edge
    assert h.cumulative([1e-6, 1.0, 1e12]) == [3, 3, 4]


def test_histogram_memory_is_bounded() -> None:
    h = LatencyHistogram()
    size = sys.getsizeof(h.counts)
    for i in range(100_000):
        h.record((i % 5000) / 1000)
    assert len(h.counts) == BUCKETS
    assert sys.getsizeof(h.counts) == size
    assert not hasattr(h, "__dict__")
    assert h.count == 100_000
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(5_000):
        h.record(i / 1000)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert growth < 32 * 1024  # a few int objects at most, never one per recording


# --- outcome accounting --------------------------------------------------------------------


def test_client_metrics_has_exactly_the_design_fields() -> None:
    assert tuple(f.name for f in dataclasses.fields(ClientMetrics)) == tuple(DESIGN_FIELDS)
    m = ClientMetrics(circuit_states={"a": CircuitState.OPEN})
    assert json.loads(json.dumps(m.as_dict()))["circuit_states"] == {"a": "open"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.total_requests = 3  # type: ignore[misc]


async def test_mixed_workload_with_faults_keeps_the_invariant() -> None:
    clock = FakeClock()
    faults: dict[str, BaseException] = {
        "/connect": httpx.ConnectError("refused"),
        "/read": httpx.ReadTimeout("slow"),
        "/budget": TimeoutBudgetExceeded("budget"),
        "/bug": RuntimeError("bug"),
        "/ratelimited": RateLimitExceeded("no token", retry_after=1.0),
        "/open": CircuitOpenError("open", retry_after=3.0),
        "/full": QueueFullError("full"),
        "/qtimeout": QueueTimeoutError("waited"),
        "/closed": ClientClosedError("closed"),
    }
    statuses = {"/ok": 200, "/created": 201, "/missing": 404, "/500": 500, "/503": 503, "/429": 429}

    async def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/hang":
            await anyio.sleep_forever()
        if path in faults:
            raise faults[path]
        await clock.sleep(0.01)
        return httpx.Response(statuses[path])

    metrics = MetricsTransport(ScriptedTransport(handler), clock=clock)
    clock.autojump = True

    async def call(path: str) -> None:
        with contextlib.suppress(Exception):
            await metrics.handle_async_request(httpx.Request("GET", f"http://t{path}"))

    async with anyio.create_task_group() as tg:
        for path in [*faults, *statuses, *statuses]:
            tg.start_soon(call, path)
        hanging: list[anyio.CancelScope] = []

        async def hang() -> None:
            with anyio.CancelScope() as scope:
                hanging.append(scope)
                await call("/hang")

        tg.start_soon(hang)
        tg.start_soon(hang)
        await anyio.wait_all_tasks_blocked()
        m = metrics.get_metrics()
        assert m.active_requests == 2
        assert invariant(m)
        for scope in hanging:
            scope.cancel()

    m = metrics.get_metrics()
    assert m.total_requests == len(faults) + 2 * len(statuses) + 2
    assert m.successful_requests == 2 * 3  # 200, 201, 404
    assert m.failed_requests == 4 + 2 * 3  # connect, read, budget, bug; 500, 503, 429
    assert m.rejected_requests == 5
    assert m.cancelled_requests == 2
    assert m.active_requests == 0
    assert invariant(m)
    done = m.successful_requests + m.failed_requests + m.rejected_requests
    assert m.success_rate == pytest.approx(100 * 6 / done)
    assert m.error_rate == pytest.approx(100 * 10 / done)
    # response time counts only requests that got a response
    assert metrics.histogram.count == 2 * len(statuses)
    assert m.p50_response_time == pytest.approx(0.01, rel=1 / SUB_BUCKETS)
    assert m.average_response_time == pytest.approx(0.01)


async def test_percentiles_follow_the_clock() -> None:
    clock = FakeClock(autojump=True)

    async def handler(request: httpx.Request) -> httpx.Response:
        await clock.sleep(int(request.url.path.strip("/")) / 1000)
        return httpx.Response(200)

    metrics = MetricsTransport(ScriptedTransport(handler), clock=clock)
    for ms in range(1, 101):
        await metrics.handle_async_request(httpx.Request("GET", f"http://t/{ms}"))
    m = metrics.get_metrics()
    assert m.p50_response_time == pytest.approx(0.050, rel=1 / SUB_BUCKETS)
    assert m.p95_response_time == pytest.approx(0.095, rel=1 / SUB_BUCKETS)
    assert m.p99_response_time == pytest.approx(0.099, rel=1 / SUB_BUCKETS)
    assert m.average_response_time == pytest.approx(0.0505)
    assert m.success_rate == 100.0
    assert m.error_rate == 0.0


async def test_empty_metrics_are_healthy_defaults() -> None:
    metrics = MetricsTransport(ScriptedTransport(), clock=FakeClock())
    m = metrics.get_metrics()
    assert (m.total_requests, m.success_rate, m.error_rate, m.p99_response_time) == (0, 100, 0, 0)
    assert metrics.statistics() == m
    assert metrics.assess_health().status is HealthState.HEALTHY


# --- counters of the layers below ----------------------------------------------------------


def hand_built_chain(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    t: httpx.AsyncBaseTransport = inner
    for stats in (
        RateLimitStatistics(waits=4),
        BreakerStatistics(opens=2, states={"a": CircuitState.OPEN, "b": CircuitState.CLOSED}),
        BreakerStatistics(opens=1, states={"a": CircuitState.CLOSED, "c": CircuitState.HALF_OPEN}),
        RetryStatistics(retries=7, attempts=20),
        QueueStatistics(waiting=3, active=10),
        DedupStatistics(shared=5),
        CacheStatistics(hits=11, misses=13),
        object(),  # a layer with unknown statistics is skipped
    ):
        t = Snapshot(t, stats)
    return t


def test_layer_counters_are_read_by_walking_the_chain() -> None:
    metrics = MetricsTransport(hand_built_chain(ScriptedTransport()), clock=FakeClock())
    m = metrics.get_metrics()
    assert (m.retry_count, m.circuit_breaker_opens, m.cache_hits, m.cache_misses) == (7, 3, 11, 13)
    assert (m.dedup_shared, m.queue_size, m.rate_limit_waits) == (5, 3, 4)
    assert m.circuit_states == {
        "a": CircuitState.OPEN,  # the worst state wins across breakers
        "b": CircuitState.CLOSED,
        "c": CircuitState.HALF_OPEN,
    }


def test_collect_metrics_without_and_below_a_metrics_layer() -> None:
    chain = hand_built_chain(ScriptedTransport())
    m = collect_metrics(chain)
    assert m.total_requests == 0
    assert m.retry_count == 7
    assert collect_metrics(ScriptedTransport()) == ClientMetrics()
    metrics = MetricsTransport(chain, clock=FakeClock())
    metrics._started = metrics._succeeded = 2
    wrapped = Snapshot(metrics, CacheStatistics(hits=100))
    m = collect_metrics(wrapped)
    assert m.total_requests == 2
    assert m.cache_hits == 111  # every layer from the top down is counted


async def test_queue_refusals_and_close_count_as_rejected() -> None:
    inner = ScriptedTransport()
    clock = FakeClock()
    queue = PriorityQueueTransport(
        inner, QueueConfig(max_concurrency=1, max_queue_size=1), clock=clock
    )
    metrics = MetricsTransport(queue, clock=clock)

    async def call() -> None:
        with contextlib.suppress(QueueFullError, ClientClosedError):
            await metrics.handle_async_request(httpx.Request("GET", "http://t/"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        blocker = await inner.next_request()
        tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        assert metrics.get_metrics().queue_size == 1
        await call()  # queue full
        tg.start_soon(metrics.aclose)
        await anyio.wait_all_tasks_blocked()  # the waiter fails with ClientClosedError
        blocker.respond(200, content=b"")
    await call()  # after close
    m = metrics.get_metrics()
    assert (m.successful_requests, m.rejected_requests, m.active_requests) == (1, 3, 0)
    assert invariant(m)
    assert m.queue_size == 0


# --- alerts ----------------------------------------------------------------------------------


async def test_alert_hook_fires_once_per_crossing(caplog: pytest.LogCaptureFixture) -> None:
    statuses: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(statuses.pop(0))

    alerts: list[HealthStatus] = []
    metrics = MetricsTransport(
        ScriptedTransport(handler),
        clock=FakeClock(),
        thresholds=AlertThresholds(min_success_rate=80.0, max_error_rate=50.0, min_requests=1),
        on_alert=alerts.append,
        alert_interval=0.0,
    )

    async def send(*codes: int) -> None:
        statuses.extend(codes)
        for _ in codes:
            await metrics.handle_async_request(httpx.Request("GET", "http://t/"))

    caplog.set_level(logging.INFO, logger="httpx_resilient")
    await send(*[200] * 8)
    assert alerts == []
    await send(500, 500, 500)  # 8/11 = 72.7 % < 80 %: crossed once
    assert len(alerts) == 1
    assert alerts[0].status is HealthState.DEGRADED
    assert alerts[0].checks == {"success_rate"}
    await send(500, 500, 500, 500, 500, 500)  # 8/17: still the same crossing... plus error rate
    assert [a.checks for a in alerts] == [{"success_rate"}, {"success_rate", "error_rate"}]
    await send(500, 500)
    assert len(alerts) == 2  # no alert per request
    await send(*[200] * 60)  # error rate clears at 11/22, success rate at 44/55
    assert [a.checks for a in alerts[2:]] == [{"success_rate"}, set()]
    assert alerts[-1].status is HealthState.HEALTHY
    records = [r for r in caplog.records if getattr(r, "event", "").startswith("health")]
    levels = [r.levelno for r in records]
    assert levels == [logging.WARNING, logging.WARNING, logging.INFO, logging.INFO]
    assert records[0].health_status == "degraded"  # type: ignore[attr-defined]
    assert records[0].crossed == ["success_rate"]  # type: ignore[attr-defined]
    assert records[2].cleared == ["error_rate"]  # type: ignore[attr-defined]
    assert records[3].cleared == ["success_rate"]  # type: ignore[attr-defined]


async def test_alerts_are_checked_at_most_once_per_interval() -> None:
    clock = FakeClock()
    alerts: list[HealthStatus] = []
    metrics = MetricsTransport(
        ScriptedTransport(lambda r: httpx.Response(503)),
        clock=clock,
        thresholds=AlertThresholds(min_requests=1),
        on_alert=alerts.append,
        alert_interval=5.0,
    )
    await metrics.handle_async_request(httpx.Request("GET", "http://t/"))
    assert len(alerts) == 1  # the first request is judged at once
    alerts.clear()
    metrics._alerts.crossed = frozenset()  # forget, to see when the next check runs
    for _ in range(10):
        await metrics.handle_async_request(httpx.Request("GET", "http://t/"))
    assert alerts == []
    clock.advance(5.0)
    await metrics.handle_async_request(httpx.Request("GET", "http://t/"))
    assert len(alerts) == 1


async def test_a_failing_alert_hook_never_breaks_requests(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def hook(status: HealthStatus) -> None:
        raise ValueError("hook bug")

    metrics = MetricsTransport(
        ScriptedTransport(lambda r: httpx.Response(500)),
        clock=FakeClock(),
        thresholds=AlertThresholds(min_requests=1),
        on_alert=hook,
        alert_interval=0.0,
    )
    response = await metrics.handle_async_request(httpx.Request("GET", "http://t/"))
    assert response.status_code == 500
    assert any(getattr(r, "event", None) == "alert_hook_error" for r in caplog.records)


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        MetricsTransport(ScriptedTransport(), alert_interval=-1)
    assert info.value.field == "MetricsTransport.alert_interval"
    with pytest.raises(ConfigError):
        MetricsTransport(ScriptedTransport(), thresholds={"min_success_rate": 1})  # type: ignore[arg-type]


async def test_a_broken_layer_below_never_fails_requests(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Snapshot):
        def statistics(self) -> object:
            raise RuntimeError("statistics bug")

    metrics = MetricsTransport(
        Broken(ScriptedTransport(lambda r: httpx.Response(200)), None), clock=FakeClock()
    )
    response = await metrics.handle_async_request(httpx.Request("GET", "http://t/"))
    assert response.status_code == 200
    assert any(getattr(r, "event", None) == "health_check_error" for r in caplog.records)


# --- against a real server -------------------------------------------------------------------


@pytest.mark.integration
async def test_metrics_against_a_real_server(server: LoopbackServer) -> None:
    metrics = MetricsTransport(httpx.AsyncHTTPTransport())
    async with httpx.AsyncClient(transport=metrics, base_url=server.url) as client:
        for path in ("/status/200", "/status/200", "/status/404", "/status/500", "/status/429"):
            await client.get(path)
    m = metrics.get_metrics()
    assert (m.total_requests, m.successful_requests, m.failed_requests) == (5, 3, 2)
    assert 0 < m.p50_response_time <= m.p99_response_time < 5.0
    assert invariant(m)
