"""``RetryConfig`` and ``RetryBudget``: the retry layer's validated, immutable settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from .._core.outcomes import ConfigError
from .._core.validate import (
    MIB,
    frozen_upper,
    int_at_least,
    non_negative,
    number,
    optional_positive,
    positive,
)

__all__ = ["Jitter", "RetryBudget", "RetryConfig"]

Jitter = Literal["full", "equal", "decorrelated", "none"]


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Caps retries at ``ratio`` of the requests seen over ``window`` seconds.

    ``min_per_second`` retries per second are always allowed, so a quiet client can
    still retry. Defaults: 20 % over 10 s, at least 10 retries per second.

    Attributes:
        ratio: retries allowed per request seen in the window (default 0.2).
        min_per_second: retries per second allowed whatever the ratio (default 10).
        window: seconds of traffic the ratio is taken over (default 10).
    """

    ratio: float = 0.2
    min_per_second: float = 10.0
    window: float = 10.0

    def __post_init__(self) -> None:
        o = "RetryBudget"
        non_negative(o, "ratio", self.ratio)
        non_negative(o, "min_per_second", self.min_per_second)
        positive(o, "window", self.window)


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
        max_buffer_bytes: a body whose declared ``Content-Length`` is at most this is
            read inside the attempt, so body errors can be retried (default 8 MiB); a
            larger or undeclared one, or an event stream, is handed on at once and
            not retried on body errors.
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
        int_at_least(o, "max_retries", self.max_retries, 0)
        non_negative(o, "base_delay", self.base_delay)
        number(o, "backoff_factor", self.backoff_factor)
        if self.backoff_factor < 1:
            raise ConfigError(f"{o}.backoff_factor", f"must be >= 1, got {self.backoff_factor!r}")
        non_negative(o, "max_delay", self.max_delay)
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
            self, "retry_methods", frozen_upper(o, "retry_methods", self.retry_methods)
        )
        if not isinstance(self.respect_retry_after, bool):
            raise ConfigError(f"{o}.respect_retry_after", "must be a bool")
        non_negative(o, "max_retry_after", self.max_retry_after)
        if self.budget is not None and not isinstance(self.budget, RetryBudget):
            raise ConfigError(f"{o}.budget", "must be a RetryBudget or None")
        optional_positive(o, "timeout_budget", self.timeout_budget)
        int_at_least(o, "max_buffer_bytes", self.max_buffer_bytes, 0)
