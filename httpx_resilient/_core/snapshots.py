"""Frozen snapshots of each layer's live state, returned by ``statistics()``.

Snapshots are plain values: cheap to build, safe to keep, never updated in place.
``ResilientTransport.get_metrics()`` reads them to fill ``ClientMetrics``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "BreakerStatistics",
    "BucketState",
    "CacheStatistics",
    "CircuitState",
    "DedupStatistics",
    "QueueStatistics",
    "RateLimitStatistics",
    "RetryStatistics",
]


class CircuitState(enum.Enum):
    """The state of one circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BucketState:
    """One token bucket: which limit, which key, and what it holds now."""

    limit_index: int
    key: str
    tokens: float
    rate: float
    capacity: float
    paused_until: float | None = None


@dataclass(frozen=True, slots=True)
class RateLimitStatistics:
    """``RateLimitTransport.statistics()``."""

    buckets: tuple[BucketState, ...] = ()
    waiters: int = 0
    waits: int = 0
    total_wait: float = 0.0
    rejected: int = 0
    backend_errors: int = 0


@dataclass(frozen=True, slots=True)
class BreakerStatistics:
    """``CircuitBreakerTransport.statistics()``."""

    states: dict[str, CircuitState] = field(default_factory=dict)
    opens: int = 0
    rejected: int = 0
    probes_in_flight: int = 0
    calls_in_flight: int = 0


@dataclass(frozen=True, slots=True)
class RetryStatistics:
    """``RetryTransport.statistics()``."""

    attempts: int = 0
    retries: int = 0
    budget_exhausted: int = 0
    in_backoff: int = 0


@dataclass(frozen=True, slots=True)
class CacheStatistics:
    """``CacheTransport.statistics()``."""

    hits: int = 0
    misses: int = 0
    revalidations: int = 0
    stores: int = 0
    stale_served: int = 0
    background_refreshes: int = 0


@dataclass(frozen=True, slots=True)
class DedupStatistics:
    """``DedupTransport.statistics()``."""

    in_flight_keys: int = 0
    followers_waiting: int = 0
    shared: int = 0
    leaders: int = 0


@dataclass(frozen=True, slots=True)
class QueueStatistics:
    """``PriorityQueueTransport.statistics()``.

    ``limit`` is the concurrency limit in force in total (``max_concurrency`` for the
    fixed bulkhead; the hosts' adaptive limits added up, within it, for the adaptive one)
    and ``limits`` each host's adaptive limit. ``evicted`` counts waiters that a newcomer
    of higher priority pushed out of a full queue.
    """

    active: int = 0
    waiting: int = 0
    max_concurrency: int = 0
    limit: int = 0
    limits: dict[str, int] = field(default_factory=dict)
    rejected_full: int = 0
    evicted: int = 0
    timed_out: int = 0
    closed: bool = False
