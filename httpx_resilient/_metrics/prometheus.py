"""``PrometheusCollector``: a ``prometheus_client`` collector over ``get_metrics()``.

Needs the ``[prometheus]`` extra; ``prometheus_client`` is imported here only, when a
collector is built. Labels are bounded: ``outcome`` (4 values), ``quantile`` (3),
``host`` and ``state`` for breakers (at most ``max_hosts`` hosts by name, default 100,
plus ``host="other"``, times 3 states), ``status`` for health (3). No URL, path, query
or header ever becomes a label. The hosts named are those with an OPEN, then a
HALF_OPEN breaker, then the busiest (requests counted by the ``MetricsTransport``);
``circuit_state{host="other",state=...}`` is the number of the remaining hosts in
that state. ``collect()`` runs on the exporter's HTTP thread: every snapshot it reads
is a plain synchronous read that needs no event loop, and a read that races the
event loop (a dict changing size) is simply taken again.

Usage::

    from prometheus_client import REGISTRY
    REGISTRY.register(PrometheusCollector(transport))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from .._core.snapshots import CircuitState
from .health import HealthState, HealthStatus, assess_health
from .labels import DEFAULT_MAX_HOSTS, OTHER, bound_hosts
from .labels import max_hosts as check_max_hosts
from .transport import ClientMetrics, collect_metrics, find_metrics_layer

__all__ = ["DEFAULT_BUCKETS", "PrometheusCollector"]

#: ``le`` bounds of the exported response-time histogram, seconds.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _require() -> Any:
    try:
        from prometheus_client import core
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "PrometheusCollector needs prometheus_client: pip install 'httpx-resilient[prometheus]'"
        ) from exc
    return core


class PrometheusCollector:
    """Exposes a transport's ``ClientMetrics`` (and health) to Prometheus.

    Args:
        transport: anything with ``get_metrics()`` (``ResilientTransport``,
            ``MetricsTransport``, the client facade), or a hand-built stack of layers.
        namespace: prefix of every metric name (default ``"httpx_resilient"``).
        buckets: ``le`` bounds for the response-time histogram.
        max_hosts: hosts named in ``host`` labels (default 100); the rest are
            reported together as ``host="other"``.

    Raises:
        ImportError: ``prometheus_client`` is not installed.
        ConfigError: ``max_hosts`` is not an integer >= 1.
    """

    def __init__(
        self,
        transport: object,
        *,
        namespace: str = "httpx_resilient",
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        max_hosts: int = DEFAULT_MAX_HOSTS,
    ) -> None:
        self._max_hosts = check_max_hosts("PrometheusCollector", max_hosts)
        self._core = _require()
        self._source = transport
        self._ns = namespace
        self._buckets = tuple(sorted(buckets))
        layer = find_metrics_layer(transport)
        self._traffic = layer.host_traffic() if layer is not None else None

    def _snapshot(self) -> ClientMetrics:
        for _ in range(3):
            metrics = self._read()
            if metrics is not None:
                return metrics
        return ClientMetrics()

    def _read(self) -> ClientMetrics | None:
        get = getattr(self._source, "get_metrics", None)
        try:
            if callable(get):
                metrics = get()
                return metrics if isinstance(metrics, ClientMetrics) else ClientMetrics()
            if isinstance(self._source, httpx.AsyncBaseTransport):
                return collect_metrics(self._source)
        except RuntimeError:  # a scrape thread raced the event loop's changes; read again
            return None
        return ClientMetrics()

    def _health(self, metrics: ClientMetrics) -> HealthStatus:
        judge = getattr(self._source, "assess_health", None)
        status = judge() if callable(judge) else None
        return status if isinstance(status, HealthStatus) else assess_health(metrics)

    def describe(self) -> list[object]:
        """Nothing up front: the registry then calls ``collect()`` only when scraped."""
        return []

    def collect(self) -> Iterator[object]:
        """Yield the metric families of one scrape."""
        core = self._core
        ns = self._ns
        m = self._snapshot()

        requests = core.CounterMetricFamily(
            f"{ns}_requests", "Logical requests by outcome.", labels=["outcome"]
        )
        for outcome, value in (
            ("success", m.successful_requests),
            ("failed", m.failed_requests),
            ("rejected", m.rejected_requests),
            ("cancelled", m.cancelled_requests),
        ):
            requests.add_metric([outcome], value)
        yield requests

        counters = (
            ("retries", "Retries sent by the retry layer.", m.retry_count),
            ("circuit_breaker_opens", "Times a circuit breaker opened.", m.circuit_breaker_opens),
            ("cache_hits", "Requests answered from the cache.", m.cache_hits),
            ("cache_misses", "Cache lookups that missed.", m.cache_misses),
            ("dedup_shared", "Requests that shared another's upstream call.", m.dedup_shared),
            (
                "rate_limit_waits",
                "Requests that waited for a rate-limit token.",
                m.rate_limit_waits,
            ),
        )
        for name, doc, value in counters:
            yield core.CounterMetricFamily(f"{ns}_{name}", doc, value=value)

        gauges = (
            ("active_requests", "Requests in flight.", m.active_requests),
            ("queue_size", "Requests waiting for a concurrency slot.", m.queue_size),
            (
                "concurrency_limit",
                "The queue's concurrency limit in force (all hosts).",
                m.concurrency_limit,
            ),
            ("success_rate_percent", "Completed requests that succeeded, %.", m.success_rate),
            ("error_rate_percent", "Completed requests that failed, %.", m.error_rate),
        )
        for name, doc, gauge_value in gauges:
            yield core.GaugeMetricFamily(f"{ns}_{name}", doc, value=gauge_value)

        quantiles = core.GaugeMetricFamily(
            f"{ns}_response_time_quantile_seconds",
            "Response time to headers at a quantile, seconds.",
            labels=["quantile"],
        )
        for q, seconds in (
            ("0.5", m.p50_response_time),
            ("0.95", m.p95_response_time),
            ("0.99", m.p99_response_time),
        ):
            quantiles.add_metric([q], seconds)
        yield quantiles

        layer = find_metrics_layer(self._source)
        histogram = layer.histogram if layer is not None else None
        if histogram is not None:
            counts = histogram.cumulative(self._buckets)
            buckets = [(repr(b), c) for b, c in zip(self._buckets, counts, strict=True)]
            buckets.append(("+Inf", histogram.count))
            yield core.HistogramMetricFamily(
                f"{ns}_response_time_seconds",
                "Response time to headers, seconds.",
                buckets=buckets,
                sum_value=histogram.total,
            )

        states = core.GaugeMetricFamily(
            f"{ns}_circuit_state", "1 for each breaker's current state.", labels=["host", "state"]
        )
        traffic = self._traffic.snapshot() if self._traffic is not None else {}
        kept, other = bound_hosts(m.circuit_states, traffic, self._max_hosts)
        for host, current in sorted(kept.items()):
            for state in CircuitState:
                states.add_metric([host, state.value], 1.0 if state is current else 0.0)
        if other:
            for state in CircuitState:
                states.add_metric([OTHER, state.value], float(other.get(state, 0)))
        yield states

        health = self._health(m)
        family = core.GaugeMetricFamily(
            f"{ns}_health_status", "1 for the current health state.", labels=["status"]
        )
        for health_state in HealthState:
            family.add_metric([health_state.value], 1.0 if health_state is health.status else 0.0)
        yield family
