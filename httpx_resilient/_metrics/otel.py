"""OpenTelemetry: a span and a duration per request, and the client's metrics.

Needs the ``[otel]`` extra (``opentelemetry-api``); OpenTelemetry is imported only when
``OTelTransport`` or ``instrument_otel`` is used. Attribute values are bounded:
method (the nine standard ones, else ``_OTHER``), host and port (at most ``max_hosts``
hosts, default 100, the rest as ``server.address="other"`` without a port), status
class (``2xx``...), error type (an exception class name) and refusing layer. The
observable instruments read plain synchronous snapshots, so the SDK's periodic
reader may collect them from its own thread. Spans carry ``url.full`` with
userinfo dropped and credential-like query values redacted; no header is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx

from .._core.clock import Clock
from .._core.errors import (
    CircuitOpenError,
    ClientClosedError,
    QueueFullError,
    QueueTimeoutError,
    RateLimitExceeded,
    TimeoutBudgetExceeded,
)
from .._core.layer import Layer
from .._core.redact import redact_url, scrub
from .labels import DEFAULT_MAX_HOSTS, OTHER, HostLabels, bound_hosts
from .labels import max_hosts as check_max_hosts
from .transport import ClientMetrics, collect_metrics, find_metrics_layer

__all__ = ["OTelTransport", "instrument_otel"]

_SCOPE = "httpx_resilient"
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
_LAYER_OF = (
    (RateLimitExceeded, "rate_limit"),
    (CircuitOpenError, "circuit_breaker"),
    (QueueFullError, "queue"),
    (QueueTimeoutError, "queue"),
    (ClientClosedError, "transport"),
    (TimeoutBudgetExceeded, "timeout_budget"),
)


def _missing() -> ImportError:
    return ImportError("this needs opentelemetry-api: pip install 'httpx-resilient[otel]'")


def _refusing_layer(exc: BaseException) -> str | None:
    for kind, layer in _LAYER_OF:
        if isinstance(exc, kind):
            return layer
    return None


class OTelTransport(Layer):
    """A CLIENT span and an ``http.client.request.duration`` histogram per request.

    The span and the duration end when the headers arrive (or the request fails); the
    body is not included. Put it outermost to see each logical request once, or below
    ``RetryTransport`` to see each attempt.

    Args:
        inner: the transport requests are passed to.
        tracer_provider: defaults to the global one.
        meter_provider: defaults to the global one.
        clock: the time source for durations.
        max_hosts: hosts recorded by name in ``server.address`` (default 100): the
            first ones seen keep their name, later ones are recorded as "other" (a
            value recorded on a histogram cannot be withdrawn). Spans keep the host.

    Raises:
        ConfigError: ``max_hosts`` is not an integer >= 1.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        clock: Clock | None = None,
        max_hosts: int = DEFAULT_MAX_HOSTS,
    ) -> None:
        super().__init__(inner, clock=clock)
        self._host_label = HostLabels(check_max_hosts("OTelTransport", max_hosts))
        try:
            from opentelemetry import metrics, trace
            from opentelemetry.trace import SpanKind, Status, StatusCode
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            raise _missing() from exc
        self._tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "http.client.request.duration", unit="s", description="Time to response headers."
        )
        self._kind = SpanKind.CLIENT
        self._status = Status
        self._error = StatusCode.ERROR

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        method = request.method if request.method in _METHODS else "_OTHER"
        url = request.url
        host = url.host
        label = self._host_label(host)
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "server.address": label,
        }
        if url.port is not None and label is host:
            attributes["server.port"] = url.port
        span_attributes = {**attributes, "server.address": host, "url.full": redact_url(url)}
        if url.port is not None:
            span_attributes["server.port"] = url.port
        clock = self._clock
        with self._tracer.start_as_current_span(
            method,
            kind=self._kind,
            attributes=span_attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            start = clock.now()
            try:
                response = await self._inner.handle_async_request(request)
            except BaseException as exc:
                if isinstance(exc, Exception):
                    error = type(exc).__name__
                    attributes["error.type"] = error
                    layer = _refusing_layer(exc)
                    if layer is not None:
                        attributes["httpx_resilient.layer"] = layer
                    span.set_attributes(attributes)
                    span.set_status(self._status(self._error, scrub(str(exc), request)[:200]))
                else:
                    attributes["error.type"] = "cancelled"
                    span.set_attribute("error.type", "cancelled")
                self._duration.record(clock.now() - start, attributes)
                raise
            status = response.status_code
            attributes["http.response.status_class"] = f"{status // 100}xx"
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                attributes["error.type"] = str(status)
                span.set_attribute("error.type", str(status))
                span.set_status(self._status(self._error))
            self._duration.record(clock.now() - start, attributes)
            return response


def _metrics_reader(transport: object) -> Callable[[], ClientMetrics]:
    get = getattr(transport, "get_metrics", None)
    if callable(get):
        return lambda: get()
    if isinstance(transport, httpx.AsyncBaseTransport):
        return lambda: collect_metrics(transport)
    raise TypeError("transport must have get_metrics() or be an httpx transport")


def instrument_otel(
    transport: object, meter_provider: Any = None, *, max_hosts: int = DEFAULT_MAX_HOSTS
) -> list[Any]:
    """Register observable instruments that read ``transport.get_metrics()``.

    Instruments (prefix ``httpx_resilient.``): ``requests`` by ``outcome``,
    ``requests.active``, ``queue.size``, ``queue.concurrency_limit``, ``retries``,
    ``circuit_breaker.opens``,
    ``circuit_breaker.state`` (1 per host for its ``state``), ``cache.lookups`` by
    ``result`` (hit/miss), ``dedup.shared``, ``rate_limit.waits``,
    ``response_time`` by ``quantile``.

    ``circuit_breaker.state`` names at most ``max_hosts`` hosts (default 100): OPEN,
    then HALF_OPEN breakers, then the busiest hosts; the others are reported as
    ``host="other"`` with, per state, the number of hosts in it.

    Returns:
        The instruments created (keep them alive as long as they should report).

    Raises:
        ConfigError: ``max_hosts`` is not an integer >= 1.
    """
    limit = check_max_hosts("instrument_otel", max_hosts)
    try:
        from opentelemetry import metrics
        from opentelemetry.metrics import Observation
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise _missing() from exc
    read = _metrics_reader(transport)
    layer = find_metrics_layer(transport)
    counter = layer.host_traffic() if layer is not None else None
    meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)

    def breaker_states(m: ClientMetrics) -> list[tuple[float, dict[str, str]]]:
        traffic = counter.snapshot() if counter is not None else {}
        kept, other = bound_hosts(m.circuit_states, traffic, limit)
        out: list[tuple[float, dict[str, str]]] = [
            (1, {"host": host, "state": state.value}) for host, state in kept.items()
        ]
        out.extend((n, {"host": OTHER, "state": state.value}) for state, n in other.items())
        return out

    def observe(pick: Callable[[ClientMetrics], Iterable[tuple[float, dict[str, str]]]]) -> Any:
        def callback(options: Any) -> Iterable[Any]:
            return [Observation(value, attrs) for value, attrs in pick(read())]

        return callback

    def one(field: str) -> Any:
        return observe(lambda m: [(getattr(m, field), {})])

    p = "httpx_resilient."
    return [
        meter.create_observable_counter(
            p + "requests",
            [
                observe(
                    lambda m: [
                        (m.successful_requests, {"outcome": "success"}),
                        (m.failed_requests, {"outcome": "failed"}),
                        (m.rejected_requests, {"outcome": "rejected"}),
                        (m.cancelled_requests, {"outcome": "cancelled"}),
                    ]
                )
            ],
            unit="{request}",
        ),
        meter.create_observable_up_down_counter(
            p + "requests.active", [one("active_requests")], unit="{request}"
        ),
        meter.create_observable_up_down_counter(
            p + "queue.size", [one("queue_size")], unit="{request}"
        ),
        meter.create_observable_gauge(
            p + "queue.concurrency_limit", [one("concurrency_limit")], unit="{request}"
        ),
        meter.create_observable_counter(p + "retries", [one("retry_count")]),
        meter.create_observable_counter(
            p + "circuit_breaker.opens", [one("circuit_breaker_opens")]
        ),
        meter.create_observable_gauge(
            p + "circuit_breaker.state",
            [observe(breaker_states)],
        ),
        meter.create_observable_counter(
            p + "cache.lookups",
            [
                observe(
                    lambda m: [
                        (m.cache_hits, {"result": "hit"}),
                        (m.cache_misses, {"result": "miss"}),
                    ]
                )
            ],
        ),
        meter.create_observable_counter(p + "dedup.shared", [one("dedup_shared")]),
        meter.create_observable_counter(p + "rate_limit.waits", [one("rate_limit_waits")]),
        meter.create_observable_gauge(
            p + "response_time",
            [
                observe(
                    lambda m: [
                        (m.p50_response_time, {"quantile": "0.5"}),
                        (m.p95_response_time, {"quantile": "0.95"}),
                        (m.p99_response_time, {"quantile": "0.99"}),
                    ]
                )
            ],
            unit="s",
        ),
    ]
