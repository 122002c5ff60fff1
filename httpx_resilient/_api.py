"""httpx_resilient: rate limiting, circuit breaking, retries, de-duplication, HTTP
caching, a priority queue, metrics and health for any ``httpx.AsyncClient``.

Pass ``transport=ResilientTransport(...)`` to a client; runs under asyncio and trio.
Everything importable from here is public; every other module is private.
"""

from ._auth import Token, TokenAuth
from ._breaker import shared as _shared  # noqa: F401 (registers itself)
from ._breaker.config import CircuitBreakerConfig
from ._breaker.transport import CircuitBreakerTransport
from ._cache.config import CacheConfig
from ._cache.memory import MemoryStorage
from ._cache.sqlite import SQLiteStorage
from ._cache.transport import CacheTransport
from ._client import RateLimitedAPIClient
from ._core.clock import Clock, SystemClock
from ._core.errors import (
    CircuitOpenError,
    ClientClosedError,
    ConfigError,
    ErrorType,
    QueueFullError,
    QueueTimeoutError,
    RateLimitExceeded,
    ResilienceError,
    TimeoutBudgetExceeded,
    classify,
)
from ._core.layer import Layer
from ._core.snapshots import (
    BreakerStatistics,
    BucketState,
    CacheStatistics,
    CircuitState,
    DedupStatistics,
    QueueStatistics,
    RateLimitStatistics,
    RetryStatistics,
)
from ._dedup.config import DedupConfig
from ._dedup.transport import DedupTransport
from ._env import EnvironmentConfig, TimeoutConfig
from ._metrics.config import AlertThresholds
from ._metrics.health import HealthState, HealthStatus
from ._metrics.otel import OTelTransport, instrument_otel
from ._metrics.prometheus import PrometheusCollector
from ._metrics.transport import ClientMetrics, MetricsTransport
from ._queue.config import QueueConfig
from ._queue.transport import PriorityQueueTransport
from ._ratelimit.config import RateLimitConfig
from ._ratelimit.transport import RateLimitTransport
from ._redis.backend import RedisBackend
from ._redis.storage import RedisStorage
from ._retry.config import RetryBudget, RetryConfig
from ._retry.transport import RetryTransport
from ._stack import ResilientTransport

__version__ = "0.1.0"

__all__ = [
    "AlertThresholds",
    "BreakerStatistics",
    "BucketState",
    "CacheConfig",
    "CacheStatistics",
    "CacheTransport",
    "CircuitBreakerConfig",
    "CircuitBreakerTransport",
    "CircuitOpenError",
    "CircuitState",
    "ClientClosedError",
    "ClientMetrics",
    "Clock",
    "ConfigError",
    "DedupConfig",
    "DedupStatistics",
    "DedupTransport",
    "EnvironmentConfig",
    "ErrorType",
    "HealthState",
    "HealthStatus",
    "Layer",
    "MemoryStorage",
    "MetricsTransport",
    "OTelTransport",
    "PriorityQueueTransport",
    "PrometheusCollector",
    "QueueConfig",
    "QueueFullError",
    "QueueStatistics",
    "QueueTimeoutError",
    "RateLimitConfig",
    "RateLimitExceeded",
    "RateLimitStatistics",
    "RateLimitTransport",
    "RateLimitedAPIClient",
    "RedisBackend",
    "RedisStorage",
    "ResilienceError",
    "ResilientTransport",
    "RetryBudget",
    "RetryConfig",
    "RetryStatistics",
    "RetryTransport",
    "SQLiteStorage",
    "SystemClock",
    "TimeoutBudgetExceeded",
    "TimeoutConfig",
    "Token",
    "TokenAuth",
    "__version__",
    "classify",
    "instrument_otel",
]
