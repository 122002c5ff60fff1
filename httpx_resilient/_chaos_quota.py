"""A server-side quota for the chaos server: a token bucket that describes itself in
the headers clients read (``RateLimit``, ``RateLimit-Policy``, ``X-RateLimit-*``,
``Retry-After``). Pure: time comes in as ``now``.
"""

from __future__ import annotations

import math

__all__ = ["TokenBucket"]


class TokenBucket:
    """A server-side quota: ``rate`` tokens per second, ``capacity`` at most, full at first."""

    def __init__(self, name: str, rate: float, capacity: int) -> None:
        self.name, self.rate, self.capacity = name, rate, capacity
        self._tokens = float(capacity)
        self._refilled_at: float | None = None

    def take(self, now: float) -> tuple[bool, tuple[tuple[str, str], ...]]:
        """Take a token if there is one; also return the headers that describe the quota
        (``RateLimit``, ``RateLimit-Policy``, ``X-RateLimit-*``, and ``Retry-After`` when
        refused). Resets are whole seconds: until full again, or until the next token."""
        if self._refilled_at is not None:
            elapsed = now - self._refilled_at
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._refilled_at = now
        allowed = self._tokens >= 1
        if allowed:
            self._tokens -= 1
            reset = math.ceil((self.capacity - self._tokens) / self.rate)
        else:
            reset = max(1, math.ceil((1 - self._tokens) / self.rate))
        remaining = int(self._tokens)
        window = math.ceil(self.capacity / self.rate)
        headers: tuple[tuple[str, str], ...] = (
            ("ratelimit-policy", f'"{self.name}";q={self.capacity};w={window}'),
            ("ratelimit", f'"{self.name}";r={remaining};t={reset}'),
            ("x-ratelimit-limit", str(self.capacity)),
            ("x-ratelimit-remaining", str(remaining)),
            ("x-ratelimit-reset", str(reset)),
        )
        if not allowed:
            headers = (("retry-after", str(reset)), *headers)
        return allowed, headers
