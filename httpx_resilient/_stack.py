"""``ResilientTransport``: builds the layer stack from config objects.

Order, outermost first (the reasons are in the README's "Layer order" section)::

    MetricsTransport        sees every logical request once, end to end
    CacheTransport          a fresh hit costs no token, no queue slot, no network
    DedupTransport          identical in-flight GET/HEAD share one upstream call
    PriorityQueueTransport  bounded concurrency, priority order, queue timeout
    RetryTransport          each attempt below is a real request
    CircuitBreakerTransport fails fast before waiting for a token
    RateLimitTransport      token bucket per key, adapts to server hints
    inner                   httpx.AsyncHTTPTransport() by default

A layer that is not configured is left out, so it costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TypeVar

import httpx

from ._breaker.config import CircuitBreakerConfig
from ._breaker.transport import CircuitBreakerTransport
from ._cache import CacheTransport
from ._cache.config import CacheConfig
from ._core.clock import SYSTEM_CLOCK, Clock
from ._core.deadline import call_within, deadline_of
from ._core.errors import ClientClosedError, ConfigError
from ._core.layer import Layer
from ._dedup.config import DedupConfig
from ._dedup.transport import DedupTransport
from ._metrics.health import HealthStatus, assess_health
from ._metrics.transport import ClientMetrics, MetricsTransport, collect_metrics
from ._queue.config import QueueConfig
from ._queue.transport import PriorityQueueTransport
from ._ratelimit.config import RateLimitConfig
from ._ratelimit.transport import RateLimitTransport
from ._redis.backend import RedisBackend
from ._redis.storage import RedisStorage
from ._retry.config import RetryConfig
from ._retry.transport import RetryTransport

__all__ = ["ResilientTransport"]

L = TypeVar("L", bound=Layer)
C = TypeVar("C")


def _config(name: str, value: object, kind: type[C]) -> C | None:
    """Accept ``None``/``False`` (off), ``True`` (defaults) or a config of ``kind``."""
    if value is None or value is False:
        return None
    if value is True:
        return kind()
    if isinstance(value, kind):
        return value
    raise ConfigError(
        f"ResilientTransport.{name}", f"expected {kind.__name__}, True or None, got {value!r}"
    )


def _rate_limits(value: object) -> tuple[RateLimitConfig, ...]:
    if value is None:
        return ()
    if isinstance(value, RateLimitConfig):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, RateLimitConfig) for v in value):
        return tuple(value)
    raise ConfigError(
        "ResilientTransport.rate_limit",
        f"expected a RateLimitConfig or a list of them, got {value!r}",
    )


class ResilientTransport(httpx.AsyncBaseTransport):
    """Rate limiting, circuit breaking, retries, de-duplication, caching, a priority
    queue and metrics for any ``httpx.AsyncClient``: pass it as ``transport=``.

    Args:
        rate_limit: a ``RateLimitConfig`` or a list of them (all must allow a request).
        circuit_breaker: a ``CircuitBreakerConfig`` (``True`` for defaults).
        retry: a ``RetryConfig`` (``True`` for defaults).
        cache: a ``CacheConfig``; ``True`` means ``CacheConfig()``.
        dedup: a ``DedupConfig``; ``True`` means ``DedupConfig()``.
        queue: a ``QueueConfig`` (``True`` for defaults).
        metrics: keep request metrics (default True).
        inner: the transport that does the I/O; ``httpx.AsyncHTTPTransport()`` by default.
        clock: one clock for every layer (tests pass ``testing.FakeClock``).

    Raises:
        ConfigError: an argument is not of the expected type.
    """

    def __init__(
        self,
        *,
        rate_limit: RateLimitConfig | Sequence[RateLimitConfig] | None = None,
        circuit_breaker: CircuitBreakerConfig | bool | None = None,
        retry: RetryConfig | bool | None = None,
        cache: CacheConfig | bool | None = None,
        dedup: DedupConfig | bool | None = None,
        queue: QueueConfig | bool | None = None,
        metrics: bool = True,
        inner: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        if inner is not None and not isinstance(inner, httpx.AsyncBaseTransport):
            raise ConfigError("ResilientTransport.inner", "must be an httpx.AsyncBaseTransport")
        if not isinstance(metrics, bool):
            raise ConfigError("ResilientTransport.metrics", "must be a bool")
        clock = clock if clock is not None else SYSTEM_CLOCK
        limits = _rate_limits(rate_limit)
        breaker = _config("circuit_breaker", circuit_breaker, CircuitBreakerConfig)
        retry_config = _config("retry", retry, RetryConfig)
        queue_config = _config("queue", queue, QueueConfig)
        dedup_config = _config("dedup", dedup, DedupConfig)
        cache_config = _config("cache", cache, CacheConfig)

        top: httpx.AsyncBaseTransport = inner if inner is not None else httpx.AsyncHTTPTransport()
        if limits:
            top = RateLimitTransport(top, limits, clock=clock)
        if breaker is not None:
            top = CircuitBreakerTransport(top, breaker, clock=clock)
        if retry_config is not None:
            top = RetryTransport(top, retry_config, clock=clock)
        if queue_config is not None:
            top = PriorityQueueTransport(top, queue_config, clock=clock)
        if dedup_config is not None:
            top = DedupTransport(top, dedup_config, clock=clock)
        if cache_config is not None:
            top = CacheTransport(top, cache_config, clock=clock)
        self._metrics: MetricsTransport | None = None
        if metrics:
            top = self._metrics = MetricsTransport(top, clock=clock)
        self._top = top
        self._clock = clock
        # Redis clients run their connections in a task group that must be entered:
        # the stack enters each distinct backend or storage with itself.
        candidates = [limit.backend for limit in limits]
        candidates.append(breaker.backend if breaker is not None else None)
        candidates.append(cache_config.storage if cache_config is not None else None)
        self._resources: list[RedisBackend | RedisStorage] = []
        for resource in candidates:
            if isinstance(resource, (RedisBackend, RedisStorage)) and not any(
                resource is seen for seen in self._resources
            ):
                self._resources.append(resource)
        self._budget = retry_config.timeout_budget if retry_config is not None else None
        # The retry layer holds each attempt (and the body it hands on) to the deadline
        # itself, and gives back what it has in hand; the queue and dedup waits above it
        # check the deadline too. Only without it does the stack hold the call to it.
        self._bound_here = retry_config is None
        self._closed = False

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layers of the stack, outermost first (the inner transport excluded)."""
        found: list[Layer] = []
        t = self._top
        while isinstance(t, Layer):
            found.append(t)
            t = t.inner
        return tuple(found)

    def get_layer(self, kind: type[L]) -> L | None:
        """Return the layer of type ``kind`` in this stack, or ``None`` if left out."""
        for layer in self.layers:
            if isinstance(layer, kind):
                return layer
        return None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise ClientClosedError("the transport is closed", request=request)
        if self._budget is not None or "timeout_budget" in request.extensions:
            # Fix the deadline here so queue and token waits count against the budget too,
            # and hold the whole request, body reads included, to it (hard bound).
            deadline = deadline_of(request, self._clock, self._budget)
            if deadline is not None and self._bound_here:
                top = self._top.handle_async_request
                return await call_within(top, request, deadline, self._clock)
        return await self._top.handle_async_request(request)

    def get_metrics(self) -> ClientMetrics:
        """A snapshot of request metrics and every layer's counters."""
        if self._metrics is not None:
            return self._metrics.get_metrics()
        return collect_metrics(self._top)

    def assess_health(self) -> HealthStatus:
        """Judge the current metrics against the alert thresholds."""
        if self._metrics is not None:
            return self._metrics.assess_health()
        return assess_health(collect_metrics(self._top))

    def statistics(self) -> tuple[object, ...]:
        """Each layer's ``statistics()`` snapshot, outermost first."""
        return tuple(layer.statistics() for layer in self.layers)

    async def __aenter__(self) -> ResilientTransport:
        entered: list[RedisBackend | RedisStorage] = []
        try:
            for resource in self._resources:
                await resource.__aenter__()
                entered.append(resource)
            await self._top.__aenter__()
        except BaseException:
            for resource in reversed(entered):
                await resource.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self._closed = True
        try:
            await self._top.__aexit__(exc_type, exc_value, traceback)
        finally:
            for resource in reversed(self._resources):
                await resource.__aexit__(exc_type, exc_value, traceback)

    async def aclose(self) -> None:
        """Fail queued waiters with ``ClientClosedError``, then close every layer once."""
        if self._closed:
            return
        self._closed = True
        await self._top.aclose()
