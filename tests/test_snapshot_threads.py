"""Snapshots from any thread, at any time: exporter threads and after the loop ended.

``get_metrics()``, ``assess_health()`` and every ``statistics()`` are read by
``prometheus_client``'s HTTP thread and OpenTelemetry's periodic reader thread while
the event loop runs, and by code that runs after ``asyncio.run``/``trio.run`` returned.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import anyio
import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from httpx_resilient._breaker.config import CircuitBreakerConfig
from httpx_resilient._breaker.transport import CircuitBreakerTransport
from httpx_resilient._core.clock import SystemClock
from httpx_resilient._core.snapshots import (
    BreakerStatistics,
    CircuitState,
    QueueStatistics,
    RateLimitStatistics,
)
from httpx_resilient._metrics.health import HealthState
from httpx_resilient._metrics.otel import instrument_otel
from httpx_resilient._metrics.prometheus import PrometheusCollector
from httpx_resilient._queue.config import QueueConfig
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._stack import ResilientTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport
from tests.loopback import LoopbackServer, Reply, Seen

BACKENDS = ["asyncio", "trio"]


def stack(rate: RateLimitConfig | None = None) -> ResilientTransport:
    """Rate limit (with waits), breaker and queue: every layer whose snapshot reads time."""
    return ResilientTransport(
        rate_limit=rate or RateLimitConfig(max_requests=200, burst=3),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2, recovery_timeout=60.0),
        queue=QueueConfig(max_concurrency=4),
        retry=False,
    )


def slow_route(server: LoopbackServer, release: threading.Event) -> None:
    def slow(seen: Seen) -> Reply:
        release.wait(2.0)
        return Reply(200, {}, b"slow")

    server.route("/slow", slow)


async def until(predicate: Any, what: str) -> None:
    """Poll ``predicate`` (another thread makes it true) for at most 5 s (a loaded machine)."""
    with anyio.fail_after(5.0):
        while not predicate():
            await anyio.sleep(0.005)
    assert predicate(), what


async def failing(client: httpx.AsyncClient, url: str) -> None:
    """A request that fails: a 503, or no connection if localhost is IPv6 first."""
    with suppress(httpx.ConnectError):
        await client.get(url)


# -- Prometheus: a real exporter thread, scraped over HTTP ---------------------------------------


@contextmanager
def prometheus_endpoint(transport: object) -> Iterator[str]:
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(transport))
    httpd, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/metrics"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(2.0)


class Scraper:
    """Scrapes ``url`` in a loop from its own thread, keeping (status, body) of each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.results: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=2.0) as reply:
                    self.results.append((reply.status, reply.read().decode()))
            except urllib.error.HTTPError as exc:
                self.results.append((exc.code, exc.read().decode(errors="replace")))

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(3.0)


