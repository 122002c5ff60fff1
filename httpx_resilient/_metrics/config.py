"""``AlertThresholds``: the limits health is judged against."""

from __future__ import annotations

from dataclasses import dataclass

from .._core.outcomes import ConfigError
from .._core.validate import int_at_least, number, positive

__all__ = ["AlertThresholds"]


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """Limits ``assess_health()`` judges against.

    The success rate, the error rate and the p95 response time are judged over the
    last ``window_seconds`` only, and only once ``min_requests`` requests completed in
    that window, so health recovers when the service does and a handful of early
    failures never degrades it. Breakers and the queue are judged as they are now.

    Attributes:
        min_success_rate: percent; below it is degraded (default 95).
        max_p95_response_time: seconds; above it is degraded (default 5).
        max_breaker_opens: open breakers at which health is unhealthy (default 1).
        max_queue_size: waiting requests above which it is degraded (default 1,000).
        max_error_rate: percent; above it is degraded (default 5).
        window_seconds: the sliding window rates and p95 are judged over, seconds
            (default 60).
        min_requests: completed requests the window must hold before a rate or the
            p95 can degrade health (default 20).
    """

    min_success_rate: float = 95.0
    max_p95_response_time: float = 5.0
    max_breaker_opens: int = 1
    max_queue_size: int = 1000
    max_error_rate: float = 5.0
    window_seconds: float = 60.0
    min_requests: int = 20

    def __post_init__(self) -> None:
        o = "AlertThresholds"
        for name in ("min_success_rate", "max_error_rate"):
            value = number(o, name, getattr(self, name))
            if not 0 <= value <= 100:
                raise ConfigError(f"{o}.{name}", f"must be a percentage in [0, 100], got {value}")
        positive(o, "max_p95_response_time", self.max_p95_response_time)
        int_at_least(o, "max_breaker_opens", self.max_breaker_opens, 1)
        int_at_least(o, "max_queue_size", self.max_queue_size, 0)
        positive(o, "window_seconds", self.window_seconds)
        int_at_least(o, "min_requests", self.min_requests, 1)
