"""httpx_resilient: rate limiting, circuit breaking, retries, de-duplication, HTTP
caching, a priority queue, metrics and health for any ``httpx.AsyncClient``.

Pass ``transport=ResilientTransport(...)`` to a client; runs under asyncio and trio.
Everything importable from here is public; every other module is private.
"""

import logging as _logging

from ._auth import Token, TokenAuth
from ._breaker import CircuitBreakerTransport
from ._cache import CacheTransport, MemoryStorage, SQLiteStorage
from ._client import RateLimitedAPIClient
from ._clock import Clock, SystemClock
from ._config import (
    AlertThresholds,
    CacheConfig,
    CircuitBreakerConfig,
    DedupConfig,
    QueueConfig,
    RateLimitConfig,
    RetryBudget,
    RetryConfig,
)
from ._dedup import DedupTransport
from ._env import EnvironmentConfig, TimeoutConfig
from ._errors import (
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
from ._health import HealthState, HealthStatus
from ._layer import Layer
from ._metrics import ClientMetrics, MetricsTransport
from ._otel import OTelTransport, instrument_otel
from ._prometheus import PrometheusCollector
from ._queue import PriorityQueueTransport
from ._ratelimit import RateLimitTransport
from ._redis import RedisBackend
from ._redis_storage import RedisStorage
from ._retry import RetryTransport
from ._snapshots import (
    BreakerStatistics,
    BucketState,
    CacheStatistics,
    CircuitState,
    DedupStatistics,
    QueueStatistics,
    RateLimitStatistics,
    RetryStatistics,
)
from ._stack import ResilientTransport

__version__ = "0.1.0"

# A library logs, the application decides where logs go: without this, Python's
# last-resort handler would print our warnings to stderr when nothing is configured.
_logging.getLogger("httpx_resilient").addHandler(_logging.NullHandler())

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
