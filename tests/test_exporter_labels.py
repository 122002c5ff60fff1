"""Exporter labels stay bounded however many hosts the client talks to."""

from __future__ import annotations

from collections import defaultdict

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from httpx_resilient._breaker.config import CircuitBreakerConfig
from httpx_resilient._core.errors import ConfigError
from httpx_resilient._core.snapshots import CircuitState
from httpx_resilient._metrics.labels import OTHER, HostLabels, HostTraffic, bound_hosts
from httpx_resilient._metrics.otel import OTelTransport, instrument_otel
from httpx_resilient._metrics.prometheus import PrometheusCollector
from httpx_resilient._stack import ResilientTransport
from httpx_resilient.testing import FakeClock

pytestmark = pytest.mark.anyio

HOSTS = 2_000
BUSY = [f"zbusy{i}.test" for i in range(5)]  # last by name: ranked by traffic alone
DOWN = [f"down{i}.test" for i in range(20)]


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500 if request.url.host.startswith("down") else 200)


async def many_hosts(
    otel: bool = True,
) -> tuple[ResilientTransport, CollectorRegistry, InMemoryMetricReader]:
    """2,000 quiet hosts, 5 busy ones and 20 whose breaker opens, through MockTransport.

    The exporters are attached first, as an application does at start-up.
    """
    stack = ResilientTransport(
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1, recovery_timeout=600.0),
        retry=False,
        inner=httpx.MockTransport(answer),
        clock=FakeClock(),
    )
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(stack))
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    top: httpx.AsyncBaseTransport = stack
    if otel:
        top = OTelTransport(stack, meter_provider=provider)
        instrument_otel(stack, meter_provider=provider)
    urls = [f"http://h{i}.test/" for i in range(HOSTS)]
    urls += [f"http://{host}/" for host in DOWN]
    urls += [f"http://{host}:8080/" for host in BUSY for _ in range(30)]
    for url in urls:  # each down host is hit once: no request meets an open breaker
        await top.handle_async_request(httpx.Request("GET", url))
    return stack, registry, reader


def host_values_per_metric(pairs: list[tuple[str, dict[str, object]]]) -> dict[str, set[object]]:
    hosts: dict[str, set[object]] = defaultdict(set)
    for name, labels in pairs:
        for key in ("host", "server.address"):
            if key in labels:
                hosts[name].add(labels[key])
    return hosts


async def test_prometheus_names_at_most_100_hosts_and_other() -> None:
    stack, registry, _ = await many_hosts(otel=False)
    assert len(stack.get_metrics().circuit_states) == HOSTS + len(DOWN) + len(BUSY)
    text = generate_latest(registry).decode()
    samples = [
        (s.name, dict(s.labels)) for f in text_string_to_metric_families(text) for s in f.samples
    ]
    hosts = host_values_per_metric(samples)  # type: ignore[arg-type]
    assert hosts  # the breaker gauge is there
    for values in hosts.values():
        assert len(values) <= 101
    states = hosts["httpx_resilient_circuit_state"]
    assert OTHER in states
    assert {f"{h}:8080" for h in BUSY} <= states  # the busiest keep their name
    assert set(DOWN) <= states  # an open breaker is never hidden
    other = {
        s.labels["state"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "httpx_resilient_circuit_state" and s.labels["host"] == OTHER
    }
    assert other == {"closed": HOSTS + len(DOWN) + len(BUSY) - 100, "open": 0, "half_open": 0}


async def test_opentelemetry_instruments_name_at_most_100_hosts() -> None:
    _, _, reader = await many_hosts()
    data = reader.get_metrics_data()
    assert data is not None
    pairs = [
        (metric.name, dict(point.attributes or {}))
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    ]
    hosts = host_values_per_metric(pairs)
    assert set(hosts) == {"http.client.request.duration", "httpx_resilient.circuit_breaker.state"}
    for values in hosts.values():
        assert len(values) <= 101
        assert OTHER in values
    assert set(DOWN) <= hosts["httpx_resilient.circuit_breaker.state"]
    assert {f"{h}:8080" for h in BUSY} <= hosts["httpx_resilient.circuit_breaker.state"]
    other_ports = [
        labels
        for name, labels in pairs
        if name == "http.client.request.duration" and labels["server.address"] == OTHER
    ]
    assert other_ports
    assert all("server.port" not in labels for labels in other_ports)


def test_bound_hosts_ranks_open_then_half_open_then_traffic_then_name() -> None:
    states = {f"q{i}": CircuitState.CLOSED for i in range(10)}
    states |= {"busy": CircuitState.CLOSED, "probe": CircuitState.HALF_OPEN}
    states |= {"down": CircuitState.OPEN}
    kept, other = bound_hosts(states, {"busy": 50, "q3": 2}, 4)
    assert list(kept) == ["down", "probe", "busy", "q3"]
    assert other == {CircuitState.CLOSED: 9}
    kept, other = bound_hosts(states, {}, 100)
    assert kept == states
    assert other == {}


def test_host_traffic_is_bounded_and_keeps_the_busiest() -> None:
    traffic = HostTraffic(keep=64)
    for i in range(100_000):
        traffic.add("busy.test")
        traffic.add(f"h{i}.test")
        assert len(traffic.counts) <= 128
    counts = traffic.snapshot()
    assert max(counts, key=counts.__getitem__) == "busy.test"


def test_host_labels_give_their_name_to_the_first_hosts_only() -> None:
    label = HostLabels(2)
    assert [label(h) for h in ("a", "b", "c", "a", "d", "b")] == ["a", "b", OTHER, "a", OTHER, "b"]


@pytest.mark.parametrize("value", [0, -1, 1.5, True, None])
def test_max_hosts_must_be_a_positive_int(value: object) -> None:
    stack = ResilientTransport(inner=httpx.MockTransport(answer))
    with pytest.raises(ConfigError) as info:
        PrometheusCollector(stack, max_hosts=value)  # type: ignore[arg-type]
    assert info.value.field == "PrometheusCollector.max_hosts"
    with pytest.raises(ConfigError) as info:
        OTelTransport(stack, max_hosts=value)  # type: ignore[arg-type]
    assert info.value.field == "OTelTransport.max_hosts"
    with pytest.raises(ConfigError) as info:
        instrument_otel(stack, max_hosts=value)  # type: ignore[arg-type]
    assert info.value.field == "instrument_otel.max_hosts"
