"""``QueueConfig``: the priority queue's validated, immutable settings."""

from __future__ import annotations

from dataclasses import dataclass

from .._core.outcomes import ConfigError
from .._core.validate import int_at_least, optional_positive

__all__ = ["QueueConfig"]


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """Bulkhead: bounded concurrency with a priority-ordered wait queue.

    Attributes:
        max_concurrency: requests allowed below this layer at once (default 100); with
            ``adaptive`` the ceiling of the adaptive limits, all hosts together.
        max_queue_size: waiting requests before ``QueueFullError`` (default 10,000);
            a newcomer that outranks the lowest waiter takes that waiter's place.
        queue_timeout: seconds a request may wait before ``QueueTimeoutError``
            (default ``None``: the request's own pool timeout, if it has one).
        aging_seconds: every this many seconds of waiting raises a waiter's priority
            by one, so low priority cannot starve (default ``None``: no aging).
        adaptive: keep a concurrency limit per host, moved by the latency measured below
            the queue between ``min_concurrency`` and ``max_concurrency``, starting at 10
            (default ``True``); ``False``: ``max_concurrency`` is a fixed limit.
        min_concurrency: the lowest adaptive limit of a host (default 1).
    """

    max_concurrency: int = 100
    max_queue_size: int = 10_000
    queue_timeout: float | None = None
    aging_seconds: float | None = None
    adaptive: bool = True
    min_concurrency: int = 1

    def __post_init__(self) -> None:
        o = "QueueConfig"
        int_at_least(o, "max_concurrency", self.max_concurrency, 1)
        int_at_least(o, "max_queue_size", self.max_queue_size, 0)
        optional_positive(o, "queue_timeout", self.queue_timeout)
        optional_positive(o, "aging_seconds", self.aging_seconds)
        if not isinstance(self.adaptive, bool):
            raise ConfigError(f"{o}.adaptive", "must be a bool")
        int_at_least(o, "min_concurrency", self.min_concurrency, 1)
        if self.min_concurrency > self.max_concurrency:
            raise ConfigError(f"{o}.min_concurrency", "must be <= max_concurrency")
