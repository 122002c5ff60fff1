"""``MetricsTransport``: every logical request counted once (into ``ClientMetrics``).

Outcomes (each request ends in exactly one, so ``total = successful + failed +
rejected + cancelled + active``):

- rejected: one of our refusals (``RateLimitExceeded``, ``CircuitOpenError``,
  ``QueueFullError``, ``QueueTimeoutError``, ``ClientClosedError``) reached the caller.
  The retry layer returns what it already had rather than a later refusal, so a
  refusal at the top means no attempt reached the network;
- failed: any other exception (``TimeoutBudgetExceeded`` included), or a final 5xx
  or 429 response;
- cancelled: the caller cancelled it (a ``BaseException`` that is not an
  ``Exception``: asyncio's ``CancelledError``, trio's ``Cancelled``, ...);
- successful: anything else, cache hits included.

Response time is measured from entry to headers, only for requests that got a
response, in a fixed-size ``LatencyHistogram``. Outcomes and response times are also
kept for the last ``AlertThresholds.window_seconds`` in a ``SlidingWindow``: health
is judged on that window, while ``ClientMetrics`` keeps lifetime totals.

Retry, breaker, cache, dedup, queue and rate-limit counters are read from the layers
below by walking ``.inner`` and reading each layer's ``statistics()`` snapshot, so
hand-built stacks report them too.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace

import httpx

from .._core.clock import Clock
from .._core.errors import (
    CircuitOpenError,
    ClientClosedError,
    ConfigError,
    QueueFullError,
    QueueTimeoutError,
    RateLimitExceeded,
)
from .._core.keys import host_key
from .._core.layer import Layer
from .._core.redact import redact_url, scrub
from .._core.snapshots import (
    BreakerStatistics,
    CacheStatistics,
    CircuitState,
    DedupStatistics,
    QueueStatistics,
    RateLimitStatistics,
    RetryStatistics,
)
from .config import AlertThresholds
from .health import DEFAULT_THRESHOLDS, AlertTracker, HealthStatus, assess_health
from .histogram import LatencyHistogram
from .labels import HostTraffic
from .snapshot import SEVERITY, ClientMetrics
from .window import FAILED, REJECTED, SUCCEEDED, SlidingWindow, WindowStats

__all__ = ["ClientMetrics", "MetricsTransport", "collect_metrics", "find_metrics_layer"]

logger = logging.getLogger("httpx_resilient")
_DEBUG = logging.DEBUG

REFUSALS = (
    RateLimitExceeded,
    CircuitOpenError,
    QueueFullError,
    QueueTimeoutError,
    ClientClosedError,
)
_QUANTILES = (0.5, 0.95, 0.99)


def _collect(top: httpx.AsyncBaseTransport, totals: ClientMetrics) -> ClientMetrics:
    """``totals`` with the counters of every layer from ``top`` down filled in."""
    retries = opens = hits = misses = shared = waiting = waits = limit = 0
    states: dict[str, CircuitState] = {}
    t = top
    while isinstance(t, Layer):
        read = getattr(t, "statistics", None)
        s = read() if read is not None and not isinstance(t, MetricsTransport) else None
        if isinstance(s, RetryStatistics):
            retries += s.retries
        elif isinstance(s, BreakerStatistics):
            opens += s.opens
            for host, state in s.states.items():
                if SEVERITY[state] >= SEVERITY[states.get(host, CircuitState.CLOSED)]:
                    states[host] = state
        elif isinstance(s, CacheStatistics):
            hits += s.hits
            misses += s.misses
        elif isinstance(s, DedupStatistics):
            shared += s.shared
        elif isinstance(s, QueueStatistics):
            waiting += s.waiting
            limit = s.limit if not limit else min(limit, s.limit)
        elif isinstance(s, RateLimitStatistics):
            waits += s.waits
        t = t.inner
    return replace(
        totals,
        retry_count=retries,
        circuit_breaker_opens=opens,
        circuit_states=states,
        cache_hits=hits,
        cache_misses=misses,
        dedup_shared=shared,
        queue_size=waiting,
        rate_limit_waits=waits,
        concurrency_limit=limit,
    )


def find_metrics_layer(source: object) -> MetricsTransport | None:
    """The first ``MetricsTransport`` of ``source`` (a ``ResilientTransport``'s layers,
    or a chain of layers), or ``None``."""
    layers = getattr(source, "layers", None)  # ResilientTransport exposes its layers
    candidates: list[object] = list(layers) if isinstance(layers, tuple) else []
    t = source
    while isinstance(t, Layer):
        candidates.append(t)
        t = t.inner
    for layer in candidates:
        if isinstance(layer, MetricsTransport):
            return layer
    return None


def collect_metrics(top: httpx.AsyncBaseTransport) -> ClientMetrics:
    """Metrics of a stack: request totals from its first ``MetricsTransport`` (zeros
    if it has none) and the counters of every layer from ``top`` down."""
    t = top
    while isinstance(t, Layer):
        if isinstance(t, MetricsTransport):
            return _collect(top, t._totals())
        t = t.inner
    return _collect(top, _NO_TOTALS)


_NO_TOTALS = ClientMetrics()
AlertHook = Callable[[HealthStatus], None]


class MetricsTransport(Layer):
    """Counts, times and judges every request that passes through it.

    Args:
        inner: the transport requests are passed to.
        clock: the time source for response times and alert checks.
        thresholds: what ``assess_health()`` judges against (``AlertThresholds()``).
        on_alert: called with the new ``HealthStatus`` whenever the set of crossed
            thresholds changes (one crossed, or one cleared), never once per request;
            in the thread that judged health (the loop's, or an exporter's that called
            ``assess_health()``).
        alert_interval: seconds between automatic health checks as requests complete
            (default 1.0; 0 checks after every request).
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        clock: Clock | None = None,
        thresholds: AlertThresholds | None = None,
        on_alert: AlertHook | None = None,
        alert_interval: float = 1.0,
    ) -> None:
        super().__init__(inner, clock=clock)
        if thresholds is not None and not isinstance(thresholds, AlertThresholds):
            raise ConfigError("MetricsTransport.thresholds", "must be an AlertThresholds")
        if not isinstance(alert_interval, (int, float)) or not alert_interval >= 0:
            raise ConfigError("MetricsTransport.alert_interval", "must be a number >= 0")
        self._thresholds = thresholds if thresholds is not None else DEFAULT_THRESHOLDS
        self._interval = alert_interval
        self._next_check = -math.inf
        self._alerts = AlertTracker(on_alert, logger)
        self._histogram = LatencyHistogram()
        self._window = SlidingWindow(self._thresholds.window_seconds)
        self._traffic: HostTraffic | None = None  # counted once an exporter asks
        self._started = 0
        self._succeeded = 0
        self._failed = 0
        self._rejected = 0
        self._cancelled = 0

    @property
    def histogram(self) -> LatencyHistogram:
        """The live response-time histogram (read it, don't change it)."""
        return self._histogram

    def host_traffic(self) -> HostTraffic:
        """Requests per host (bounded), counted from the first call on.

        Exporters call it when built, to name the busiest hosts in their labels; until
        then requests are not counted per host, so the hot path pays nothing for it.
        """
        if self._traffic is None:
            self._traffic = HostTraffic()
        return self._traffic

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        clock = self._clock
        self._started += 1
        traffic = self._traffic
        if traffic is not None:
            traffic.add(host_key(request))
        start = clock.now()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException as exc:
            self._record_error(request, exc, clock.now())
            raise
        now = clock.now()
        index = self._histogram.record(now - start)
        status = response.status_code
        if status >= 500 or status == 429:
            self._failed += 1
            self._window.record(now, FAILED, index)
        else:
            self._succeeded += 1
            self._window.record(now, SUCCEEDED, index)
        if logger.isEnabledFor(_DEBUG):
            outcome = "failed" if status >= 500 or status == 429 else "success"
            self._log_request(request, outcome, now - start, status_code=status)
        if now >= self._next_check:
            self._check(now)
        return response

    def _record_error(self, request: httpx.Request, exc: BaseException, now: float) -> None:
        if not isinstance(exc, Exception):
            self._cancelled += 1
            return
        if isinstance(exc, REFUSALS):
            self._rejected += 1
            self._window.record(now, REJECTED)
            outcome = "rejected"
        else:
            self._failed += 1
            self._window.record(now, FAILED)
            outcome = "failed"
        if logger.isEnabledFor(_DEBUG):
            self._log_request(request, outcome, None, error=exc)
        if now >= self._next_check:
            self._check(now)

    def _log_request(
        self,
        request: httpx.Request,
        outcome: str,
        elapsed: float | None,
        *,
        status_code: int | None = None,
        error: BaseException | None = None,
    ) -> None:
        extra: dict[str, object] = {
            "event": "request",
            "outcome": outcome,
            "method": request.method,
            "url": redact_url(request.url),
            "host": host_key(request),
            "status_code": status_code,
            "duration": elapsed,
        }
        if error is not None:
            extra["error_type"] = type(error).__name__
            extra["error"] = scrub(str(error), request)[:300]
        logger.debug(
            "%s %s -> %s", request.method, extra["url"], status_code or outcome, extra=extra
        )

    def _totals(self) -> ClientMetrics:
        done = self._succeeded + self._failed + self._rejected
        p50, p95, p99 = self._histogram.percentiles(_QUANTILES)
        return ClientMetrics(
            total_requests=self._started,
            successful_requests=self._succeeded,
            failed_requests=self._failed,
            rejected_requests=self._rejected,
            cancelled_requests=self._cancelled,
            success_rate=100.0 * self._succeeded / done if done else 100.0,
            error_rate=100.0 * self._failed / done if done else 0.0,
            average_response_time=self._histogram.average,
            p50_response_time=p50,
            p95_response_time=p95,
            p99_response_time=p99,
            active_requests=self._started - done - self._cancelled,
        )

    def get_metrics(self) -> ClientMetrics:
        """A snapshot of this layer's totals and the counters of every layer below."""
        return _collect(self._inner, self._totals())

    def statistics(self) -> ClientMetrics:
        """Same as ``get_metrics()``."""
        return self.get_metrics()

    def window_stats(self) -> WindowStats:
        """Requests completed in the last ``window_seconds`` (what health is judged on)."""
        return self._window.stats(self._clock.now())

    def assess_health(self) -> HealthStatus:
        """Judge the current metrics and the window against the thresholds.

        Alerts (log line and ``on_alert``) fire when the set of crossed checks changes.
        """
        status = assess_health(self.get_metrics(), self._thresholds, self.window_stats())
        self._alerts.update(status)
        return status

    def _check(self, now: float) -> None:
        self._next_check = now + self._interval
        try:
            self.assess_health()
        except Exception:  # judging health must never fail a request
            logger.exception("health check failed", extra={"event": "health_check_error"})