def values(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


@pytest.mark.anyio
async def test_prometheus_http_server_scrapes_while_requests_run(server: LoopbackServer) -> None:
    transport = stack()
    release = threading.Event()
    slow_route(server, release)
    with prometheus_endpoint(transport) as url, Scraper(url) as scraper:
        async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
            async with anyio.create_task_group() as group:
                for _ in range(30):  # burst 3 at 200/s: most of them wait for a token
                    group.start_soon(client.get, "/ok")
            for _ in range(2):  # opens the breaker of another host key
                await failing(client, f"http://localhost:{server.port}/status/503")
            async with anyio.create_task_group() as group:
                group.start_soon(client.get, "/slow")
                await until(lambda: transport.get_metrics().active_requests == 1, "only /slow")
                during = len(scraper.results)
                await until(lambda: len(scraper.results) >= during + 3, "scrapes while active")
                release.set()
        # a scrape begun before the last request ended may land after it: count from here
        done = len(scraper.results)
        await until(lambda: len(scraper.results) >= max(during + 6, done + 2), "scrapes after")
    results = list(scraper.results)
    assert results
    assert all(status == 200 for status, _ in results), results[:1]
    parsed = [values(body) for _, body in results]
    mid = parsed[during + 1]  # taken while /slow was in flight
    assert mid[("httpx_resilient_active_requests", ())] == 1
    assert mid[("httpx_resilient_requests_total", (("outcome", "success"),))] == 30
    assert mid[("httpx_resilient_rate_limit_waits_total", ())] > 0
    host = f"localhost:{server.port}"
    assert mid[("httpx_resilient_circuit_state", (("host", host), ("state", "open")))] == 1
    assert mid[("httpx_resilient_health_status", (("status", "unhealthy"),))] == 1
    last = parsed[-1]
    assert last[("httpx_resilient_requests_total", (("outcome", "success"),))] == 31
    assert last[("httpx_resilient_requests_total", (("outcome", "failed"),))] == 2


# -- OpenTelemetry: the periodic reader collects from its own thread -----------------------------


class Collected(MetricExporter):
    """An in-memory push exporter: keeps every batch the reader's thread hands it."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[MetricsData] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def points(batch: MetricsData) -> dict[str, list[tuple[dict[str, Any], float]]]:
    out: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for resource in batch.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out[metric.name] = [
                    (dict(p.attributes or {}), getattr(p, "value", 0))
                    for p in metric.data.data_points
                ]
    return out


@pytest.mark.anyio
async def test_otel_periodic_reader_collects_from_its_thread(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    transport = stack()
    exporter = Collected()
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=20)
    provider = MeterProvider(metric_readers=[reader])
    instruments = instrument_otel(transport, meter_provider=provider)
    release = threading.Event()
    slow_route(server, release)
    try:
        async with (
            httpx.AsyncClient(transport=transport, base_url=server.url) as client,
            anyio.create_task_group() as group,
        ):
            for _ in range(10):
                group.start_soon(client.get, "/ok")
            group.start_soon(client.get, "/slow")
            await until(lambda: transport.get_metrics().active_requests == 1, "only /slow")
            during = len(exporter.batches)
            await until(lambda: len(exporter.batches) >= during + 3, "exports while active")
            release.set()
    finally:
        provider.shutdown()
    assert len(instruments) == 11  # concurrency_limit included
    mid = points(exporter.batches[during + 1])
    assert len(mid) == len(instruments), sorted(mid)  # no callback failed
    assert ({"outcome": "success"}, 10) in mid["httpx_resilient.requests"]
    assert mid["httpx_resilient.requests.active"] == [({}, 1)]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "WARNING")]


# -- after the event loop ended ------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_snapshots_after_the_loop_ended(server: LoopbackServer, backend: str) -> None:
    transport = stack(RateLimitConfig(max_requests=1, window_seconds=60.0, burst=10))

    async def main() -> None:
        async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
            for _ in range(4):
                await client.get("/ok")
            for _ in range(2):
                await client.get("/status/500")

    anyio.run(main, backend=backend)
    metrics = transport.get_metrics()
    assert metrics.total_requests == 6
    assert metrics.circuit_states == {f"127.0.0.1:{server.port}": CircuitState.OPEN}
    health = transport.assess_health()
    assert health.status is HealthState.UNHEALTHY
    by_type = {type(s): s for s in transport.statistics()}
    limiter = by_type[RateLimitStatistics]
    assert isinstance(limiter, RateLimitStatistics)
    assert 4.0 <= limiter.buckets[0].tokens < 4.1  # as of now (refilled lazily)
    breaker = by_type[BreakerStatistics]
    assert isinstance(breaker, BreakerStatistics)
    assert breaker.opens == 1
    assert isinstance(by_type[QueueStatistics], QueueStatistics)


@pytest.mark.parametrize("backend", BACKENDS)
def test_system_clock_off_loop_continues_the_loop_clock(backend: str) -> None:
    clock = SystemClock()
    seen: list[float] = []

    async def main() -> None:
        seen.append(clock.now())

    anyio.run(main, backend=backend)
    after = [clock.now()]
    thread = threading.Thread(target=lambda: after.append(clock.now()))
    thread.start()
    thread.join()
    # trio's clock has its own origin: off-loop reads continue it, never jump back
    assert seen[0] <= after[0] <= after[1] < seen[0] + 5.0


def test_fresh_system_clock_reads_without_any_loop() -> None:
    clock = SystemClock()
    first = clock.now()
    assert clock.now() >= first


def breaker_transport(clock: FakeClock, hook: list[object]) -> CircuitBreakerTransport:
    config = CircuitBreakerConfig(failure_threshold=1, recovery_timeout=10.0)
    return CircuitBreakerTransport(
        ScriptedTransport(lambda request: httpx.Response(500)),
        config,
        clock=clock,
        on_state_change=lambda *change: hook.append(change),
    )


@pytest.mark.anyio
async def test_breaker_statistics_read_a_due_open_breaker_as_half_open_changing_nothing() -> None:
    clock = FakeClock()
    changes: list[object] = []
    breaker = breaker_transport(clock, changes)
    await breaker.handle_async_request(httpx.Request("GET", "http://down.test/"))
    assert breaker.statistics().states == {"down.test": CircuitState.OPEN}
    clock.advance(10.0)
    seen: list[BreakerStatistics] = []
    thread = threading.Thread(target=lambda: seen.append(breaker.statistics()))
    thread.start()
    thread.join()
    assert seen[0].states == {"down.test": CircuitState.HALF_OPEN}
    assert len(changes) == 1  # only the opening: a read from a thread moved nothing
    assert breaker.state("down.test") is CircuitState.HALF_OPEN  # the loop's read moves it
    assert len(changes) == 2
