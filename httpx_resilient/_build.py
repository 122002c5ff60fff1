"""The layer chain in the documented order, and the Redis resources the stack enters.

Order, outermost first: metrics, cache, dedup, queue, retry, breaker, rate limit, inner.
A layer whose config is ``None`` is left out, so it costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from ._breaker import shared as _shared  # noqa: F401 (registers itself)
from ._breaker.config import CircuitBreakerConfig
from ._breaker.transport import CircuitBreakerTransport
from ._cache.config import CacheConfig
from ._cache.transport import CacheTransport
from ._core.clock import Clock
from ._dedup.config import DedupConfig
from ._dedup.transport import DedupTransport
from ._metrics.transport import MetricsTransport
from ._queue.config import QueueConfig
from ._queue.transport import PriorityQueueTransport
from ._ratelimit.config import RateLimitConfig
from ._ratelimit.transport import RateLimitTransport
from ._redis.backend import RedisBackend
from ._redis.storage import RedisStorage
from ._retry.config import RetryConfig
from ._retry.transport import RetryTransport

__all__ = ["build_layers", "redis_resources"]


def build_layers(
    inner: httpx.AsyncBaseTransport,
    *,
    rate_limits: Sequence[RateLimitConfig],
    breaker: CircuitBreakerConfig | None,
    retry: RetryConfig | None,
    queue: QueueConfig | None,
    dedup: DedupConfig | None,
    cache: CacheConfig | None,
    metrics: bool,
    clock: Clock,
) -> tuple[httpx.AsyncBaseTransport, MetricsTransport | None]:
    """Wrap ``inner`` in the configured layers; returns the top and the metrics layer."""
    top: httpx.AsyncBaseTransport = inner
    if rate_limits:
        top = RateLimitTransport(top, rate_limits, clock=clock)
    if breaker is not None:
        top = CircuitBreakerTransport(top, breaker, clock=clock)
    if retry is not None:
        top = RetryTransport(top, retry, clock=clock)
    if queue is not None:
        top = PriorityQueueTransport(top, queue, clock=clock)
    if dedup is not None:
        top = DedupTransport(top, dedup, clock=clock)
    if cache is not None:
        top = CacheTransport(top, cache, clock=clock)
    if not metrics:
        return top, None
    layer = MetricsTransport(top, clock=clock)
    return layer, layer


def redis_resources(
    rate_limits: Sequence[RateLimitConfig],
    breaker: CircuitBreakerConfig | None,
    cache: CacheConfig | None,
) -> list[RedisBackend | RedisStorage]:
    """Each distinct Redis backend or storage named by the configs, once."""
    candidates = [limit.backend for limit in rate_limits]
    candidates.append(breaker.backend if breaker is not None else None)
    candidates.append(cache.storage if cache is not None else None)
    found: list[RedisBackend | RedisStorage] = []
    for resource in candidates:
        if isinstance(resource, (RedisBackend, RedisStorage)) and not any(
            resource is seen for seen in found
        ):
            found.append(resource)
    return found
