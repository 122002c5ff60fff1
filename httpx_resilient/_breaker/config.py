"""``CircuitBreakerConfig``: the circuit-breaker layer's validated, immutable settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .._core.keys import KeyFunc
from .._core.outcomes import ConfigError
from .._core.validate import int_at_least, key_choice, number, optional_positive, positive

__all__ = ["FailurePredicate", "CircuitBreakerConfig"]

# A response (httpx or httpx2, by face) or an exception -> whether it is a failure.
FailurePredicate: TypeAlias = Callable[[Any], bool]


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
        max_keys: breaker records kept in this process (default 10,000): past it the
            least recently used idle CLOSED ones are dropped (a new one starts fresh);
            OPEN and HALF_OPEN ones are kept until they close.
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
    max_keys: int = 10_000

    def __post_init__(self) -> None:
        o = "CircuitBreakerConfig"
        int_at_least(o, "failure_threshold", self.failure_threshold, 1)
        positive(o, "recovery_timeout", self.recovery_timeout)
        int_at_least(o, "success_threshold", self.success_threshold, 1)
        int_at_least(o, "half_open_max_calls", self.half_open_max_calls, 1)
        key_choice(o, "per", self.per)
        if self.failure_rate_threshold is not None:
            rate = number(o, "failure_rate_threshold", self.failure_rate_threshold)
            if not 0 < rate <= 100:
                raise ConfigError(
                    f"{o}.failure_rate_threshold",
                    f"must be a percentage in (0, 100], got {self.failure_rate_threshold!r}",
                )
        positive(o, "window_seconds", self.window_seconds)
        int_at_least(o, "minimum_calls", self.minimum_calls, 1)
        optional_positive(o, "slow_call_duration", self.slow_call_duration)
        int_at_least(o, "max_keys", self.max_keys, 1)
        if self.is_failure is not None and not callable(self.is_failure):
            raise ConfigError(f"{o}.is_failure", "must be callable or None")
