"""Exporters: the Prometheus collector and OpenTelemetry spans and metrics."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from httpx_resilient._core.errors import CircuitOpenError
from httpx_resilient._core.layer import Layer
from httpx_resilient._core.snapshots import BreakerStatistics, CircuitState
from httpx_resilient._metrics.otel import OTelTransport, instrument_otel
from httpx_resilient._metrics.prometheus import PrometheusCollector
from httpx_resilient._metrics.transport import ClientMetrics, MetricsTransport
from httpx_resilient._queue.config import QueueConfig
from httpx_resilient._queue.transport import PriorityQueueTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport

pytestmark = pytest.mark.anyio

BOUNDED_LABELS = {"outcome", "quantile", "host", "state", "status", "le"}
BOUNDED_ATTRIBUTES = {
    "http.request.method",
    "server.address",
    "server.port",
    "http.response.status_class",
    "error.type",
    "httpx_resilient.layer",
}


class Breaker(Layer):
    def __init__(self, inner: httpx.AsyncBaseTransport, states: dict[str, CircuitState]) -> None:
        super().__init__(inner)
        self.states = states

    def statistics(self) -> BreakerStatistics:
        return BreakerStatistics(states=dict(self.states), opens=2)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.states.get(request.url.host) is CircuitState.OPEN:
            raise CircuitOpenError("open", request=request, retry_after=5.0)
        return await self._inner.handle_async_request(request)


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(int(request.url.path.strip("/") or 200))


async def workload(transport: httpx.AsyncBaseTransport, clock: FakeClock) -> None:
    async with httpx.AsyncClient(transport=transport) as client:
        for path in ("/200", "/200", "/200", "/500"):
            await client.get(f"http://a.example{path}")
            clock.advance(0.03)
        with pytest.raises(CircuitOpenError):
            await client.get("http://down.example/")


def build(clock: FakeClock) -> tuple[MetricsTransport, ScriptedTransport]:
    inner = ScriptedTransport(answer)
    states = {"a.example": CircuitState.CLOSED, "down.example": CircuitState.OPEN}
    return MetricsTransport(Breaker(inner, states), clock=clock, alert_interval=0), inner


# --- Prometheus --------------------------------------------------------------------------------


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_prometheus_collector_exposes_the_metrics() -> None:
    clock = FakeClock()
    metrics, _ = build(clock)
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(metrics))
    await workload(metrics, clock)

    got = samples(registry)
    assert got[("httpx_resilient_requests_total", (("outcome", "success"),))] == 3
    assert got[("httpx_resilient_requests_total", (("outcome", "failed"),))] == 1
    assert got[("httpx_resilient_requests_total", (("outcome", "rejected"),))] == 1
    assert got[("httpx_resilient_circuit_breaker_opens_total", ())] == 2
    assert got[("httpx_resilient_active_requests", ())] == 0
    assert got[("httpx_resilient_success_rate_percent", ())] == 60.0
    assert (
        got[("httpx_resilient_circuit_state", (("host", "down.example"), ("state", "open")))] == 1
    )
    assert (
        got[("httpx_resilient_circuit_state", (("host", "down.example"), ("state", "closed")))] == 0
    )
    assert got[("httpx_resilient_health_status", (("status", "unhealthy"),))] == 1
    # the histogram: every response took 0 s on the fake clock
    assert got[("httpx_resilient_response_time_seconds_bucket", (("le", "0.005"),))] == 4
    assert got[("httpx_resilient_response_time_seconds_count", ())] == 4
    assert got[("httpx_resilient_response_time_quantile_seconds", (("quantile", "0.99"),))] == 0
    labels = {name for (_, pairs) in got for name, _ in pairs}
    assert labels <= BOUNDED_LABELS


async def test_prometheus_histogram_buckets_follow_latency() -> None:
    clock = FakeClock(autojump=True)

    async def slow(request: httpx.Request) -> httpx.Response:
        await clock.sleep(float(request.url.path.strip("/")))
        return httpx.Response(200)

    metrics = MetricsTransport(ScriptedTransport(slow), clock=clock)
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(metrics, namespace="api", buckets=(0.1, 1.0)))
    for seconds in ("0.05", "0.5", "0.7", "3"):
        await metrics.handle_async_request(httpx.Request("GET", f"http://t/{seconds}"))
    got = samples(registry)
    assert got[("api_response_time_seconds_bucket", (("le", "0.1"),))] == 1
    assert got[("api_response_time_seconds_bucket", (("le", "1.0"),))] == 3
    assert got[("api_response_time_seconds_bucket", (("le", "+Inf"),))] == 4
    assert got[("api_response_time_seconds_sum", ())] == pytest.approx(4.25)


def test_prometheus_collector_reads_any_stack() -> None:
    states = {"x.example": CircuitState.HALF_OPEN}
    stack = PriorityQueueTransport(Breaker(ScriptedTransport(), states), QueueConfig())
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(stack))  # no metrics layer: zeros for totals
    got = samples(registry)
    assert got[("httpx_resilient_requests_total", (("outcome", "success"),))] == 0
    assert got[("httpx_resilient_circuit_state", (("host", "x.example"), ("state", "half_open")))]
    assert got[("httpx_resilient_health_status", (("status", "degraded"),))] == 1
    assert got[("httpx_resilient_concurrency_limit", ())] == 10  # adaptive, starting limit

    class Facade:
        def get_metrics(self) -> ClientMetrics:
            return ClientMetrics(total_requests=9, successful_requests=9)

    other = CollectorRegistry()
    other.register(PrometheusCollector(Facade()))
    assert samples(other)[("httpx_resilient_requests_total", (("outcome", "success"),))] == 9


# --- OpenTelemetry ---------------------------------------------------------------------------


def otel() -> tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return tracer_provider, exporter, MeterProvider(metric_readers=[reader]), reader


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out[metric.name] = list(metric.data.data_points)
    return out


async def test_otel_transport_spans_and_durations() -> None:
    clock = FakeClock()
    tracer_provider, exporter, meter_provider, reader = otel()
    metrics, _ = build(clock)
    transport = OTelTransport(
        metrics, tracer_provider=tracer_provider, meter_provider=meter_provider, clock=clock
    )
    await workload(transport, clock)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.request("PURGE", "http://a.example:8080/200?token=abc123456")

    spans = exporter.get_finished_spans()
    assert len(spans) == 6
    ok, _, _, failed, refused, purge = spans
    assert ok.name == "GET"
    assert ok.kind is SpanKind.CLIENT
    assert ok.attributes is not None
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.attributes["url.full"] == "http://a.example/200"
    assert ok.status.status_code is StatusCode.UNSET
    assert failed.status.status_code is StatusCode.ERROR
    assert refused.status.status_code is StatusCode.ERROR
    assert refused.attributes is not None
    assert refused.attributes["error.type"] == "CircuitOpenError"
    assert refused.attributes["httpx_resilient.layer"] == "circuit_breaker"
    assert purge.name == "_OTHER"
    assert purge.attributes is not None
    assert purge.attributes["url.full"] == "http://a.example:8080/200?token=[REDACTED]"

    durations = points(reader)["http.client.request.duration"]
    assert sum(p.count for p in durations) == 6
    for p in durations:
        assert set(p.attributes) <= BOUNDED_ATTRIBUTES
    seen = sorted(
        (
            p.attributes["http.request.method"],
            p.attributes.get("http.response.status_class", "-"),
            p.attributes.get("error.type", "-"),
            p.attributes.get("httpx_resilient.layer", "-"),
            p.count,
        )
        for p in durations
    )
    assert seen == [
        ("GET", "-", "CircuitOpenError", "circuit_breaker", 1),
        ("GET", "2xx", "-", "-", 3),
        ("GET", "5xx", "500", "-", 1),
        ("_OTHER", "2xx", "-", "-", 1),
    ]
    assert all(p.sum == pytest.approx(0.0) for p in durations)  # no fake time passed inside


async def test_otel_span_marks_cancellation() -> None:
    tracer_provider, exporter, meter_provider, _ = otel()
    inner = ScriptedTransport()
    transport = OTelTransport(inner, tracer_provider=tracer_provider, meter_provider=meter_provider)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(transport.handle_async_request, httpx.Request("GET", "http://t/"))
            await inner.next_request()
            scope.cancel()
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "cancelled"


async def test_instrument_otel_observes_client_metrics() -> None:
    clock = FakeClock()
    _, _, meter_provider, reader = otel()
    metrics, _ = build(clock)
    instruments = instrument_otel(metrics, meter_provider=meter_provider)
    assert len(instruments) == 11
    await workload(metrics, clock)
    got = points(reader)
    requests = {p.attributes["outcome"]: p.value for p in got["httpx_resilient.requests"]}
    assert requests == {"success": 3, "failed": 1, "rejected": 1, "cancelled": 0}
    states = {
        (p.attributes["host"], p.attributes["state"])
        for p in got["httpx_resilient.circuit_breaker.state"]
    }
    assert states == {("a.example", "closed"), ("down.example", "open")}
    assert [p.value for p in got["httpx_resilient.circuit_breaker.opens"]] == [2]
    assert {p.attributes["quantile"] for p in got["httpx_resilient.response_time"]} == {
        "0.5",
        "0.95",
        "0.99",
    }
    with pytest.raises(TypeError):
        instrument_otel(object(), meter_provider=meter_provider)


async def test_instrument_otel_reads_a_stack_without_metrics() -> None:
    _, _, meter_provider, reader = otel()
    inner = ScriptedTransport()
    queue = PriorityQueueTransport(inner, QueueConfig(max_concurrency=1, max_queue_size=5))
    instrument_otel(queue, meter_provider=meter_provider)
    async with anyio.create_task_group() as tg:
        tg.start_soon(queue.handle_async_request, httpx.Request("GET", "http://t/"))
        blocker = await inner.next_request()
        tg.start_soon(queue.handle_async_request, httpx.Request("GET", "http://t/"))
        await anyio.wait_all_tasks_blocked()
        assert [p.value for p in points(reader)["httpx_resilient.queue.size"]] == [1]
        limit = points(reader)["httpx_resilient.queue.concurrency_limit"]
        assert [p.value for p in limit] == [1]
        blocker.respond(200, content=b"")
        (await inner.next_request()).respond(200, content=b"")
