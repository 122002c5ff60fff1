"""``RateLimitConfig``: the rate-limit layer's validated, immutable settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .._core.keys import KeyFunc
from .._core.outcomes import ConfigError
from .._core.validate import int_at_least, key_choice, non_negative, positive

__all__ = ["RateLimitConfig"]


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
        positive(o, "max_requests", self.max_requests)
        positive(o, "window_seconds", self.window_seconds)
        if self.burst is not None:
            int_at_least(o, "burst", self.burst, 1)
        key_choice(o, "key", self.key)
        if self.max_wait is not None:
            non_negative(o, "max_wait", self.max_wait)
        if not isinstance(self.adaptive, bool):
            raise ConfigError(f"{o}.adaptive", f"must be a bool, got {self.adaptive!r}")
        positive(o, "max_pause", self.max_pause)
        positive(o, "recovery_seconds", self.recovery_seconds)

    @property
    def capacity(self) -> float:
        """Bucket size in tokens (``burst`` or ``max_requests``)."""
        return float(self.burst if self.burst is not None else self.max_requests)

    @property
    def rate(self) -> float:
        """Configured refill rate in tokens per second."""
        return self.max_requests / self.window_seconds
