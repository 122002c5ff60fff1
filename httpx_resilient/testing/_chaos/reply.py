"""The chaos server's vocabulary: the ``Reply`` a route returns, JSON replies, query
parameters, and ``TokenBucket``, a server-side quota that describes itself in the
headers clients read (``RateLimit``, ``RateLimit-Policy``, ``X-RateLimit-*``,
``Retry-After``). Pure: time comes in as ``now``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

__all__ = ["BadRequest", "Reply", "TokenBucket", "json_reply", "param"]

_JSON = ("content-type", "application/json")


@dataclass(frozen=True, slots=True)
class Reply:
    """What the server should do for one request.

    Attributes:
        status: the status code.
        headers: response headers (the server adds Date, Server and framing).
        body: the body (not sent for HEAD, 204 or 304).
        delay: seconds to wait before sending the status line.
        chunks: send the body in this many pieces (``chunk_delay`` apart, chunked
            encoding); 0 sends it at once with a Content-Length.
        chunk_delay: seconds between two pieces.
        reset: drop the connection instead of answering.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0
    chunks: int = 0
    chunk_delay: float = 0.0
    reset: bool = False


class BadRequest(Exception):
    """A query parameter out of range; answered with 400."""


def json_reply(status: int, payload: object, *headers: tuple[str, str]) -> Reply:
    """A reply with ``payload`` as compact JSON."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return Reply(status, (_JSON, *headers), body)


def param(query: dict[str, list[str]], name: str, default: float, low: float, high: float) -> float:
    """Query parameter ``name`` as a number in ``[low, high]``, else ``default``.

    Raises:
        BadRequest: it is not a number, or out of range.
    """
    values = query.get(name)
    if not values:
        return default
    try:
        value = float(values[0])
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None
    if not low <= value <= high:  # also rejects nan
        raise BadRequest(f"{name} must be between {low:g} and {high:g}")
    return value


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
