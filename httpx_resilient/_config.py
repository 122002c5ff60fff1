"""Validated, immutable configuration objects, one per layer.

Each config is a frozen dataclass whose ``__post_init__`` raises ``ConfigError`` naming
the bad field. Configs hold no live state, so one config may serve many transports.
Durations are seconds (floats); sizes are bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from ._errors import ConfigError

__all__ = [
    "AlertThresholds",
    "CacheConfig",
    "CircuitBreakerConfig",
    "DedupConfig",
    "QueueConfig",
    "RateLimitConfig",
    "RetryBudget",
    "RetryConfig",
]

MIB = 1024 * 1024
KeyFunc = Callable[[httpx.Request], str]
FailurePredicate = Callable[["httpx.Response | BaseException"], bool]
Jitter = Literal["full", "equal", "decorrelated", "none"]


def _number(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(f"{owner}.{name}", f"must be a number, got {value!r}")
    return float(value)


def _positive(owner: str, name: str, value: object, *, allow_inf: bool = False) -> None:
    v = _number(owner, name, value)
    if v <= 0 or (math.isinf(v) and not allow_inf):
        raise ConfigError(f"{owner}.{name}", f"must be a finite number > 0, got {value!r}")


def _non_negative(owner: str, name: str, value: object) -> None:
    v = _number(owner, name, value)
    if v < 0 or math.isinf(v):
        raise ConfigError(f"{owner}.{name}", f"must be a finite number >= 0, got {value!r}")


def _int_at_least(owner: str, name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner}.{name}", f"must be an integer >= {minimum}, got {value!r}")


def _optional_positive(owner: str, name: str, value: object) -> None:
    if value is not None:
        _positive(owner, name, value)


def _key_choice(owner: str, name: str, value: object) -> None:
    if value not in ("host", "global") and not callable(value):
        raise ConfigError(
            f"{owner}.{name}", f'must be "host", "global" or a callable, got {value!r}'
        )


def _frozen_upper(owner: str, name: str, value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{owner}.{name}", f"must be a collection of strings, got {value!r}")
    items = list(value)
    if not all(isinstance(m, str) and m for m in items):
        raise ConfigError(f"{owner}.{name}", f"must contain non-empty strings, got {value!r}")
    return frozenset(m.upper() for m in items)


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Token bucket: ``max_requests`` per ``window_seconds``, one token per attempt.

    Attributes:
        max_requests: tokens added per window (the sustained rate). Required.
        window_seconds: the window, in seconds (default 1.0).
        burst: bucket capacity; default ``max_requests``. The bucket starts full.
        key: ``"host"`` (default), ``"global"`` or a callable ``Request -> str``.
        max_wait: fail with ``RateLimitExceeded`` at once if the wait would exceed this
            (seconds); ``None`` (default) waits as long as needed.
        adaptive: react to 429/503 and RateLimit headers (default True).
        max_pause: cap on a pause taken from server hints, seconds (default 120).
        backend: where bucket state lives; ``None`` is in process. A ``RedisBackend``
            shares it across processes.
        recovery_seconds: time to climb back to the configured rate after throttling
            lowered it (default 30).
    """

    max_requests: float
    window_seconds: float = 1.0
    burst: int | None = None
    key: Literal["host", "global"] | KeyFunc = "host"
    max_wait: float | None = None
    adaptive: bool = True
    max_pause: float = 120.0
    backend: Any = None
    recovery_seconds: float = 30.0

    def __post_init__(self) -> None:
        o = "RateLimitConfig"
        _positive(o, "max_requests", self.max_requests)
        _positive(o, "window_seconds", self.window_seconds)
        if self.burst is not None:
            _int_at_least(o, "burst", self.burst, 1)
        _key_choice(o, "key", self.key)
        if self.max_wait is not None:
            _non_negative(o, "max_wait", self.max_wait)
        if not isinstance(self.adaptive, bool):
            raise ConfigError(f"{o}.adaptive", f"must be a bool, got {self.adaptive!r}")
        _positive(o, "max_pause", self.max_pause)
        _positive(o, "recovery_seconds", self.recovery_seconds)

    @property
    def capacity(self) -> float:
        """Bucket size in tokens (``burst`` or ``max_requests``)."""
        return float(self.burst if self.burst is not None else self.max_requests)

    @property
    def rate(self) -> float:
        """Configured refill rate in tokens per second."""
        return self.max_requests / self.window_seconds


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    """Circuit breaker per host (default), by consecutive failures or failure rate.

    Attributes:
        failure_threshold: consecutive failures that open a CLOSED breaker (default 5).
        recovery_timeout: seconds OPEN before probes are let through (default 30).
        success_threshold: consecutive probe successes that close it (default 1).
        half_open_max_calls: probes admitted at once while HALF_OPEN (default 1).
        per: ``"host"`` (default), ``"global"`` or a callable ``Request -> str``.
        failure_rate_threshold: percent (0-100]; when set, the breaker also opens when
            the failure rate over ``window_seconds`` reaches it, once ``minimum_calls``
            calls were seen. Default ``None`` (off).
        window_seconds: sliding window for the failure rate (default 30).
        minimum_calls: calls in the window before the rate is judged (default 20).
        slow_call_duration: seconds; slower calls count as failures in rate mode.
        is_failure: ``(response_or_exception) -> bool`` replacing the default rule
            (network errors, timeouts and 5xx are failures; 4xx, 429 included, are not).
        backend: where breaker state lives; ``None`` is in process.
    """

    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    success_threshold: int = 1
    half_open_max_calls: int = 1
    per: Literal["host", "global"] | KeyFunc = "host"
    failure_rate_threshold: float | None = None
    window_seconds: float = 30.0
    minimum_calls: int = 20
    slow_call_duration: float | None = None
    is_failure: FailurePredicate | None = None
    backend: Any = None

    def __post_init__(self) -> None:
        o = "CircuitBreakerConfig"
        _int_at_least(o, "failure_threshold", self.failure_threshold, 1)
        _positive(o, "recovery_timeout", self.recovery_timeout)
        _int_at_least(o, "success_threshold", self.success_threshold, 1)
        _int_at_least(o, "half_open_max_calls", self.half_open_max_calls, 1)
        _key_choice(o, "per", self.per)
        if self.failure_rate_threshold is not None:
            rate = _number(o, "failure_rate_threshold", self.failure_rate_threshold)
            if not 0 < rate <= 100:
                raise ConfigError(
                    f"{o}.failure_rate_threshold",
                    f"must be a percentage in (0, 100], got {self.failure_rate_threshold!r}",
                )
        _positive(o, "window_seconds", self.window_seconds)
        _int_at_least(o, "minimum_calls", self.minimum_calls, 1)
        _optional_positive(o, "slow_call_duration", self.slow_call_duration)
        if self.is_failure is not None and not callable(self.is_failure):
            raise ConfigError(f"{o}.is_failure", "must be callable or None")


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Caps retries at ``ratio`` of the requests seen over ``window`` seconds.

    ``min_per_second`` retries per second are always allowed, so a quiet client can
    still retry. Defaults: 20 % over 10 s, at least 10 retries per second.
    """

    ratio: float = 0.2
    min_per_second: float = 10.0
    window: float = 10.0

    def __post_init__(self) -> None:
        o = "RetryBudget"
        _non_negative(o, "ratio", self.ratio)
        _non_negative(o, "min_per_second", self.min_per_second)
        _positive(o, "window", self.window)


DEFAULT_RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retries with exponential backoff and jitter, built on tenacity's strategies.

    Attributes:
        max_retries: retries after the first attempt (default 3; 0 disables retry).
        base_delay: seconds before the first retry, before jitter (default 0.5).
        backoff_factor: growth per retry (default 2.0).
        max_delay: cap on the computed backoff, seconds (default 30).
        jitter: ``"full"`` (default), ``"equal"``, ``"decorrelated"`` or ``"none"``.
        retry_on_status: statuses that are retried (default 429, 502, 503, 504).
        retry_methods: methods retried without opt-in (idempotent ones).
        respect_retry_after: a server ``Retry-After`` replaces the backoff (default True).
        max_retry_after: a longer ``Retry-After`` means no retry (default 120 s).
        budget: ``RetryBudget`` against retry storms, or ``None`` for no budget.
        timeout_budget: seconds for the whole logical request, or ``None``.
        max_buffer_bytes: body bytes read inside an attempt so body errors can be
            retried (default 8 MiB); larger bodies are streamed and not retried.
    """

    max_retries: int = 3
    base_delay: float = 0.5
    backoff_factor: float = 2.0
    max_delay: float = 30.0
    jitter: Jitter = "full"
    retry_on_status: frozenset[int] = DEFAULT_RETRY_STATUSES
    retry_methods: frozenset[str] = DEFAULT_RETRY_METHODS
    respect_retry_after: bool = True
    max_retry_after: float = 120.0
    budget: RetryBudget | None = field(default_factory=RetryBudget)
    timeout_budget: float | None = None
    max_buffer_bytes: int = 8 * MIB

    def __post_init__(self) -> None:
        o = "RetryConfig"
        _int_at_least(o, "max_retries", self.max_retries, 0)
        _non_negative(o, "base_delay", self.base_delay)
        _number(o, "backoff_factor", self.backoff_factor)
        if self.backoff_factor < 1:
            raise ConfigError(f"{o}.backoff_factor", f"must be >= 1, got {self.backoff_factor!r}")
        _non_negative(o, "max_delay", self.max_delay)
        if self.jitter not in ("full", "equal", "decorrelated", "none"):
            raise ConfigError(
                f"{o}.jitter",
                f'must be "full", "equal", "decorrelated" or "none", got {self.jitter!r}',
            )
        statuses = self.retry_on_status
        if isinstance(statuses, (str, bytes)) or not isinstance(statuses, Iterable):
            raise ConfigError(f"{o}.retry_on_status", f"must be a set of ints, got {statuses!r}")
        status_set = frozenset(statuses)
        if not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in status_set
        ):
            raise ConfigError(
                f"{o}.retry_on_status", f"must hold HTTP status codes, got {statuses!r}"
            )
        object.__setattr__(self, "retry_on_status", status_set)
        object.__setattr__(
            self, "retry_methods", _frozen_upper(o, "retry_methods", self.retry_methods)
        )
        if not isinstance(self.respect_retry_after, bool):
            raise ConfigError(f"{o}.respect_retry_after", "must be a bool")
        _non_negative(o, "max_retry_after", self.max_retry_after)
        if self.budget is not None and not isinstance(self.budget, RetryBudget):
            raise ConfigError(f"{o}.budget", "must be a RetryBudget or None")
        _optional_positive(o, "timeout_budget", self.timeout_budget)
        _int_at_least(o, "max_buffer_bytes", self.max_buffer_bytes, 0)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Private (default) or shared HTTP cache per RFC 9111.

    Attributes:
        storage: a storage object (``MemoryStorage`` by default, built from the bounds
            below), ``SQLiteStorage(path)`` or ``RedisStorage(...)``.
        shared: follow the shared-cache rules (``s-maxage``, ``private``,
            ``Authorization``) instead of the private ones (default False).
        max_entries: entries kept by the default memory storage (default 10,000).
        max_bytes: body bytes kept by the default memory storage (default 256 MiB).
        max_entry_bytes: larger responses are delivered but not stored (default 10 MiB).
        heuristic_fraction: share of ``now - Last-Modified`` used as heuristic
            freshness (default 0.1).
        store_set_cookie: keep ``Set-Cookie`` in stored responses (default False).
    """

    storage: Any = None
    shared: bool = False
    max_entries: int = 10_000
    max_bytes: int = 256 * MIB
    max_entry_bytes: int = 10 * MIB
    heuristic_fraction: float = 0.1
    store_set_cookie: bool = False

    def __post_init__(self) -> None:
        o = "CacheConfig"
        if not isinstance(self.shared, bool):
            raise ConfigError(f"{o}.shared", "must be a bool")
        _int_at_least(o, "max_entries", self.max_entries, 1)
        _int_at_least(o, "max_bytes", self.max_bytes, 1)
        _int_at_least(o, "max_entry_bytes", self.max_entry_bytes, 0)
        _non_negative(o, "heuristic_fraction", self.heuristic_fraction)
        if self.heuristic_fraction > 1:
            raise ConfigError(f"{o}.heuristic_fraction", "must be <= 1")
        if not isinstance(self.store_set_cookie, bool):
            raise ConfigError(f"{o}.store_set_cookie", "must be a bool")


@dataclass(frozen=True, slots=True)
class DedupConfig:
    """Identical in-flight requests share one upstream call.

    Attributes:
        methods: methods eligible (default GET and HEAD; only safe methods allowed).
        max_body_bytes: larger response bodies are not shared (default 10 MiB).
    """

    methods: frozenset[str] = frozenset({"GET", "HEAD"})
    max_body_bytes: int = 10 * MIB

    def __post_init__(self) -> None:
        o = "DedupConfig"
        methods = _frozen_upper(o, "methods", self.methods)
        unsafe = methods - {"GET", "HEAD", "OPTIONS", "TRACE"}
        if unsafe:
            raise ConfigError(f"{o}.methods", f"only safe methods can share, got {sorted(unsafe)}")
        object.__setattr__(self, "methods", methods)
        _int_at_least(o, "max_body_bytes", self.max_body_bytes, 0)


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """Bulkhead: bounded concurrency with a priority-ordered wait queue.

    Attributes:
        max_concurrency: requests allowed below this layer at once (default 100).
        max_queue_size: waiting requests before ``QueueFullError`` (default 10,000).
        queue_timeout: seconds a request may wait before ``QueueTimeoutError``
            (default ``None``: no limit).
        aging_seconds: every this many seconds of waiting raises a waiter's priority
            by one, so low priority cannot starve (default ``None``: no aging).
    """

    max_concurrency: int = 100
    max_queue_size: int = 10_000
    queue_timeout: float | None = None
    aging_seconds: float | None = None

    def __post_init__(self) -> None:
        o = "QueueConfig"
        _int_at_least(o, "max_concurrency", self.max_concurrency, 1)
        _int_at_least(o, "max_queue_size", self.max_queue_size, 0)
        _optional_positive(o, "queue_timeout", self.queue_timeout)
        _optional_positive(o, "aging_seconds", self.aging_seconds)


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """Limits ``assess_health()`` judges against.

    Attributes:
        min_success_rate: percent; below it is degraded (default 95).
        max_p95_response_time: seconds; above it is degraded (default 5).
        max_breaker_opens: open breakers at which health is unhealthy (default 1).
        max_queue_size: waiting requests above which it is degraded (default 1,000).
        max_error_rate: percent; above it is degraded (default 5).
    """

    min_success_rate: float = 95.0
    max_p95_response_time: float = 5.0
    max_breaker_opens: int = 1
    max_queue_size: int = 1000
    max_error_rate: float = 5.0

    def __post_init__(self) -> None:
        o = "AlertThresholds"
        for name in ("min_success_rate", "max_error_rate"):
            value = _number(o, name, getattr(self, name))
            if not 0 <= value <= 100:
                raise ConfigError(f"{o}.{name}", f"must be a percentage in [0, 100], got {value}")
        _positive(o, "max_p95_response_time", self.max_p95_response_time)
        _int_at_least(o, "max_breaker_opens", self.max_breaker_opens, 1)
        _int_at_least(o, "max_queue_size", self.max_queue_size, 0)
