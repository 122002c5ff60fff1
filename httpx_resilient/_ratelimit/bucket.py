"""Token-bucket policy: pure arithmetic on ``now``, no I/O, no awaits.

A ``Limit`` is one configured limit (capacity, refill rate, adaptive knobs); a
``TokenBucket`` is that limit's live state for one key. Buckets refill lazily from the
``now`` each call passes in, so nothing runs in the background.

Adaptive behaviour (AIMD): ``throttle()`` multiplies the refill rate by ``DECREASE``
(floor ``FLOOR`` of the configured rate); ``recover()`` raises it linearly in time, by the
configured rate per ``recovery_seconds`` elapsed since the last change, never above the
configured rate. ``pause()`` stops the bucket until a server-given reset: no token is
granted before it, and at the reset the bucket holds at most one token (the one it
would have earned by then), so the first request goes when the server said.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import RateLimitConfig

__all__ = ["DECREASE", "EPSILON", "FLOOR", "Limit", "TokenBucket"]

DECREASE = 0.7
"""Refill-rate factor per throttling response."""
FLOOR = 0.01
"""Lowest refill rate, as a share of the configured rate."""
EPSILON = 1e-9
"""Token shortfall treated as none, so float rounding never costs an extra sleep."""


@dataclass(frozen=True, slots=True)
class Limit:
    """One configured limit, as the bucket policy and the backends see it.

    Attributes:
        index: position of the config in the transport's list of limits.
        name: stable text naming the limit (rate and capacity), for shared backends.
        capacity: bucket size in tokens (at least one token).
        rate: configured refill rate, tokens per second.
        adaptive: whether server hints pause and slow this limit.
        max_pause: cap on a pause taken from server hints, seconds.
        recovery_seconds: time to climb from zero back to the configured rate.
    """

    index: int
    name: str
    capacity: float
    rate: float
    adaptive: bool = True
    max_pause: float = 120.0
    recovery_seconds: float = 30.0

    @classmethod
    def from_config(cls, index: int, config: RateLimitConfig) -> Limit:
        """Build the limit for ``config``; a bucket always holds at least one token."""
        capacity = max(1.0, config.capacity)
        return cls(
            index=index,
            name=f"{config.max_requests:g}/{config.window_seconds:g}s/{capacity:g}",
            capacity=capacity,
            rate=config.rate,
            adaptive=config.adaptive,
            max_pause=config.max_pause,
            recovery_seconds=config.recovery_seconds,
        )


class TokenBucket:
    """The live state of one limit for one key.

    ``tokens`` is the count as of ``updated``; ``updated`` may lie in the future while a
    pause runs (refill starts there). Starts full at ``now``.
    """

    __slots__ = ("adjusted", "limit", "paused_until", "rate", "tokens", "updated")

    def __init__(self, limit: Limit, now: float) -> None:
        self.limit = limit
        self.tokens = limit.capacity
        self.rate = limit.rate
        self.updated = now
        self.paused_until: float | None = None
        self.adjusted = now

    def _refill(self, now: float) -> None:
        elapsed = now - self.updated
        if elapsed > 0.0:
            tokens = self.tokens + elapsed * self.rate
            capacity = self.limit.capacity
            self.tokens = capacity if tokens > capacity else tokens
            self.updated = now

    def tokens_at(self, now: float) -> float:
        """Tokens the bucket would hold at ``now``, without changing it."""
        elapsed = now - self.updated
        if elapsed <= 0.0:
            return self.tokens
        return min(self.limit.capacity, self.tokens + elapsed * self.rate)

    def wait_time(self, now: float, cost: float = 1.0) -> float:
        """Seconds from ``now`` until ``cost`` tokens are available (0.0: available now)."""
        self._refill(now)
        until = self.paused_until
        start = until - now if until is not None and until > now else 0.0
        missing = cost - self.tokens
        if missing <= EPSILON:
            return start
        return start + missing / self.rate

    def try_take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens if available (returns 0.0), else return the wait.

        ``wait_time`` and ``take`` in one call, for the hot path.
        """
        elapsed = now - self.updated
        if elapsed > 0.0:
            tokens = self.tokens + elapsed * self.rate
            capacity = self.limit.capacity
            self.tokens = capacity if tokens > capacity else tokens
            self.updated = now
        until = self.paused_until
        if self.tokens - cost >= -EPSILON and (until is None or until <= now):
            self.tokens -= cost
            return 0.0
        return self.wait_time(now, cost)

    def take(self, cost: float = 1.0) -> None:
        """Remove ``cost`` tokens; call only right after ``wait_time`` returned 0.0."""
        self.tokens -= cost

    def pause(self, now: float, seconds: float) -> float:
        """Grant nothing for ``seconds`` (capped at ``max_pause``); return the pause end.

        A pause only ever extends: a shorter one than the pause in force changes nothing.
        At the pause end the bucket holds what it would have earned, capped at one token.
        """
        seconds = min(max(0.0, seconds), self.limit.max_pause)
        until = now + seconds
        self._refill(now)
        if until > self.updated:
            # At the reset one request may go, if the bucket would have earned its token
            # by then: a server hint never lets more through than the configured rate.
            self.tokens = min(1.0, self.tokens + (until - self.updated) * self.rate)
            self.updated = until
            self.paused_until = until
            if until > self.adjusted:
                self.adjusted = until
        return self.updated

    def throttle(self, now: float) -> None:
        """Multiplicative decrease of the refill rate after a throttling response."""
        self._refill(now)
        self.rate = max(self.rate * DECREASE, self.limit.rate * FLOOR)
        if now > self.adjusted:
            self.adjusted = now

    def recover(self, now: float) -> None:
        """Additive increase after a success: linear in the time since the last change."""
        base = self.limit.rate
        if self.rate >= base:
            return
        elapsed = now - self.adjusted
        if elapsed <= 0.0:
            return
        self._refill(now)
        self.rate = min(base, self.rate + base * elapsed / self.limit.recovery_seconds)
        self.adjusted = now

    def recovered_by(self, now: float) -> bool:
        """Whether a success at ``now`` would restore the configured rate."""
        base = self.limit.rate
        return self.rate + base * (now - self.adjusted) / self.limit.recovery_seconds >= base

    @property
    def degraded(self) -> bool:
        """Whether the refill rate is below the configured rate."""
        return self.rate < self.limit.rate

    def paused_at(self, now: float) -> float | None:
        """The end of the pause in force at ``now``, or ``None``."""
        until = self.paused_until
        return until if until is not None and until > now else None

    def idle(self, now: float) -> bool:
        """Whether a fresh bucket would behave the same (full, unpaused, full rate)."""
        return (
            self.rate >= self.limit.rate
            and self.updated <= now
            and self.tokens_at(now) >= self.limit.capacity
        )
